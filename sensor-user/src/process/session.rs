//! Login-session attribution: the audit session, the `sshd` process it hangs off and the
//! SSH client's address (read from that sshd's own socket), so one alert says "alice,
//! from 10.1.2.3:52144, session 42".

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use serde_json::{Value, json};

use super::{Ancestor, ProcessTable};

/// Cached peer addresses of sshd session processes (pid → client).
#[derive(Default)]
pub struct Sessions {
    peers: HashMap<u32, Option<(IpAddr, u16)>>,
}

fn is_sshd(exe: &str) -> bool {
    exe.ends_with("/sshd") || exe.ends_with("/sshd-session")
}

/// Parses `/proc/net/tcp{,6}` addresses (`0100007F:1F90`).
fn parse_addr(hex: &str) -> Option<(IpAddr, u16)> {
    let (ip, port) = hex.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(u32::from_str_radix(ip, 16).ok()?.swap_bytes())),
        32 => {
            let mut b = [0u8; 16];
            for (i, chunk) in b.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.swap_bytes().to_be_bytes());
            }
            let v6 = Ipv6Addr::from(b);
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        _ => return None,
    };
    Some((ip, port))
}

/// The remote end of the TCP socket `pid` holds (sshd's connection to the client).
fn peer_of(pid: u32) -> Option<(IpAddr, u16)> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']').map(String::from))
        .collect();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else { continue };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local rem st … inode(9); state 01 = ESTABLISHED.
            if f.len() > 9 && f[3] == "01" && inodes.iter().any(|i| i == f[9]) {
                return parse_addr(f[2]);
            }
        }
    }
    None
}

impl Sessions {
    /// `tokenwarden.session` for process `pid`: audit ids, and the sshd it runs under.
    pub fn describe(
        &mut self,
        table: &ProcessTable,
        pid: u32,
        loginuid: Option<u32>,
        sessionid: Option<u32>,
    ) -> Option<Value> {
        let ancestry: Vec<Ancestor> = table.ancestry(pid);
        let sshd = ancestry.iter().find(|a| is_sshd(&a.executable));
        if loginuid.is_none() && sshd.is_none() {
            return None;
        }
        let mut v = json!({"id": sessionid, "loginuid": loginuid});
        if let Some(uid) = loginuid {
            v["user"] = json!(user_name(uid));
        }
        if let Some(s) = sshd {
            if self.peers.len() > 4096 {
                self.peers.clear();
            }
            let peer = *self.peers.entry(s.pid).or_insert_with(|| peer_of(s.pid));
            v["sshd"] = json!({"pid": s.pid, "entity_id": s.entity_id});
            if let Some((ip, port)) = peer {
                v["client"] = json!({"ip": ip.to_string(), "port": port});
            }
            if let Some(p) = table.get(s.pid) {
                v["started_boottime_ns"] = json!(p.start_ns);
            }
        }
        Some(v)
    }
}

/// The name of `uid` in /etc/passwd.
pub fn user_name(uid: u32) -> Option<String> {
    USERS.lock().unwrap_or_else(|e| e.into_inner()).name(uid)
}

/// `/etc/passwd` names by uid, re-read when the file changes (checked at most every
/// `USERS_RECHECK`), so documents do not read the file each time.
#[derive(Default)]
struct Users {
    checked: Option<std::time::Instant>,
    mtime: Option<std::time::SystemTime>,
    names: std::collections::HashMap<u32, String>,
}

const USERS_RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

static USERS: std::sync::LazyLock<std::sync::Mutex<Users>> = std::sync::LazyLock::new(Default::default);

impl Users {
    fn name(&mut self, uid: u32) -> Option<String> {
        let now = std::time::Instant::now();
        if self.checked.is_none_or(|t| now.duration_since(t) >= USERS_RECHECK) {
            self.checked = Some(now);
            let mtime = std::fs::metadata("/etc/passwd").and_then(|m| m.modified()).ok();
            if mtime != self.mtime || mtime.is_none() {
                self.mtime = mtime;
                self.names = std::fs::read_to_string("/etc/passwd")
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| {
                        let f: Vec<&str> = l.split(':').collect();
                        Some((f.get(2)?.parse::<u32>().ok()?, f[0].to_string()))
                    })
                    .collect();
            }
        }
        self.names.get(&uid).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_addresses() {
        assert_eq!(parse_addr("0100007F:1F90"), Some(("127.0.0.1".parse().expect("ip"), 8080)));
        assert_eq!(
            parse_addr("00000000000000000000000001000000:0016"),
            Some(("::1".parse().expect("ip"), 22))
        );
        assert_eq!(
            parse_addr("0000000000000000FFFF00000100007F:0016"),
            Some(("127.0.0.1".parse().expect("ip"), 22))
        );
        assert_eq!(parse_addr("zz:1"), None);
    }
}
