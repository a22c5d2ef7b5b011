//! Endpoint selection: IPVS's schedulers behind one trait, chosen by name.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Picks the endpoint to try first for a new connection.
pub trait EndpointSelection: Send + Sync {
    /// The index, among the set's endpoints, to try first for a client at `client`.
    fn select(&self, client: IpAddr) -> usize;
}

/// A scheduler by name, as `--scheduler` and the `knet.dev/scheduler` annotation give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchedulerKind {
    /// `rr`: each endpoint in turn.
    #[default]
    RoundRobin,
}

impl SchedulerKind {
    /// A fresh scheduler of this kind over `n` endpoints.
    pub fn build(self, n: usize) -> Box<dyn EndpointSelection> {
        match self {
            SchedulerKind::RoundRobin => Box::new(RoundRobin {
                next: AtomicUsize::new(0),
                n: n.max(1),
            }),
        }
    }
}

/// A scheduler name knet does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownScheduler(pub String);

impl std::fmt::Display for UnknownScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown scheduler {:?} (known: rr)", self.0)
    }
}

impl std::error::Error for UnknownScheduler {}

impl std::str::FromStr for SchedulerKind {
    type Err = UnknownScheduler;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "rr" => Ok(SchedulerKind::RoundRobin),
            other => Err(UnknownScheduler(other.to_owned())),
        }
    }
}

/// `rr`: endpoint i, then i+1, and so on, shared by all of a set's listeners.
struct RoundRobin {
    next: AtomicUsize,
    n: usize,
}

impl EndpointSelection for RoundRobin {
    fn select(&self, _client: IpAddr) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rr_takes_each_endpoint_in_turn() {
        let s = SchedulerKind::RoundRobin.build(3);
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        let picks: Vec<usize> = (0..7).map(|_| s.select(ip)).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn names_parse() {
        assert_eq!("rr".parse(), Ok(SchedulerKind::RoundRobin));
        assert!("nope".parse::<SchedulerKind>().is_err());
    }
}
