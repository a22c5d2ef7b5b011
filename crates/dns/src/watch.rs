//! Keeps the [`Index`] current: kube-rs reflectors of Services, EndpointSlices and Pods, and a
//! task that rebuilds the index after changes (coalesced: one rebuild covers every change
//! that arrived while the previous one ran).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use tokio::sync::Notify;

use crate::index::Index;
use crate::server::State;

/// Watches one kind into a store; `synced` turns true at its first full list.
fn watch<K>(
    api: Api<K>,
    changed: Arc<Notify>,
    synced: Arc<AtomicBool>,
) -> (Store<K>, tokio::task::JoinHandle<()>)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer);
    let task = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(watcher::Event::InitDone) => {
                    synced.store(true, Ordering::Release);
                    changed.notify_one();
                }
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
                Ok(_) => changed.notify_one(),
                Err(err) => tracing::debug!(%err, "dns watch error; retrying with backoff"),
            }
        }
    });
    (reader, task)
}

/// Starts the watches and the rebuilding task; the handles end them when aborted.
pub fn start(client: kube::Client, state: Arc<State>) -> Vec<tokio::task::JoinHandle<()>> {
    let changed = Arc::new(Notify::new());
    let flags: [Arc<AtomicBool>; 3] = Default::default();
    let (services, t1) = watch(
        Api::<Service>::all(client.clone()),
        changed.clone(),
        flags[0].clone(),
    );
    let (slices, t2) = watch(
        Api::<EndpointSlice>::all(client.clone()),
        changed.clone(),
        flags[1].clone(),
    );
    let (pods, t3) = watch(Api::<Pod>::all(client), changed.clone(), flags[2].clone());
    let rebuild = tokio::spawn(async move {
        loop {
            changed.notified().await;
            if !flags.iter().all(|f| f.load(Ordering::Acquire)) {
                continue;
            }
            let (s, e, p) = (services.state(), slices.state(), pods.state());
            let started = std::time::Instant::now();
            let index = Index::build(
                s.iter().map(|x| x.as_ref()),
                e.iter().map(|x| x.as_ref()),
                p.iter().map(|x| x.as_ref()),
            );
            tracing::debug!(
                services = index.len(),
                took_us = started.elapsed().as_micros() as u64,
                "dns index rebuilt"
            );
            state.set_index(index);
        }
    });
    vec![t1, t2, t3, rebuild]
}
