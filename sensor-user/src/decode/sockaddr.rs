//! `struct sockaddr` bytes → an endpoint.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where a socket connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Ip {
        addr: IpAddr,
        port: u16,
    },
    /// Filesystem path, or `@name` for the abstract namespace.
    Unix(String),
    Unknown,
}

/// Parses AF_INET, AF_INET6 and AF_UNIX addresses; anything short or unknown is `Unknown`.
pub fn parse_sockaddr(b: &[u8]) -> Endpoint {
    let Some(family) = b.get(..2).map(|f| u16::from_le_bytes([f[0], f[1]])) else { return Endpoint::Unknown };
    let port = || b.get(2..4).map(|p| u16::from_be_bytes([p[0], p[1]]));
    match family {
        2 => match (port(), b.get(4..8)) {
            (Some(port), Some(a)) => {
                Endpoint::Ip { addr: IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])), port }
            }
            _ => Endpoint::Unknown,
        },
        10 => match (port(), b.get(8..24)) {
            (Some(port), Some(a)) => {
                let mut o = [0u8; 16];
                o.copy_from_slice(a);
                let v6 = Ipv6Addr::from(o);
                let addr = v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4);
                Endpoint::Ip { addr, port }
            }
            _ => Endpoint::Unknown,
        },
        1 => {
            let path = b.get(2..).unwrap_or_default();
            match path.first() {
                None => Endpoint::Unknown,
                Some(0) => {
                    let name = &path[1..];
                    let end = name.iter().position(|c| *c == 0).unwrap_or(name.len());
                    Endpoint::Unix(format!("@{}", String::from_utf8_lossy(&name[..end])))
                }
                Some(_) => Endpoint::Unix(super::cstr_lossy(path)),
            }
        }
        _ => Endpoint::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        let v4 = [2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse_sockaddr(&v4), Endpoint::Ip { addr: "127.0.0.1".parse().expect("ip"), port: 8080 });
        let mut v6 = vec![10, 0, 0x01, 0xbb, 0, 0, 0, 0];
        v6.extend(Ipv6Addr::LOCALHOST.octets());
        assert_eq!(parse_sockaddr(&v6), Endpoint::Ip { addr: "::1".parse().expect("ip"), port: 443 });
        let mut un = vec![1, 0];
        un.extend(b"/tmp/ssh-x/agent.1\0junk");
        assert_eq!(parse_sockaddr(&un), Endpoint::Unix("/tmp/ssh-x/agent.1".into()));
        assert_eq!(parse_sockaddr(&[1, 0, 0, b'a', b'b', 0]), Endpoint::Unix("@ab".into()));
        assert_eq!(parse_sockaddr(&[2, 0, 1]), Endpoint::Unknown);
        assert_eq!(parse_sockaddr(&[]), Endpoint::Unknown);
    }
}
