//! Jump-host session theft: a connection to someone else's ssh-agent, and the target of
//! `/proc/<pid>/…` reads (environment and memory scraping).

use std::{collections::HashMap, os::unix::fs::MetadataExt as _, sync::LazyLock};

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::{
    decode::{Connect, Endpoint},
    detect::rules::{KernelFilter, NameMatch, POS_FOREIGN_OWNER, RuleSet},
    process::{Process, ProcessTable},
};

/// Where ssh-agent and gpg-agent sockets live (forwarded agents under sshd included).
const AGENT_SOCKETS: &[&str] = &[
    "/tmp/ssh-*/agent.*",
    "/run/user/*/ssh-agent*",
    "/run/user/*/keyring/ssh",
    "/run/user/*/gnupg/S.gpg-agent.ssh",
    "**/.gnupg/S.gpg-agent.ssh",
    "**/.ssh/agent/*",
    "**/.ssh/agent.sock",
];

static AGENTS: LazyLock<GlobSet> = LazyLock::new(|| {
    let mut b = GlobSetBuilder::new();
    for p in AGENT_SOCKETS {
        b.add(Glob::new(p).expect("static glob"));
    }
    b.build().expect("static glob set")
});

/// A connection to an agent that belongs to another user or login session.
#[derive(Debug, Clone)]
pub struct AgentHijack {
    pub socket: String,
    pub owner_uid: u32,
    /// The process the socket is named after (`agent.<pid>`: the agent's parent or sshd).
    pub session_process: Option<Process>,
    pub reason: String,
}

/// Checks a `connect(2)` to a Unix socket against the agent's owner and session.
pub fn agent_hijack(c: &Connect, table: &ProcessTable) -> Option<AgentHijack> {
    let Endpoint::Unix(path) = &c.endpoint else { return None };
    if !AGENTS.is_match(path) || c.ret != 0 {
        return None;
    }
    // The socket as the connecting process sees it (its own mount namespace).
    let meta = std::fs::metadata(format!("/proc/{}/root{path}", c.task.tgid))
        .or_else(|_| std::fs::metadata(path))
        .ok()?;
    let owner_uid = meta.uid();
    let session_process = path
        .rsplit_once("agent.")
        .and_then(|(_, n)| n.parse::<u32>().ok())
        .and_then(|pid| table.get(pid).cloned());
    let caller_login = c.task.loginuid.unwrap_or(c.task.uid);
    let reason = if c.task.uid != owner_uid {
        format!("uid {} used the agent of uid {owner_uid}", c.task.uid)
    } else if let Some(s) = &session_process
        && (s.loginuid.is_some_and(|l| l != caller_login)
            || (s.sessionid.is_some() && c.task.sessionid.is_some() && s.sessionid != c.task.sessionid))
    {
        format!(
            "login session {:?} (loginuid {:?}) used the agent of login session {:?} (loginuid {:?})",
            c.task.sessionid, c.task.loginuid, s.sessionid, s.loginuid
        )
    } else {
        return None;
    };
    Some(AgentHijack { socket: path.clone(), owner_uid, session_process, reason })
}

/// Kerberos KCM sockets (sssd-kcm, Heimdal kcm): credential caches served over a socket.
const KCM_SOCKETS: &[&str] =
    &["/run/.heim_org.h5l.kcm-socket", "/var/run/.heim_org.h5l.kcm-socket", "/run/sssd/kcm.socket"];

/// Programs expected to talk to KCM: Kerberos tools, SSSD, and GSSAPI clients.
const KCM_PROGRAMS: &[&str] = &[
    "/usr/bin/kinit",
    "/usr/bin/klist",
    "/usr/bin/kdestroy",
    "/usr/bin/kvno",
    "/usr/bin/kswitch",
    "/usr/bin/ssh",
    "/usr/sbin/sshd",
    "/usr/sbin/sssd",
    "/usr/libexec/sssd/sssd_kcm",
    "/usr/bin/smbclient",
    "/usr/sbin/gssproxy",
    "/usr/sbin/rpc.gssd",
];

/// A `connect` to a KCM socket by a program that is not expected to use Kerberos caches.
pub fn unexpected_kcm(c: &Connect, executable: &str) -> Option<String> {
    let Endpoint::Unix(path) = &c.endpoint else { return None };
    (KCM_SOCKETS.contains(&path.as_str()) && !KCM_PROGRAMS.contains(&executable)).then(|| path.clone())
}

/// Names the kernel must pass for detections that are not rules: `/proc/<pid>/maps` of
/// processes owned by someone else (the first half of a maps → mem memory scrape).
pub fn kernel_names() -> Vec<NameMatch> {
    vec![NameMatch { name: b"maps".to_vec(), prefix: false, positions: 1 | POS_FOREIGN_OWNER }]
}

/// What the kernel must pass: the rules' names and [`kernel_names`].
pub fn kernel_filter(rules: &RuleSet) -> KernelFilter {
    let mut f = rules.kernel_filter();
    for n in kernel_names() {
        f.add_name(n);
    }
    f
}

/// The target pid when `path` is `/proc/<pid>/maps` or `/proc/<pid>/task/<tid>/maps`.
pub fn proc_maps_target(path: &str) -> Option<u32> {
    let pid = proc_target(path)?;
    path.ends_with("/maps").then_some(pid)
}

/// Recent `/proc/<pid>/maps` reads of foreign processes, by (reader tgid, target pid),
/// so that a following `/proc/<pid>/mem` open is reported as one maps → mem sequence.
#[derive(Debug, Default)]
pub struct MapsReads {
    seen: HashMap<(u32, u32), u64>,
}

/// Reads kept, at most (oldest dropped first).
const MAX_MAPS_READS: usize = 4096;
/// A mem open this long after the maps read still counts as one sequence.
pub const MAPS_SEQUENCE_NS: u64 = 120_000_000_000;

impl MapsReads {
    pub fn on_maps(&mut self, reader: u32, target: u32, ts_ns: u64) {
        if self.seen.len() >= MAX_MAPS_READS
            && let Some(oldest) = self.seen.iter().min_by_key(|(_, t)| **t).map(|(k, _)| *k)
        {
            self.seen.remove(&oldest);
        }
        self.seen.insert((reader, target), ts_ns);
    }

    /// Nanoseconds since `reader` read `target`'s maps, if it did within the window.
    pub fn before_mem(&mut self, reader: u32, target: u32, ts_ns: u64) -> Option<u64> {
        let t = self.seen.remove(&(reader, target))?;
        let gap = ts_ns.saturating_sub(t);
        (gap <= MAPS_SEQUENCE_NS).then_some(gap)
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// The pid in a `/proc/<pid>/…` path (not `self`/`thread-self`: those resolve to the opener).
pub fn proc_target(path: &str) -> Option<u32> {
    path.strip_prefix("/proc/")?.split('/').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_socket_patterns() {
        for p in [
            "/tmp/ssh-XXXXabcd/agent.1234",
            "/run/user/1000/gnupg/S.gpg-agent.ssh",
            "/home/a/.ssh/agent/s.abc",
        ] {
            assert!(AGENTS.is_match(p), "{p}");
        }
        assert!(!AGENTS.is_match("/run/systemd/journal/socket"));
        assert_eq!(proc_target("/proc/4321/environ"), Some(4321));
        assert_eq!(proc_target("/proc/self/environ"), None);
        assert_eq!(proc_target("/home/x"), None);
        assert_eq!(proc_maps_target("/proc/77/maps"), Some(77));
        assert_eq!(proc_maps_target("/proc/77/task/78/maps"), Some(77));
        assert_eq!(proc_maps_target("/proc/77/smaps"), None);
        let mut m = MapsReads::default();
        m.on_maps(1, 77, 1_000);
        assert_eq!(m.before_mem(1, 77, 5_000), Some(4_000));
        assert_eq!(m.before_mem(1, 77, 6_000), None, "used once");
        m.on_maps(1, 77, 0);
        assert_eq!(m.before_mem(1, 77, MAPS_SEQUENCE_NS + 1), None, "outside the window");
    }
}
