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

/// `a.b.c.d/n` contains `ip`.
pub fn in_cidr(ip: IpAddr, cidr: &str) -> bool {
    let (net, len) = cidr.split_once('/').unwrap_or((cidr, "32"));
    match (ip, net.trim().parse::<IpAddr>(), len.trim().parse::<u32>()) {
        (IpAddr::V4(ip), Ok(IpAddr::V4(net)), Ok(len)) if len <= 32 => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(ip) & mask == u32::from(net) & mask
        }
        _ => false,
    }
}
