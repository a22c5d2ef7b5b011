//! Endpoint selection: IPVS's schedulers behind one trait, chosen by name.
//!
//! Each scheduler sees the endpoints with their weights (from the pods' `knet.dev/weight`
//! annotation, default 1) and their open connections, and the connection's client and
//! frontend. The formulas are IPVS's (`net/netfilter/ipvs/ip_vs_*.c`), with connections counted
//! as open TCP relays:
//!
//! | name | picks |
//! |---|---|
//! | `rr` | each endpoint in turn |
//! | `wrr` | in turn, each endpoint as often as its weight (smooth weighted round robin) |
//! | `lc` | fewest open connections |
//! | `wlc` | fewest open connections per weight |
//! | `sed` | smallest (connections + 1) / weight |
//! | `nq` | an idle endpoint if there is one, else as `sed` |
//! | `sh` | a static 256-bucket table over the client address (buckets dealt by weight) |
//! | `dh` | the same table over the frontend address |
//! | `mh` | a Maglev table (4093 entries) over client address and port |
//! | `lblc` | the endpoint last used for this client, unless it is overloaded; then as `wlc` |
//! | `lblcr` | the least-loaded of a set per client, growing the set when all in it are overloaded |
//!
//! An endpoint is overloaded, as IPVS has it, when its connections exceed its weight while
//! another endpoint is below half of its own weight.

use std::collections::HashMap;
use std::hash::Hasher as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One endpoint as a scheduler sees it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    /// The endpoint.
    pub addr: SocketAddr,
    /// Its weight (at least 1).
    pub weight: u32,
    /// Its open connections now.
    pub active: usize,
}

/// The connection being scheduled.
#[derive(Debug, Clone, Copy)]
pub struct Conn {
    /// The client.
    pub client: SocketAddr,
    /// The frontend it connected to.
    pub frontend: SocketAddr,
}

/// Picks the endpoint to try first for a new connection.
pub trait EndpointSelection: Send + Sync {
    /// The index into `endpoints` (never empty) to try first.
    fn select(&self, conn: &Conn, endpoints: &[Candidate]) -> usize;
}

/// A scheduler by name, as `--scheduler` and the `knet.dev/scheduler` annotation give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchedulerKind {
    /// `rr`.
    #[default]
    RoundRobin,
    /// `wrr`.
    WeightedRoundRobin,
    /// `lc`.
    LeastConnection,
    /// `wlc`.
    WeightedLeastConnection,
    /// `sed`.
    ShortestExpectedDelay,
    /// `nq`.
    NeverQueue,
    /// `sh`.
    SourceHashing,
    /// `dh`.
    DestinationHashing,
    /// `mh`.
    Maglev,
    /// `lblc`.
    LocalityLeastConnection,
    /// `lblcr`.
    LocalityLeastConnectionReplicated,
}

/// Every scheduler name, in the order of the IPVS documentation.
pub const NAMES: [&str; 11] = [
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "sh", "dh", "sed", "nq", "mh",
];

impl SchedulerKind {
    /// A fresh scheduler of this kind over `endpoints` (its tables are built for them).
    pub fn build(self, endpoints: &[Candidate]) -> Box<dyn EndpointSelection> {
        match self {
            SchedulerKind::RoundRobin => Box::new(RoundRobin::default()),
            SchedulerKind::WeightedRoundRobin => Box::new(WeightedRoundRobin {
                current: Mutex::new(vec![0; endpoints.len()]),
            }),
            SchedulerKind::LeastConnection => Box::new(Least(|c: &Candidate| (c.active as u64, 1))),
            SchedulerKind::WeightedLeastConnection => Box::new(Least(|c: &Candidate| {
                (c.active as u64, u64::from(c.weight))
            })),
            SchedulerKind::ShortestExpectedDelay => Box::new(Least(sed_cost)),
            SchedulerKind::NeverQueue => Box::new(NeverQueue),
            SchedulerKind::SourceHashing => Box::new(Hashing {
                table: bucket_table(endpoints, 256),
                by_source: true,
            }),
            SchedulerKind::DestinationHashing => Box::new(Hashing {
                table: bucket_table(endpoints, 256),
                by_source: false,
            }),
            SchedulerKind::Maglev => Box::new(Maglev {
                table: maglev_table(endpoints, MAGLEV_SIZE),
            }),
            SchedulerKind::LocalityLeastConnection => Box::new(Locality {
                sets: Mutex::new(HashMap::new()),
                replicate: false,
            }),
            SchedulerKind::LocalityLeastConnectionReplicated => Box::new(Locality {
                sets: Mutex::new(HashMap::new()),
                replicate: true,
            }),
        }
    }
}

/// A scheduler name that knet does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownScheduler(pub String);

impl std::fmt::Display for UnknownScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown scheduler {:?} (one of: {})",
            self.0,
            NAMES.join(", ")
        )
    }
}

impl std::error::Error for UnknownScheduler {}

impl std::str::FromStr for SchedulerKind {
    type Err = UnknownScheduler;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "rr" => SchedulerKind::RoundRobin,
            "wrr" => SchedulerKind::WeightedRoundRobin,
            "lc" => SchedulerKind::LeastConnection,
            "wlc" => SchedulerKind::WeightedLeastConnection,
            "sed" => SchedulerKind::ShortestExpectedDelay,
            "nq" => SchedulerKind::NeverQueue,
            "sh" => SchedulerKind::SourceHashing,
            "dh" => SchedulerKind::DestinationHashing,
            "mh" => SchedulerKind::Maglev,
            "lblc" => SchedulerKind::LocalityLeastConnection,
            "lblcr" => SchedulerKind::LocalityLeastConnectionReplicated,
            other => return Err(UnknownScheduler(other.to_owned())),
        })
    }
}

#[derive(Default)]
struct RoundRobin {
    next: AtomicUsize,
}

impl EndpointSelection for RoundRobin {
    fn select(&self, _: &Conn, eps: &[Candidate]) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % eps.len()
    }
}

/// Smooth weighted round robin: every pick adds each weight to its endpoint's credit and
/// takes the endpoint with the most, which then pays the total. Over any run of `sum(weights)`
/// picks each endpoint is picked exactly `weight` times, spread out rather than in bursts.
struct WeightedRoundRobin {
    current: Mutex<Vec<i64>>,
}

impl EndpointSelection for WeightedRoundRobin {
    fn select(&self, _: &Conn, eps: &[Candidate]) -> usize {
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        cur.resize(eps.len(), 0);
        let total: i64 = eps.iter().map(|e| i64::from(e.weight)).sum();
        let mut best = 0;
        for (i, e) in eps.iter().enumerate() {
            cur[i] += i64::from(e.weight);
            if cur[i] > cur[best] {
                best = i;
            }
        }
        cur[best] -= total;
        best
    }
}

/// The (numerator, denominator) cost `sed` minimises: (connections + 1) / weight.
fn sed_cost(c: &Candidate) -> (u64, u64) {
    (c.active as u64 + 1, u64::from(c.weight))
}

/// The endpoint with the smallest cost (a fraction, compared by cross-multiplying as IPVS
/// does); the first of equals.
fn least_by(eps: &[Candidate], cost: impl Fn(&Candidate) -> (u64, u64)) -> usize {
    let mut best = 0;
    for i in 1..eps.len() {
        let (n1, d1) = cost(&eps[i]);
        let (n0, d0) = cost(&eps[best]);
        if n1 * d0 < n0 * d1 {
            best = i;
        }
    }
    best
}

/// `lc`, `wlc` and `sed`: the least of a cost.
struct Least(fn(&Candidate) -> (u64, u64));

impl EndpointSelection for Least {
    fn select(&self, _: &Conn, eps: &[Candidate]) -> usize {
        least_by(eps, self.0)
    }
}

struct NeverQueue;

impl EndpointSelection for NeverQueue {
    fn select(&self, _: &Conn, eps: &[Candidate]) -> usize {
        eps.iter()
            .position(|e| e.active == 0)
            .unwrap_or_else(|| least_by(eps, sed_cost))
    }
}

fn hash_of(v: impl std::hash::Hash) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// `size` buckets dealt to the endpoints in turn, each taking as many per round as its weight
/// (IPVS `sh`/`dh` table).
fn bucket_table(eps: &[Candidate], size: usize) -> Vec<usize> {
    let mut table = Vec::with_capacity(size);
    let mut dealt: Vec<u32> = vec![0; eps.len()];
    let mut i = 0;
    while table.len() < size && !eps.is_empty() {
        table.push(i);
        dealt[i] += 1;
        if dealt[i] >= eps[i].weight.max(1) {
            dealt[i] = 0;
            i = (i + 1) % eps.len();
        }
    }
    table
}

/// `sh` and `dh`: a static table over the client's or the frontend's address.
struct Hashing {
    table: Vec<usize>,
    by_source: bool,
}

impl EndpointSelection for Hashing {
    fn select(&self, conn: &Conn, eps: &[Candidate]) -> usize {
        let key: IpAddr = if self.by_source {
            conn.client.ip()
        } else {
            conn.frontend.ip()
        };
        let i = self.table[(hash_of(key) % self.table.len() as u64) as usize];
        i.min(eps.len() - 1)
    }
}

/// The Maglev table size: a prime, smaller than IPVS's 65537 so a Service's table stays at
/// 8 KiB.
const MAGLEV_SIZE: usize = 4093;

/// Maglev's lookup table: each endpoint walks its own permutation of the slots (from hashes of
/// its address) and claims the next free one, in turn, as many times per turn as its weight.
/// Removing an endpoint moves mostly only its own slots.
fn maglev_table(eps: &[Candidate], m: usize) -> Vec<usize> {
    let mut table = vec![usize::MAX; m];
    if eps.is_empty() {
        return table;
    }
    let perms: Vec<(usize, usize)> = eps
        .iter()
        .map(|e| {
            let offset = (hash_of(("offset", e.addr)) % m as u64) as usize;
            let skip = (hash_of(("skip", e.addr)) % (m as u64 - 1)) as usize + 1;
            (offset, skip)
        })
        .collect();
    let mut next = vec![0usize; eps.len()];
    let mut filled = 0;
    'fill: loop {
        for (i, e) in eps.iter().enumerate() {
            for _ in 0..e.weight.max(1) {
                let (offset, skip) = perms[i];
                let mut slot = (offset + next[i] * skip) % m;
                while table[slot] != usize::MAX {
                    next[i] += 1;
                    slot = (offset + next[i] * skip) % m;
                }
                table[slot] = i;
                next[i] += 1;
                filled += 1;
                if filled == m {
                    break 'fill;
                }
            }
        }
    }
    table
}

struct Maglev {
    table: Vec<usize>,
}

impl EndpointSelection for Maglev {
    fn select(&self, conn: &Conn, eps: &[Candidate]) -> usize {
        // kube-proxy sets mh-port: the client's port is part of the key.
        let i = self.table[(hash_of(conn.client) % self.table.len() as u64) as usize];
        i.min(eps.len() - 1)
    }
}

/// IPVS's overload test: more connections than weight while another endpoint is below half
/// of its own weight.
fn overloaded(e: &Candidate, eps: &[Candidate]) -> bool {
    e.active as u64 > u64::from(e.weight)
        && eps
            .iter()
            .any(|o| (o.active as u64) * 2 < u64::from(o.weight))
}

/// How long an `lblcr` set keeps an extra member after it last grew.
const LBLCR_SHRINK_AFTER: Duration = Duration::from_secs(60);

/// `lblc` and `lblcr`: per client address, the endpoint (or set of endpoints) it used last.
struct Locality {
    sets: Mutex<HashMap<IpAddr, (Vec<SocketAddr>, Instant)>>,
    replicate: bool,
}

impl EndpointSelection for Locality {
    fn select(&self, conn: &Conn, eps: &[Candidate]) -> usize {
        let wlc = |eps: &[Candidate]| {
            least_by(eps, |c: &Candidate| (c.active as u64, u64::from(c.weight)))
        };
        let mut sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        let entry = sets
            .entry(conn.client.ip())
            .or_insert_with(|| (Vec::new(), Instant::now()));
        // Members that are no longer endpoints leave the set.
        entry.0.retain(|a| eps.iter().any(|e| e.addr == *a));
        let members: Vec<usize> = entry
            .0
            .iter()
            .filter_map(|a| eps.iter().position(|e| e.addr == *a))
            .collect();
        if !self.replicate {
            if let Some(&i) = members.first()
                && !overloaded(&eps[i], eps)
            {
                return i;
            }
            let i = wlc(eps);
            *entry = (vec![eps[i].addr], Instant::now());
            return i;
        }
        // lblcr: the least loaded member, unless it is overloaded: then the least loaded of
        // all joins the set. A set that has not grown for a while sheds its busiest member.
        let best = members.iter().copied().min_by(|&a, &b| {
            let (x, y) = (&eps[a], &eps[b]);
            ((x.active as u64) * u64::from(y.weight))
                .cmp(&((y.active as u64) * u64::from(x.weight)))
        });
        let pick = match best {
            Some(i) if !overloaded(&eps[i], eps) => i,
            _ => {
                let i = wlc(eps);
                if !entry.0.contains(&eps[i].addr) {
                    entry.0.push(eps[i].addr);
                    entry.1 = Instant::now();
                }
                i
            }
        };
        if entry.0.len() > 1 && entry.1.elapsed() > LBLCR_SHRINK_AFTER {
            if let Some(busiest) = members
                .iter()
                .copied()
                .filter(|&i| i != pick)
                .max_by_key(|&i| eps[i].active)
            {
                entry.0.retain(|a| *a != eps[busiest].addr);
            }
            entry.1 = Instant::now();
        }
        pick
    }
}

#[cfg(test)]
mod tests;
