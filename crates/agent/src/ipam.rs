//! Pod addresses from the pod CIDR: the lowest free one, skipping the network address and the
//! first host (kept for the node side, as bridges use it).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// The pod address allocator of one node.
#[derive(Debug)]
pub struct Ipam {
    base: u32,
    size: u32,
    used: BTreeSet<u32>,
}

impl Ipam {
    /// An allocator over an IPv4 CIDR.
    pub fn new(cidr: &str) -> Result<Self, String> {
        let (addr, len) = cidr
            .split_once('/')
            .ok_or_else(|| format!("{cidr}: missing /prefix"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| format!("{cidr}: IPv4 only"))?;
        let len: u32 = len
            .parse()
            .ok()
            .filter(|l| (8..=30).contains(l))
            .ok_or_else(|| format!("{cidr}: prefix must be /8 to /30"))?;
        let mask = u32::MAX << (32 - len);
        Ok(Ipam {
            base: u32::from(addr) & mask,
            size: 1 << (32 - len),
            used: BTreeSet::new(),
        })
    }

    /// Takes the lowest free address.
    pub fn allocate(&mut self) -> Option<Ipv4Addr> {
        let off = (2..self.size - 1).find(|o| !self.used.contains(o))?;
        self.used.insert(off);
        Some(Ipv4Addr::from(self.base + off))
    }

    /// Takes a specific address (a pod that already had one, after a restart).
    pub fn claim(&mut self, ip: Ipv4Addr) -> bool {
        let v = u32::from(ip);
        if v < self.base || v - self.base >= self.size {
            return false;
        }
        self.used.insert(v - self.base)
    }

    /// Returns an address.
    pub fn release(&mut self, ip: Ipv4Addr) {
        let v = u32::from(ip);
        if v >= self.base {
            self.used.remove(&(v - self.base));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_first_and_reuse() {
        let mut ipam = Ipam::new("127.244.0.0/30").expect("cidr");
        assert_eq!(ipam.allocate(), Some(Ipv4Addr::new(127, 244, 0, 2)));
        assert_eq!(ipam.allocate(), None, "a /30 has one pod address");
        ipam.release(Ipv4Addr::new(127, 244, 0, 2));
        assert!(ipam.claim(Ipv4Addr::new(127, 244, 0, 2)));
        assert!(!ipam.claim(Ipv4Addr::new(127, 244, 0, 2)), "already taken");
        assert!(Ipam::new("fd00::/64").is_err());
    }
}
