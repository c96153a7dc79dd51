//! Stage 3: the process table. Seeded from procfs at start, kept exact by exec/fork/exit
//! records, it gives every event its exec identity and ancestry.

pub mod redact;
mod seed;
pub mod session;
mod table;

pub use seed::{boot_id, seed_from_procfs};
pub use table::{Ancestor, PrivilegeChange, Process, ProcessTable};
