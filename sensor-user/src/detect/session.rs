//! Jump-host session theft: a connection to someone else's ssh-agent, and the target of
//! `/proc/<pid>/…` reads (environment and memory scraping).

use std::{os::unix::fs::MetadataExt as _, sync::LazyLock};

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::{
    decode::{Connect, Endpoint},
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
    }
}
