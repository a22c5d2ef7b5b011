//! What the packet tracers of the kernel modes take and say: a new connection's first packet,
//! and where the rules send it. Each kernel mode walks its own rules; tests compare the
//! answer with the kernel's own choices.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

/// A new connection's first packet.
#[derive(Debug, Clone, Copy)]
pub struct Packet {
    /// Source address.
    pub src: IpAddr,
    /// `tcp`, `udp` or `sctp`.
    pub proto: &'static str,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// Whether the source is an address of this node (`fib saddr type local`).
    pub src_local: bool,
    /// Whether the destination is an address of this node (`fib daddr type local`).
    pub dst_local: bool,
}

/// What the rules do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// DNATed to one of these endpoints, chosen at random (or by affinity).
    Dnat(BTreeSet<SocketAddr>),
    /// Refused (TCP reset or ICMP unreachable).
    Reject,
    /// Dropped.
    Drop,
    /// Not a service address: the rules leave it alone.
    Untouched,
}

impl std::fmt::Display for Verdict {
    /// `dnat A:P B:Q …`, `reject`, `drop` or `untouched`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Dnat(eps) => {
                let list: Vec<String> = eps.iter().map(ToString::to_string).collect();
                write!(f, "dnat {}", list.join(" "))
            }
            Verdict::Reject => f.write_str("reject"),
            Verdict::Drop => f.write_str("drop"),
            Verdict::Untouched => f.write_str("untouched"),
        }
    }
}

/// `a.b.c.d/n` (or an IPv6 CIDR, or a single address) contains `ip`.
pub fn in_cidr(ip: IpAddr, cidr: &str) -> bool {
    let Some((net, len)) = cidr.split_once('/') else {
        return cidr.trim().parse() == Ok(ip);
    };
    let len = len.trim().parse::<u32>();
    match (ip, net.trim().parse::<IpAddr>(), len) {
        (IpAddr::V4(ip), Ok(IpAddr::V4(net)), Ok(len)) if len <= 32 => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), Ok(IpAddr::V6(net)), Ok(len)) if len <= 128 => {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::in_cidr;

    #[test]
    fn cidrs_of_both_families_and_single_addresses() {
        let ip = |s: &str| s.parse().expect("ip");
        assert!(in_cidr(ip("10.244.1.2"), "10.244.0.0/16"));
        assert!(!in_cidr(ip("10.245.1.2"), "10.244.0.0/16"));
        assert!(in_cidr(ip("192.0.2.7"), "0.0.0.0/0"));
        assert!(in_cidr(ip("fd00:244::2"), "fd00:244::/64"));
        assert!(!in_cidr(ip("fd00:245::2"), "fd00:244::/64"));
        assert!(in_cidr(ip("fd00::10"), "fd00::10/128"));
        assert!(in_cidr(ip("10.0.0.1"), "10.0.0.1"));
        assert!(!in_cidr(ip("10.0.0.1"), "fd00::/8"));
        assert!(!in_cidr(ip("10.0.0.1"), "10.0.0.0/33"));
    }
}
