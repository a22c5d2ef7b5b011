//! ClusterIP and NodePort allocators, with the static and dynamic bands of KEP-3070 and
//! KEP-3668. They hold no state of their own on disk: at start they are rebuilt from the
//! stored Services, which are the record of every allocation.

use std::net::Ipv4Addr;
use std::sync::Mutex;

/// Why an allocation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// The requested value lies outside the range.
    #[error("not in range")]
    NotInRange,
    /// The requested value is taken.
    #[error("provided {0} is already allocated")]
    Allocated(&'static str),
    /// No free value is left.
    #[error("range is full")]
    Full,
}

/// A fixed-size bitmap over `0..size` with a reserved lower band.
#[derive(Debug)]
struct Bitmap {
    bits: Vec<u64>,
    size: u32,
    /// Offsets below this are the static band: dynamic allocation uses them last.
    band: u32,
    used: u32,
}

impl Bitmap {
    fn new(size: u32, band: u32) -> Self {
        Bitmap {
            bits: vec![0; (size as usize).div_ceil(64)],
            size,
            band: band.min(size),
            used: 0,
        }
    }

    fn get(&self, i: u32) -> bool {
        self.bits[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, i: u32, on: bool) {
        let word = &mut self.bits[(i / 64) as usize];
        let mask = 1u64 << (i % 64);
        if on && *word & mask == 0 {
            *word |= mask;
            self.used += 1;
        } else if !on && *word & mask != 0 {
            *word &= !mask;
            self.used -= 1;
        }
    }

    /// Takes offset `i`; false if already taken.
    fn take(&mut self, i: u32) -> bool {
        if self.get(i) {
            return false;
        }
        self.set(i, true);
        true
    }

    /// A random free offset, preferring the dynamic (upper) band, scanning forward from a
    /// random start within each band as upstream's random-scan strategy does.
    fn take_any(&mut self) -> Option<u32> {
        use rand::Rng as _;
        if self.used >= self.size {
            return None;
        }
        let mut rng = rand::rng();
        for (lo, hi) in [(self.band, self.size), (0, self.band)] {
            if lo >= hi {
                continue;
            }
            let span = hi - lo;
            let start = rng.random_range(0..span);
            for step in 0..span {
                let i = lo + (start + step) % span;
                if !self.get(i) {
                    self.set(i, true);
                    return Some(i);
                }
            }
        }
        None
    }
}

/// The ClusterIP allocator for one IPv4 CIDR.
#[derive(Debug)]
pub struct IpAllocator {
    base: u32,
    prefix: u8,
    map: Mutex<Bitmap>,
}

/// Parses `a.b.c.d/n` into its network address and prefix length.
pub fn parse_cidr(cidr: &str) -> Result<(Ipv4Addr, u8), String> {
    let (addr, len) = cidr
        .split_once('/')
        .ok_or_else(|| format!("invalid CIDR {cidr:?}: missing /prefix"))?;
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("invalid CIDR {cidr:?}: only IPv4 is supported"))?;
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= 32)
        .ok_or_else(|| format!("invalid CIDR {cidr:?}: bad prefix length"))?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Ok((Ipv4Addr::from(u32::from(addr) & mask), len))
}

impl IpAllocator {
    /// An allocator over `cidr`. The network and broadcast addresses are never handed out.
    pub fn new(cidr: &str) -> Result<Self, String> {
        let (net, prefix) = parse_cidr(cidr)?;
        if !(8..=30).contains(&prefix) {
            return Err(format!(
                "service CIDR {cidr} must have a prefix between /8 and /30"
            ));
        }
        let total = 1u64 << (32 - prefix);
        // Offsets count from the first usable address (network + 1).
        let size = (total - 2) as u32;
        let band = if total < 16 {
            0
        } else {
            (total / 16).clamp(16, 256) as u32
        };
        Ok(IpAllocator {
            base: u32::from(net),
            prefix,
            map: Mutex::new(Bitmap::new(size, band)),
        })
    }

    /// The CIDR this allocator serves.
    pub fn cidr(&self) -> String {
        format!("{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }

    /// The first usable address (the `kubernetes` Service's).
    pub fn first(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1)
    }

    fn offset(&self, ip: Ipv4Addr) -> Option<u32> {
        let v = u32::from(ip);
        let size = self.lock().size;
        (v > self.base && v - self.base - 1 < size).then(|| v - self.base - 1)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bitmap> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a specific address.
    pub fn allocate(&self, ip: Ipv4Addr) -> Result<(), AllocError> {
        let off = self.offset(ip).ok_or(AllocError::NotInRange)?;
        if self.lock().take(off) {
            Ok(())
        } else {
            Err(AllocError::Allocated("IP"))
        }
    }

    /// Takes any free address.
    pub fn allocate_next(&self) -> Result<Ipv4Addr, AllocError> {
        let off = self.lock().take_any().ok_or(AllocError::Full)?;
        Ok(Ipv4Addr::from(self.base + 1 + off))
    }

    /// Returns an address to the pool; unknown addresses are ignored.
    pub fn release(&self, ip: Ipv4Addr) {
        if let Some(off) = self.offset(ip) {
            self.lock().set(off, false);
        }
    }

    /// Whether an address is taken.
    #[cfg(test)]
    pub fn is_allocated(&self, ip: Ipv4Addr) -> bool {
        self.offset(ip).is_some_and(|off| self.lock().get(off))
    }
}

/// The NodePort allocator for one inclusive port range.
#[derive(Debug)]
pub struct PortAllocator {
    first: u16,
    last: u16,
    map: Mutex<Bitmap>,
}

/// Parses `A-B` into an inclusive port range.
pub fn parse_port_range(range: &str) -> Result<(u16, u16), String> {
    let (a, b) = range
        .split_once('-')
        .ok_or_else(|| format!("invalid port range {range:?}: want A-B"))?;
    let a: u16 = a
        .trim()
        .parse()
        .map_err(|_| format!("invalid port range {range:?}"))?;
    let b: u16 = b
        .trim()
        .parse()
        .map_err(|_| format!("invalid port range {range:?}"))?;
    if a == 0 || b < a {
        return Err(format!("invalid port range {range:?}"));
    }
    Ok((a, b))
}

impl PortAllocator {
    /// An allocator over `first..=last`.
    pub fn new(first: u16, last: u16) -> Self {
        let size = u32::from(last - first) + 1;
        let band = (size / 32).clamp(16, 128).min(size);
        PortAllocator {
            first,
            last,
            map: Mutex::new(Bitmap::new(size, band)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bitmap> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The range as `A-B`, as used in error messages.
    pub fn range(&self) -> String {
        format!("{}-{}", self.first, self.last)
    }

    /// Takes a specific port.
    pub fn allocate(&self, port: i64) -> Result<(), AllocError> {
        if port < i64::from(self.first) || port > i64::from(self.last) {
            return Err(AllocError::NotInRange);
        }
        if self.lock().take((port - i64::from(self.first)) as u32) {
            Ok(())
        } else {
            Err(AllocError::Allocated("port"))
        }
    }

    /// Takes any free port.
    pub fn allocate_next(&self) -> Result<u16, AllocError> {
        let off = self.lock().take_any().ok_or(AllocError::Full)?;
        Ok(self.first + off as u16)
    }

    /// Returns a port to the pool; out-of-range ports are ignored.
    pub fn release(&self, port: i64) {
        if port >= i64::from(self.first) && port <= i64::from(self.last) {
            self.lock()
                .set((port - i64::from(self.first)) as u32, false);
        }
    }
}

#[cfg(test)]
mod tests;
