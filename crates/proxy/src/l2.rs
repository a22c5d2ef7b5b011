//! MetalLB's layer-2 mode for load-balancer addresses: the node takes each address on its
//! pod bridge (so it answers ARP for it) and announces it with gratuitous ARP at once, then
//! every 1.1 s for 5 s, as MetalLB's speaker does when it takes an address over.
//!
//! Addresses are added as /32 on the bridge with iproute2 and announced with iputils'
//! `arping -U` (unsolicited ARP); both are removed again when the Service goes or the
//! announcer stops.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::runtime::{WatchStreamExt as _, watcher};

/// When gratuitous ARP goes out after taking an address: at once, then every 1.1 s for 5 s.
pub const ANNOUNCE_AT: [Duration; 5] = [
    Duration::from_millis(0),
    Duration::from_millis(1100),
    Duration::from_millis(2200),
    Duration::from_millis(3300),
    Duration::from_millis(4400),
];

fn lb_ips(svc: &Service) -> Vec<IpAddr> {
    if svc.spec.as_ref().and_then(|s| s.type_.as_deref()) != Some("LoadBalancer") {
        return Vec::new();
    }
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .map(|ing| {
            ing.iter()
                .filter_map(|i| i.ip.as_deref()?.parse().ok())
                .filter(IpAddr::is_ipv4)
                .collect()
        })
        .unwrap_or_default()
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn take(dev: &str, addr: IpAddr) {
    let cidr = format!("{addr}/32");
    if !ip(&["addr", "replace", &cidr, "dev", dev]) {
        tracing::warn!(%addr, dev, "cannot take a load-balancer address");
        return;
    }
    let (dev, a) = (dev.to_owned(), addr.to_string());
    tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        for at in ANNOUNCE_AT {
            tokio::time::sleep_until(start + at).await;
            let sent = tokio::process::Command::new("arping")
                .args(["-U", "-c", "1", "-w", "1", "-I", &dev, &a])
                .output()
                .await;
            if let Err(err) = sent {
                tracing::warn!(%err, "gratuitous ARP needs arping (Debian package iputils-arping)");
                return;
            }
        }
    });
}

fn release(dev: &str, addr: IpAddr) {
    ip(&["addr", "del", &format!("{addr}/32"), "dev", dev]);
}

/// Announces every load-balancer address on `dev` until `shutdown`, then gives them up.
pub async fn run(
    client: kube::Client,
    dev: String,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut events = std::pin::pin!(
        watcher::watcher(Api::<Service>::all(client), Default::default()).default_backoff()
    );
    let mut shutdown = std::pin::pin!(shutdown);
    let mut held: std::collections::BTreeMap<(String, String), Vec<IpAddr>> = Default::default();
    let mut init: std::collections::BTreeMap<(String, String), Vec<IpAddr>> = Default::default();
    loop {
        let ev = tokio::select! {
            ev = events.next() => ev,
            _ = &mut shutdown => break,
        };
        let Some(Ok(ev)) = ev else { continue };
        let key = |s: &Service| {
            (
                s.metadata.namespace.clone().unwrap_or_default(),
                s.metadata.name.clone().unwrap_or_default(),
            )
        };
        let before: BTreeSet<IpAddr> = held.values().flatten().copied().collect();
        match ev {
            watcher::Event::Init => init.clear(),
            watcher::Event::InitApply(s) => {
                init.insert(key(&s), lb_ips(&s));
            }
            watcher::Event::InitDone => held = std::mem::take(&mut init),
            watcher::Event::Apply(s) => {
                held.insert(key(&s), lb_ips(&s));
            }
            watcher::Event::Delete(s) => {
                held.remove(&key(&s));
            }
        }
        let after: BTreeSet<IpAddr> = held.values().flatten().copied().collect();
        for gone in before.difference(&after) {
            release(&dev, *gone);
        }
        for new in after.difference(&before) {
            take(&dev, *new);
        }
    }
    for addr in held.values().flatten() {
        release(&dev, *addr);
    }
}
