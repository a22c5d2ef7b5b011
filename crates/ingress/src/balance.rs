//! Choosing an endpoint for a request (round robin, EWMA, cookie affinity) and the per-client
//! limits of `limit-rps` and `limit-connections`. The state lives in a snapshot, so it starts
//! afresh when the configuration changes.

use std::collections::HashMap;
use std::hash::{Hash as _, Hasher as _};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::upstreams::NoUpstream;

/// One endpoint's load: requests in flight and the moving average of its response time.
#[derive(Debug, Default)]
struct Stat {
    inflight: AtomicU32,
    /// Microseconds; 0 until the first response.
    ewma_us: AtomicU64,
}

/// A backend's endpoints, resolved when the snapshot is made, with the state to choose one.
#[derive(Debug)]
pub struct Resolved {
    /// The endpoints, or why there are none.
    pub addrs: Result<Vec<SocketAddr>, NoUpstream>,
    next: AtomicUsize,
    /// Requests weighed for this backend as a canary.
    turns: AtomicUsize,
    stats: Vec<Stat>,
    /// This backend's metrics, found by label on its first request (not at each rebuild, which
    /// must stay quick with 10,000 paths).
    pub metrics: std::sync::OnceLock<std::sync::Arc<crate::metrics::RouteHandles>>,
}

/// A request in flight to endpoint `i`; when dropped, the endpoint's count goes down.
#[derive(Debug)]
pub struct InFlight<'a> {
    stat: Option<&'a Stat>,
    started: Instant,
}

impl InFlight<'_> {
    /// The response head came: the time so far goes into the endpoint's average (EWMA with
    /// weight 1/4 for the newest sample).
    pub fn responded(&self) {
        if let Some(stat) = self.stat {
            let sample = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
            let old = stat.ewma_us.load(Ordering::Relaxed);
            let new = if old == 0 {
                sample.max(1)
            } else {
                (old * 3 + sample) / 4
            };
            stat.ewma_us.store(new.max(1), Ordering::Relaxed);
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(stat) = self.stat {
            stat.inflight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The value of an affinity cookie for `addr`: stable across workers and restarts.
pub fn cookie_value(addr: &SocketAddr) -> String {
    let mut h = std::hash::DefaultHasher::new();
    addr.hash(&mut h);
    format!("{:016x}", h.finish())
}

impl Resolved {
    /// State for `addrs`.
    pub fn new(addrs: Result<Vec<SocketAddr>, NoUpstream>) -> Resolved {
        let n = addrs.as_ref().map_or(0, Vec::len);
        Resolved {
            addrs,
            next: AtomicUsize::new(0),
            turns: AtomicUsize::new(0),
            metrics: std::sync::OnceLock::new(),
            stats: (0..n).map(|_| Stat::default()).collect(),
        }
    }

    /// The next number in this backend's count of canary decisions (so a weight splits
    /// requests exactly over each round of `canary-weight-total`).
    pub fn turn(&self) -> usize {
        self.turns.fetch_add(1, Ordering::Relaxed)
    }

    /// The index of the endpoint whose affinity cookie is `value`.
    pub fn by_cookie(&self, value: &str) -> Option<usize> {
        let addrs = self.addrs.as_ref().ok()?;
        addrs.iter().position(|a| cookie_value(a) == value)
    }

    /// The first endpoint to try: round robin, or with `ewma` the better of two (by average
    /// response time times requests in flight, so a slow or busy endpoint gets less).
    pub fn first(&self, ewma: bool) -> usize {
        let n = self.stats.len().max(1);
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        if !ewma || n == 1 {
            return turn % n;
        }
        // Two different endpoints, the second moving relative to the first every round.
        let a = turn % n;
        let b = (a + 1 + (turn / n) % (n - 1)) % n;
        let score = |i: usize| {
            let s = &self.stats[i];
            let ewma = s.ewma_us.load(Ordering::Relaxed);
            // An endpoint never measured is tried first.
            if ewma == 0 {
                return 0;
            }
            ewma * (u64::from(s.inflight.load(Ordering::Relaxed)) + 1)
        };
        if score(b) < score(a) { b } else { a }
    }

    /// Counts a request to endpoint `i` until the returned guard is dropped.
    pub fn start(&self, i: usize) -> InFlight<'_> {
        let stat = self.stats.get(i);
        if let Some(s) = stat {
            s.inflight.fetch_add(1, Ordering::Relaxed);
        }
        InFlight {
            stat,
            started: Instant::now(),
        }
    }
}

/// `limit-rps` and `limit-connections` of one Ingress, per client address.
#[derive(Debug, Default)]
pub struct Limiter {
    /// Tokens and when they were last topped up.
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
    open: Mutex<HashMap<IpAddr, u32>>,
}

/// One request counted against `limit-connections`, until dropped.
#[derive(Debug)]
pub struct Open<'a> {
    limiter: &'a Limiter,
    ip: IpAddr,
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        let mut open = self.limiter.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// nginx's `limit_req` burst for `limit-rps`: five times the rate.
const BURST_MULTIPLIER: f64 = 5.0;

impl Limiter {
    /// Takes one request of `rps` per second (bursts up to five times that) from `ip`'s
    /// bucket; false when it is empty.
    pub fn allow_rate(&self, ip: IpAddr, rps: u32) -> bool {
        let now = Instant::now();
        let rate = f64::from(rps);
        let burst = rate * BURST_MULTIPLIER;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        // Keep the table small: forget clients whose buckets have long been full again.
        if buckets.len() > 10_000 {
            buckets.retain(|_, (_, at)| now.duration_since(*at) < Duration::from_secs(60));
        }
        let (tokens, at) = buckets.entry(ip).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Counts a request from `ip` if fewer than `max` are open.
    pub fn open(&self, ip: IpAddr, max: u32) -> Option<Open<'_>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Open { limiter: self, ip })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(n: u16) -> Resolved {
        Resolved::new(Ok((0..n)
            .map(|i| SocketAddr::from(([10, 0, 0, 1], 8000 + i)))
            .collect()))
    }

    #[test]
    fn round_robin_visits_every_endpoint() {
        let r = resolved(3);
        let picks: Vec<usize> = (0..6).map(|_| r.first(false)).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn ewma_avoids_the_slow_endpoint() {
        let r = resolved(2);
        r.stats[0].ewma_us.store(50_000, Ordering::Relaxed);
        r.stats[1].ewma_us.store(1_000, Ordering::Relaxed);
        let slow = (0..100).filter(|_| r.first(true) == 0).count();
        assert_eq!(slow, 0);
    }

    #[test]
    fn cookies_name_endpoints() {
        let r = resolved(3);
        let addrs = r.addrs.as_ref().expect("addrs");
        assert_eq!(r.by_cookie(&cookie_value(&addrs[2])), Some(2));
        assert_eq!(r.by_cookie("nonsense"), None);
    }

    #[test]
    fn limits_per_client() {
        let l = Limiter::default();
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        // limit-rps 2: a burst of 10, then refused; another client is unaffected.
        let allowed = (0..20).filter(|_| l.allow_rate(a, 2)).count();
        assert_eq!(allowed, 10);
        assert!(l.allow_rate(b, 2));
        let first = l.open(a, 1).expect("first");
        assert!(l.open(a, 1).is_none());
        assert!(l.open(b, 1).is_some());
        drop(first);
        assert!(l.open(a, 1).is_some());
    }
}
