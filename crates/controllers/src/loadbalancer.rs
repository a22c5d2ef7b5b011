//! LoadBalancer address assignment, like MetalLB's controller: each `type: LoadBalancer`
//! Service gets one IPv4 address from the configured pools in `status.loadBalancer.ingress`;
//! a Service asking for a specific address (`spec.loadBalancerIP` or the annotation
//! `metallb.io/loadBalancerIPs`) gets it when free; with the pools exhausted the Service stays
//! without an address (`<pending>`). Addresses return to the pool when the Service is deleted
//! or changes type.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{ObjectReference, Service};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::json;

use events::EventType;

/// The `source.component` of the events this controller writes.
const COMPONENT: &str = "knet-loadbalancer";

/// The address pools and which addresses are in use, by Service (`namespace/name`).
#[derive(Debug, Default)]
pub struct Pool {
    ranges: Vec<(u32, u32)>,
    used: BTreeMap<u32, String>,
    by_service: BTreeMap<String, u32>,
    /// Services already told (by an event) that no address is left, so they are told once.
    pending: BTreeSet<String>,
}

impl Pool {
    /// Parses pools given as CIDRs or `a-b` ranges. The network and broadcast addresses of a
    /// CIDR wider than /31 are skipped, as MetalLB's `avoidBuggyIPs` does.
    pub fn parse(pools: &[String]) -> Result<Pool, String> {
        let mut ranges = Vec::new();
        for p in pools {
            if let Some((a, b)) = p.split_once('-') {
                let a: Ipv4Addr = a.trim().parse().map_err(|_| format!("{p}: bad address"))?;
                let b: Ipv4Addr = b.trim().parse().map_err(|_| format!("{p}: bad address"))?;
                if u32::from(b) < u32::from(a) {
                    return Err(format!("{p}: range ends before it starts"));
                }
                ranges.push((u32::from(a), u32::from(b)));
            } else if let Some((net, len)) = p.split_once('/') {
                let net: Ipv4Addr = net
                    .parse()
                    .map_err(|_| format!("{p}: bad address (IPv4 only)"))?;
                let len: u32 = len
                    .parse()
                    .ok()
                    .filter(|l| *l <= 32)
                    .ok_or(format!("{p}: bad prefix"))?;
                let size = 1u64 << (32 - len);
                let base = u32::from(net) & if len == 0 { 0 } else { u32::MAX << (32 - len) };
                let last = (u64::from(base) + size - 1) as u32;
                if size > 2 {
                    ranges.push((base + 1, last - 1));
                } else {
                    ranges.push((base, last));
                }
            } else {
                let ip: Ipv4Addr = p
                    .parse()
                    .map_err(|_| format!("{p}: want a CIDR or a-b range"))?;
                ranges.push((u32::from(ip), u32::from(ip)));
            }
        }
        Ok(Pool {
            ranges,
            ..Pool::default()
        })
    }

    fn contains(&self, ip: u32) -> bool {
        self.ranges.iter().any(|(a, b)| (*a..=*b).contains(&ip))
    }

    /// The address `service` should have: the one it holds, the one it asks for if free, or
    /// the lowest free one. `None` when the pools cannot serve it.
    pub fn assign(&mut self, service: &str, wanted: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        if let Some(ip) = self.by_service.get(service) {
            if wanted.is_none_or(|w| u32::from(w) == *ip) {
                return Some(Ipv4Addr::from(*ip));
            }
            self.release(service);
        }
        let pick = match wanted {
            Some(w) => {
                let w = u32::from(w);
                (self.contains(w) && !self.used.contains_key(&w)).then_some(w)
            }
            None => self
                .ranges
                .iter()
                .flat_map(|(a, b)| *a..=*b)
                .find(|ip| !self.used.contains_key(ip)),
        }?;
        self.used.insert(pick, service.to_owned());
        self.by_service.insert(service.to_owned(), pick);
        Some(Ipv4Addr::from(pick))
    }

    /// Records an address a Service already holds (at start-up). Returns false if it is not
    /// in a pool or held by another Service.
    pub fn adopt(&mut self, service: &str, ip: Ipv4Addr) -> bool {
        let v = u32::from(ip);
        if !self.contains(v) || self.used.get(&v).is_some_and(|s| s != service) {
            return false;
        }
        self.used.insert(v, service.to_owned());
        self.by_service.insert(service.to_owned(), v);
        true
    }

    /// Returns the Service's address to the pool.
    pub fn release(&mut self, service: &str) {
        if let Some(ip) = self.by_service.remove(service) {
            self.used.remove(&ip);
        }
    }
}

fn key(svc: &Service) -> String {
    format!(
        "{}/{}",
        svc.metadata.namespace.as_deref().unwrap_or_default(),
        svc.metadata.name.as_deref().unwrap_or_default()
    )
}

fn wanted(svc: &Service) -> Option<Ipv4Addr> {
    let ann = svc.metadata.annotations.as_ref().and_then(|a| {
        a.get("metallb.io/loadBalancerIPs")
            .or_else(|| a.get("metallb.universe.tf/loadBalancerIPs"))
    });
    ann.and_then(|v| v.split(',').next())
        .or(svc.spec.as_ref()?.load_balancer_ip.as_deref())
        .and_then(|s| s.trim().parse().ok())
}

fn current(svc: &Service) -> Vec<String> {
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .map(|i| i.iter().filter_map(|x| x.ip.clone()).collect())
        .unwrap_or_default()
}

fn is_lb(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer")
        && svc.metadata.deletion_timestamp.is_none()
}

async fn write_status(client: &kube::Client, svc: &Service, ip: Option<Ipv4Addr>) {
    let ns = svc.metadata.namespace.as_deref().unwrap_or("default");
    let name = svc.metadata.name.as_deref().unwrap_or_default();
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    let ingress = match ip {
        Some(ip) => json!([{"ip": ip.to_string(), "ipMode": "VIP"}]),
        None => json!(null),
    };
    let patch = json!({"status": {"loadBalancer": {"ingress": ingress}}});
    if let Err(err) = api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        tracing::warn!(%err, service = %key(svc), "writing load-balancer status failed");
    }
}

/// Watches Services and keeps their load-balancer addresses assigned. Runs until the watch
/// stream ends (never, in practice: the watcher retries with backoff).
pub async fn run(client: kube::Client, mut pool: Pool) {
    let api: Api<Service> = Api::all(client.clone());
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut initial: Vec<Service> = Vec::new();
    // Services left without an address, retried when one comes free.
    let mut waiting: BTreeMap<String, Service> = BTreeMap::new();
    let mut synced = false;
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(e) => e,
            Err(err) => {
                tracing::debug!(%err, "service watch error; the watcher retries with backoff");
                continue;
            }
        };
        match event {
            watcher::Event::Init => initial.clear(),
            watcher::Event::InitApply(svc) => initial.push(svc),
            watcher::Event::InitDone => {
                // Adopt what is already assigned before handing out anything new.
                let mut fresh = Pool {
                    ranges: pool.ranges.clone(),
                    ..Pool::default()
                };
                for svc in initial.iter().filter(|s| is_lb(s)) {
                    for ip in current(svc) {
                        if let Ok(ip) = ip.parse() {
                            fresh.adopt(&key(svc), ip);
                        }
                    }
                }
                pool = fresh;
                for svc in std::mem::take(&mut initial) {
                    reconcile(&client, &mut pool, &svc).await;
                    remember(&mut waiting, &pool, svc);
                }
                synced = true;
            }
            watcher::Event::Apply(svc) if synced => {
                reconcile(&client, &mut pool, &svc).await;
                remember(&mut waiting, &pool, svc);
            }
            watcher::Event::Delete(svc) => {
                let k = key(&svc);
                waiting.remove(&k);
                pool.pending.remove(&k);
                if pool.by_service.contains_key(&k) {
                    pool.release(&k);
                    // An address came free: give it to whoever has been waiting longest
                    // (in name order, as a stable stand-in).
                    for svc in waiting.values().cloned().collect::<Vec<_>>() {
                        reconcile(&client, &mut pool, &svc).await;
                        remember(&mut waiting, &pool, svc);
                    }
                }
            }
            watcher::Event::Apply(_) => {}
        }
    }
}

fn remember(waiting: &mut BTreeMap<String, Service>, pool: &Pool, svc: Service) {
    let k = key(&svc);
    if pool.pending.contains(&k) {
        waiting.insert(k, svc);
    } else {
        waiting.remove(&k);
    }
}

async fn reconcile(client: &kube::Client, pool: &mut Pool, svc: &Service) {
    let k = key(svc);
    let have = current(svc);
    if !is_lb(svc) {
        pool.release(&k);
        if !have.is_empty() {
            write_status(client, svc, None).await;
        }
        return;
    }
    let ip = pool.assign(&k, wanted(svc));
    let want: Vec<String> = ip.iter().map(|ip| ip.to_string()).collect();
    let newly_pending = ip.is_none() && pool.pending.insert(k.clone());
    if ip.is_some() {
        pool.pending.remove(&k);
    }
    if want != have || newly_pending {
        let regarding = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Service".into()),
            name: svc.metadata.name.clone(),
            namespace: svc.metadata.namespace.clone(),
            uid: svc.metadata.uid.clone(),
            resource_version: svc.metadata.resource_version.clone(),
            ..ObjectReference::default()
        };
        match ip {
            Some(ip) => {
                let msg = format!("Assigned IP [\"{ip}\"]");
                events::record(
                    client,
                    regarding,
                    EventType::Normal,
                    "IPAllocated",
                    &msg,
                    COMPONENT,
                )
                .await;
            }
            None => {
                tracing::warn!(service = %k, "no load-balancer address available; the Service stays pending");
                let msg = format!("Failed to allocate IP for \"{k}\": no available IPs");
                events::record(
                    client,
                    regarding,
                    EventType::Warning,
                    "AllocationFailed",
                    &msg,
                    COMPONENT,
                )
                .await;
            }
        }
        if want != have {
            write_status(client, svc, ip).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_hand_out_lowest_free_and_honour_requests() {
        let mut pool =
            Pool::parse(&["127.240.0.0/30".into(), "10.0.0.5-10.0.0.6".into()]).expect("pools");
        assert_eq!(
            pool.assign("d/a", None),
            Some(Ipv4Addr::new(127, 240, 0, 1))
        );
        assert_eq!(
            pool.assign("d/a", None),
            Some(Ipv4Addr::new(127, 240, 0, 1)),
            "stable"
        );
        assert_eq!(
            pool.assign("d/b", None),
            Some(Ipv4Addr::new(127, 240, 0, 2))
        );
        assert_eq!(
            pool.assign("d/c", Some(Ipv4Addr::new(10, 0, 0, 6))),
            Some(Ipv4Addr::new(10, 0, 0, 6))
        );
        assert_eq!(
            pool.assign("d/d", Some(Ipv4Addr::new(10, 0, 0, 6))),
            None,
            "taken"
        );
        assert_eq!(
            pool.assign("d/e", Some(Ipv4Addr::new(1, 2, 3, 4))),
            None,
            "outside the pools"
        );
        assert_eq!(pool.assign("d/f", None), Some(Ipv4Addr::new(10, 0, 0, 5)));
        assert_eq!(pool.assign("d/g", None), None, "exhausted");
        pool.release("d/a");
        assert_eq!(
            pool.assign("d/g", None),
            Some(Ipv4Addr::new(127, 240, 0, 1))
        );
        assert!(Pool::parse(&["nonsense".into()]).is_err());
    }
}
