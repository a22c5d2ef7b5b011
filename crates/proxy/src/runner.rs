//! The sync runner: watches Services and EndpointSlices, coalesces their changes, and hands a
//! [`ProxyState`] to the mode's [`Dataplane`].
//!
//! As kube-proxy's `BoundedFrequencyRunner`: changes that arrive within `min_sync_interval` of
//! the last sync wait and are synced together; a full sync runs at start, every
//! `full_sync_period`, and after any failed sync, which is retried with a doubling back-off.
//! Nothing is synced before both initial lists are complete, so a starting proxy never
//! programs a half-known cluster.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::runtime::{WatchStreamExt as _, watcher};
use tokio::time::Instant;

use crate::ProxyState;
use crate::endpoints::EndpointsChangeTracker;
use crate::service::{ServiceChangeTracker, ServiceKey};

/// What changed since the last successful sync.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// Services whose ports or endpoints changed (including deleted ones).
    pub services: BTreeSet<ServiceKey>,
    /// Rebuild everything, whatever `services` says.
    pub full: bool,
}

impl Changes {
    /// Everything: a full sync.
    pub fn full() -> Changes {
        Changes {
            services: BTreeSet::new(),
            full: true,
        }
    }

    /// Only `services` changed.
    pub fn of(services: impl IntoIterator<Item = ServiceKey>) -> Changes {
        Changes {
            services: services.into_iter().collect(),
            full: false,
        }
    }
}

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SyncError(pub String);

/// A proxy mode: turns the state into listeners or rules.
pub trait Dataplane: Send {
    /// Makes the data path match `state`. Only the Services in `changes` differ from the last
    /// successful sync, unless `changes.full`.
    fn sync(
        &mut self,
        state: &ProxyState,
        changes: &Changes,
    ) -> impl Future<Output = Result<(), SyncError>> + Send;
}

impl<D: Dataplane> Dataplane for &mut D {
    fn sync(
        &mut self,
        state: &ProxyState,
        changes: &Changes,
    ) -> impl Future<Output = Result<(), SyncError>> + Send {
        (**self).sync(state, changes)
    }
}

/// One dataplane per IP family, synced in turn, as kube-proxy's meta-proxier runs an IPv4 and
/// an IPv6 proxier side by side. Each is tried even when one before it failed; the first
/// error is returned, so the runner retries (with a full sync) as for any failure.
#[derive(Debug)]
pub struct PerFamily<D>(pub Vec<D>);

impl<D: Dataplane> Dataplane for PerFamily<D> {
    async fn sync(&mut self, state: &ProxyState, changes: &Changes) -> Result<(), SyncError> {
        let mut first = None;
        for d in &mut self.0 {
            if let Err(err) = d.sync(state, changes).await {
                first.get_or_insert(err);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// How often the runner syncs.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// The least time between two syncs.
    pub min_sync_interval: Duration,
    /// How often everything is rebuilt, changed or not.
    pub full_sync_period: Duration,
    /// The first retry delay after a failed sync (doubling up to 30 s).
    pub retry_backoff: Duration,
    /// This node's name (healthCheckNodePort answers count its endpoints).
    pub node_name: String,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            min_sync_interval: Duration::from_millis(10),
            full_sync_period: Duration::from_secs(3600),
            retry_backoff: Duration::from_millis(100),
            node_name: String::new(),
        }
    }
}

/// Sync bookkeeping others read (the health server).
#[derive(Debug, Default)]
pub struct SyncStatus {
    inner: std::sync::Mutex<StatusInner>,
}

#[derive(Debug, Default)]
struct StatusInner {
    last_success: Option<std::time::Instant>,
    pending_since: Option<std::time::Instant>,
    syncs: u64,
}

impl SyncStatus {
    fn lock(&self) -> std::sync::MutexGuard<'_, StatusInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When the last sync succeeded.
    pub fn last_success(&self) -> Option<std::time::Instant> {
        self.lock().last_success
    }

    /// Since when changes have waited to be synced, if any wait.
    pub fn pending_since(&self) -> Option<std::time::Instant> {
        self.lock().pending_since
    }

    /// Successful syncs so far.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }
}

enum Event {
    Service(Box<watcher::Event<Service>>),
    Slice(Box<watcher::Event<EndpointSlice>>),
    Pod(Box<watcher::Event<Pod>>),
}

/// A pod's key and its weight annotation, if it has a valid one.
fn pod_weight(pod: &Pod) -> ((String, String), Option<u32>) {
    let key = (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    );
    let raw = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(crate::WEIGHT_ANNOTATION));
    let weight = raw.and_then(|w| match w.parse::<u32>() {
        Ok(n) if n >= 1 => Some(n),
        _ => {
            tracing::warn!(pod = %format!("{}/{}", key.0, key.1), weight = %w, "knet.dev/weight must be a positive integer; using 1");
            None
        }
    });
    (key, weight)
}

/// Spawns a task that forwards `stream` into `tx`, so the watch keeps reading while a sync
/// runs.
fn forward<T: Send + 'static>(
    stream: impl futures::Stream<Item = Result<T, watcher::Error>> + Send + 'static,
    wrap: fn(T) -> Event,
    tx: tokio::sync::mpsc::UnboundedSender<Event>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(ev) => {
                    if tx.send(wrap(ev)).is_err() {
                        return;
                    }
                }
                Err(err) => tracing::debug!(%err, "proxy watch error; retrying with backoff"),
            }
        }
    })
}

/// The watched objects and what is known of them.
#[derive(Default)]
struct Trackers {
    services: ServiceChangeTracker,
    slices: EndpointsChangeTracker,
    services_init: Vec<Service>,
    slices_init: Vec<EndpointSlice>,
    services_synced: bool,
    slices_synced: bool,
    weights: std::collections::BTreeMap<(String, String), u32>,
    weights_init: std::collections::BTreeMap<(String, String), u32>,
    weights_changed: bool,
    pods_synced: bool,
}

impl Trackers {
    fn take(&mut self, ev: Event) {
        match ev {
            Event::Service(ev) => match *ev {
                watcher::Event::Init => self.services_init.clear(),
                watcher::Event::InitApply(s) => self.services_init.push(s),
                watcher::Event::InitDone => {
                    self.services
                        .replace_all(&std::mem::take(&mut self.services_init));
                    self.services_synced = true;
                }
                watcher::Event::Apply(s) => self.services.update(&s),
                watcher::Event::Delete(s) => self.services.delete(&s),
            },
            Event::Slice(ev) => match *ev {
                watcher::Event::Init => self.slices_init.clear(),
                watcher::Event::InitApply(s) => self.slices_init.push(s),
                watcher::Event::InitDone => {
                    self.slices
                        .replace_all(&std::mem::take(&mut self.slices_init));
                    self.slices_synced = true;
                }
                watcher::Event::Apply(s) => self.slices.update(&s),
                watcher::Event::Delete(s) => self.slices.delete(&s),
            },
            Event::Pod(ev) => match *ev {
                watcher::Event::Init => self.weights_init.clear(),
                watcher::Event::InitApply(p) => {
                    if let (k, Some(w)) = pod_weight(&p) {
                        self.weights_init.insert(k, w);
                    }
                }
                watcher::Event::InitDone => {
                    let new = std::mem::take(&mut self.weights_init);
                    self.weights_changed |= new != self.weights;
                    self.weights = new;
                    self.pods_synced = true;
                }
                watcher::Event::Apply(p) => {
                    let (k, w) = pod_weight(&p);
                    let old = match w {
                        Some(w) => self.weights.insert(k, w),
                        None => self.weights.remove(&k),
                    };
                    self.weights_changed |= old != w;
                }
                watcher::Event::Delete(p) => {
                    let (k, _) = pod_weight(&p);
                    self.weights_changed |= self.weights.remove(&k).is_some();
                }
            },
        }
    }

    fn state(&self) -> ProxyState {
        ProxyState {
            services: self.services.ports().cloned().collect(),
            endpoints: self
                .slices
                .endpoints()
                .into_iter()
                .map(|(k, v)| (k, Arc::new(v)))
                .collect(),
            pod_weights: Arc::new(self.weights.clone()),
        }
    }
}

/// Runs `dataplane` against the cluster behind `client` until `shutdown` resolves.
pub async fn run<D: Dataplane>(
    config: RunnerConfig,
    client: kube::Client,
    mut dataplane: D,
    status: Arc<SyncStatus>,
    mut health: Option<crate::health::Health>,
    metrics: Arc<crate::metrics::Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let mut triggers: Vec<jiff::Timestamp> = Vec::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watches = [
        forward(
            watcher::watcher(Api::<Service>::all(client.clone()), Default::default())
                .default_backoff(),
            |e| Event::Service(Box::new(e)),
            tx.clone(),
        ),
        forward(
            watcher::watcher(
                Api::<EndpointSlice>::all(client.clone()),
                Default::default(),
            )
            .default_backoff(),
            |e| Event::Slice(Box::new(e)),
            tx.clone(),
        ),
        forward(
            watcher::watcher(Api::<Pod>::all(client), Default::default()).default_backoff(),
            |e| Event::Pod(Box::new(e)),
            tx,
        ),
    ];
    let mut shutdown = std::pin::pin!(shutdown);
    let mut t = Trackers::default();
    let mut pending: BTreeSet<ServiceKey> = BTreeSet::new();
    let mut full = true;
    let mut next_full = Instant::now() + config.full_sync_period;
    let mut last_sync: Option<Instant> = None;
    let mut retry_at: Option<Instant> = None;
    let mut backoff = config.retry_backoff;
    loop {
        let wake = retry_at.unwrap_or(next_full);
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => t.take(ev),
                None => break,
            },
            _ = tokio::time::sleep_until(wake) => {
                if retry_at.is_none() {
                    full = true;
                }
            }
            _ = &mut shutdown => break,
        }
        while let Ok(ev) = rx.try_recv() {
            t.take(ev);
        }
        if !(t.services_synced && t.slices_synced && t.pods_synced) {
            continue;
        }
        // A weight changes the endpoint sets of Services the runner cannot name cheaply.
        full |= std::mem::take(&mut t.weights_changed);
        pending.extend(t.services.take_changed());
        pending.extend(t.slices.take_changed());
        triggers.extend(t.slices.take_trigger_times());
        if pending.is_empty() && !full {
            continue;
        }
        if let Some(at) = retry_at
            && Instant::now() < at
        {
            continue;
        }
        status
            .lock()
            .pending_since
            .get_or_insert_with(std::time::Instant::now);
        // Changes close behind the last sync wait for the interval and go together.
        if let Some(last) = last_sync {
            let wait = (last + config.min_sync_interval).saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
                while let Ok(ev) = rx.try_recv() {
                    t.take(ev);
                }
                pending.extend(t.services.take_changed());
                pending.extend(t.slices.take_changed());
                triggers.extend(t.slices.take_trigger_times());
            }
        }
        let state = t.state();
        let changes = Changes {
            services: pending.clone(),
            full,
        };
        let started = Instant::now();
        match dataplane.sync(&state, &changes).await {
            Ok(()) => {
                tracing::debug!(
                    services = changes.services.len(),
                    full,
                    elapsed_us = started.elapsed().as_micros() as u64,
                    "proxy sync"
                );
                pending.clear();
                metrics
                    .sync_duration
                    .observe(started.elapsed().as_secs_f64());
                let now = jiff::Timestamp::now();
                for t in triggers.drain(..) {
                    let secs = now.duration_since(t).as_secs_f64();
                    metrics.network_programming.observe(secs.max(0.0));
                }
                metrics.last_sync.set(now.as_millisecond() as f64 / 1000.0);
                if full {
                    next_full = Instant::now() + config.full_sync_period;
                }
                full = false;
                retry_at = None;
                backoff = config.retry_backoff;
                last_sync = Some(Instant::now());
                {
                    let mut s = status.lock();
                    s.last_success = Some(std::time::Instant::now());
                    s.pending_since = None;
                    s.syncs += 1;
                }
                if let Some(h) = health.as_mut() {
                    h.update(&state, &config.node_name);
                }
            }
            Err(err) => {
                metrics.sync_failures.inc();
                tracing::warn!(%err, retry_in_ms = backoff.as_millis() as u64, "proxy sync failed; retrying with a full sync");
                full = true;
                retry_at = Some(Instant::now() + backoff);
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
    for w in watches {
        w.abort();
    }
}
