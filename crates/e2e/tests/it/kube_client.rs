//! kube-rs against knet: list and watch, durability under `kill -9` with concurrent writers,
//! and a watcher that survives restarts (resuming, or re-listing on 410).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::{Knet, free_port};
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt as _, watcher};

fn service(name: &str) -> Service {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name},
        "spec": {"ports": [{"port": 80}]}
    }))
    .expect("valid service")
}

type Events = tokio::sync::mpsc::UnboundedReceiver<Result<watcher::Event<Service>, String>>;

/// Waits for `name` to be applied; says whether a re-list (`Init`) came first.
async fn seen(rx: &mut Events, name: &str) -> anyhow::Result<bool> {
    let fut = async {
        let mut init = false;
        loop {
            match rx.recv().await {
                Some(Ok(watcher::Event::Init)) => init = true,
                Some(Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)))
                    if s.metadata.name.as_deref() == Some(name) =>
                {
                    return init;
                }
                Some(_) => {}
                None => panic!("watcher ended"),
            }
        }
    };
    Ok(tokio::time::timeout(Duration::from_secs(30), fut).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_relists_after_a_restart_past_the_history_window() -> anyhow::Result<()> {
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let mut k = Knet::up(&["--api-addr", &addr])?;
    let client = k.client().await?;
    let api: Api<Service> = Api::namespaced(client.clone(), "default");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // With backoff, a retry loop against a stopped server sleeps instead of spinning (a task
    // that never yields cannot be cancelled when the test's runtime shuts down).
    let stream = watcher::watcher(api.clone(), watcher::Config::default()).default_backoff();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            let _ = tx.send(ev.map_err(|e| e.to_string()));
        }
    });
    api.create(&PostParams::default(), &service("first"))
        .await?;
    seen(&mut rx, "first").await?;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for i in 0..5 {
        let cm: ConfigMap =
            serde_json::from_value(serde_json::json!({"metadata": {"name": format!("cm{i}")}}))?;
        cms.create(&PostParams::default(), &cm).await?;
    }

    // Restart with a one-revision window: the watcher's resourceVersion is gone, so it must
    // get 410 and re-list.
    let k = tokio::task::spawn_blocking(move || -> anyhow::Result<Knet> {
        k.stop()?;
        k.set_args(&["--api-addr", &addr, "--history-window", "1"]);
        k.restart()?;
        Ok(k)
    })
    .await??;
    api.create(&PostParams::default(), &service("second"))
        .await?;
    let relisted = seen(&mut rx, "second").await?;
    assert!(
        relisted,
        "the watcher re-listed (Init) before seeing the new object"
    );
    drop(k);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() -> anyhow::Result<()> {
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let mut k = Knet::up(&["--api-addr", &addr])?;
    let client = k.client().await?;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    // A raw watch started before the crash.
    let list = cms.list(&Default::default()).await?;
    let start_rv = list.metadata.resource_version.clone().unwrap_or_default();
    let last_seen = Arc::new(Mutex::new(start_rv.clone()));
    let ls = last_seen.clone();
    let watch_api = cms.clone();
    let watch_task = tokio::spawn(async move {
        if let Ok(stream) = watch_api.watch(&WatchParams::default(), &start_rv).await {
            let mut stream = std::pin::pin!(stream);
            while let Some(Ok(ev)) = stream.next().await {
                if let WatchEvent::Added(cm) | WatchEvent::Modified(cm) = ev
                    && let Some(rv) = cm.metadata.resource_version
                {
                    *ls.lock().expect("lock") = rv;
                }
            }
        }
    });

    let acked: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..4 {
        let cms = cms.clone();
        let acked = acked.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..250 {
                let name = format!("w{w}-{i}");
                let cm: ConfigMap = serde_json::from_value(serde_json::json!({
                    "metadata": {"name": name}, "data": {"payload": "x".repeat(200)}
                }))
                .expect("valid");
                match cms.create(&PostParams::default(), &cm).await {
                    Ok(created) => {
                        let rv = created.metadata.resource_version.unwrap_or_default();
                        acked.lock().expect("lock").insert(name, rv);
                    }
                    Err(err) => {
                        eprintln!("writer {w} stopped: {err}");
                        break;
                    }
                }
            }
        }));
    }
    // Kill in the middle of the writes.
    tokio::time::timeout(Duration::from_secs(60), async {
        while acked.lock().expect("lock").len() < 300 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await?;
    tokio::task::block_in_place(|| k.kill9());
    for w in writers {
        let _ = w.await;
    }
    watch_task.abort();
    let acked = acked.lock().expect("lock").clone();
    let resume_from = last_seen.lock().expect("lock").clone();
    assert!(
        acked.len() >= 300 && acked.len() < 1000,
        "killed mid-way: {} acked",
        acked.len()
    );

    tokio::task::block_in_place(|| k.restart())?;
    let client = k.client().await?;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let stored = cms.list(&Default::default()).await?;
    let by_name: BTreeMap<String, (String, Option<String>)> = stored
        .items
        .iter()
        .map(|cm| {
            (
                cm.metadata.name.clone().unwrap_or_default(),
                (
                    cm.metadata.resource_version.clone().unwrap_or_default(),
                    cm.data.as_ref().and_then(|d| d.get("payload").cloned()),
                ),
            )
        })
        .collect();
    for (name, rv) in &acked {
        let (got_rv, payload) = by_name
            .get(name)
            .unwrap_or_else(|| panic!("acknowledged {name} lost"));
        assert_eq!(got_rv, rv, "{name} changed resourceVersion");
        assert_eq!(
            payload.as_deref().map(str::len),
            Some(200),
            "{name} half-written"
        );
    }
    for (name, (_, payload)) in &by_name {
        assert_eq!(
            payload.as_deref().map(str::len),
            Some(200),
            "{name} half-written"
        );
    }

    // The pre-crash watch resumes from its last resourceVersion without a re-list: the next
    // events are exactly the ones after it, ending with a write made now.
    let marker: ConfigMap =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "after-restart"}}))?;
    let marker_rv: u64 = cms
        .create(&PostParams::default(), &marker)
        .await?
        .metadata
        .resource_version
        .unwrap_or_default()
        .parse()?;
    // Every ConfigMap written after `resume_from` must arrive, in order: the acknowledged
    // ones (and any write that landed but whose reply was lost to the kill), then the marker.
    let floor: u64 = resume_from.parse()?;
    let mut expected: Vec<u64> = by_name
        .values()
        .filter_map(|(rv, _)| rv.parse::<u64>().ok())
        .filter(|rv| *rv > floor)
        .collect();
    expected.push(marker_rv);
    expected.sort_unstable();
    let stream = cms.watch(&WatchParams::default(), &resume_from).await?;
    let mut stream = std::pin::pin!(stream);
    let mut got = Vec::new();
    while got.len() < expected.len() {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.next()).await?;
        match next {
            Some(Ok(WatchEvent::Added(cm))) => {
                got.push(
                    cm.metadata
                        .resource_version
                        .unwrap_or_default()
                        .parse::<u64>()?,
                );
            }
            Some(Ok(WatchEvent::Bookmark(_))) => {}
            other => panic!("expected ConfigMap events after {floor}, got {other:?}"),
        }
    }
    assert_eq!(got, expected, "the resumed watch misses or reorders events");
    Ok(())
}
