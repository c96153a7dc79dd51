//! Bounded on-disk spool of a remote sink (to be built).
