//! Watch streams: a chunked HTTP body of `{"type":…,"object":…}` lines fed from a store watch,
//! filtered by selectors (a change that leaves the selection is sent as `DELETED`), rendered as
//! JSON or one-row Tables, with bookmarks, `timeoutSeconds`, and an `ERROR` event carrying
//! `410 Expired` when the requested revision is compacted.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::convert;
use crate::error::ApiError;
use crate::resource::Resource;
use crate::rest::{Filter, Query, Rendering, Target};
use crate::server::State;
use crate::table::{self, TableOptions};

/// How often a bookmark is sent to clients that allow them.
const BOOKMARK_EVERY: Duration = Duration::from_secs(10);

struct Encoder {
    res: &'static Resource,
    rendering: Rendering,
    headers_sent: bool,
}

impl Encoder {
    fn line(&mut self, kind: &str, stored: &Value) -> Bytes {
        let served = convert::from_storage(self.res, stored);
        let object = match self.rendering {
            Rendering::Json => served,
            Rendering::Table(include) => {
                let rv = crate::object::resource_version(&served).to_owned();
                let t = table::table(
                    self.res.kind,
                    &[&served],
                    &TableOptions {
                        now: jiff::Timestamp::now(),
                        include_object: include,
                        no_headers: self.headers_sent,
                        resource_version: rv,
                    },
                );
                self.headers_sent = true;
                t
            }
        };
        let mut buf =
            serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
        buf.push(b'\n');
        Bytes::from(buf)
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({
            "kind": self.res.kind,
            "apiVersion": self.res.api_version(),
            "metadata": meta,
        });
        let mut buf =
            serde_json::to_vec(&json!({"type": "BOOKMARK", "object": object})).unwrap_or_default();
        buf.push(b'\n');
        Bytes::from(buf)
    }
}

fn error_line(err: &ApiError) -> Bytes {
    let mut buf =
        serde_json::to_vec(&json!({"type": "ERROR", "object": err.status()})).unwrap_or_default();
    buf.push(b'\n');
    Bytes::from(buf)
}

/// Starts a watch and returns the receiving end of its body chunks.
pub fn start(
    state: &Arc<State>,
    t: &Target,
    query: &Query,
    rendering: Rendering,
) -> Result<mpsc::Receiver<Bytes>, ApiError> {
    let filter = Filter::from_query(t.res, query)?;
    let prefix = t.res.prefix(t.namespace.as_deref());
    let rv = query.get("resourceVersion").unwrap_or("");
    let send_initial = query.flag("sendInitialEvents");
    let bookmarks = query.flag("allowWatchBookmarks");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let mut enc = Encoder {
        res: t.res,
        rendering,
        headers_sent: false,
    };
    let (tx, rx) = mpsc::channel::<Bytes>(64);

    let (initial, watch) = if rv.is_empty() || rv == "0" || send_initial {
        let (snapshot, watch) = state.store.list_and_watch(&prefix);
        let initial: Vec<_> = snapshot
            .items
            .into_iter()
            .filter(|(_, v)| filter.matches(v))
            .map(|(_, v)| v)
            .collect();
        (Some((initial, snapshot.rev)), Ok(watch))
    } else {
        let after: u64 = rv
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv:?}")))?;
        (None, state.store.watch(&prefix, after))
    };
    let mut watch = match watch {
        Ok(w) => w,
        Err(err) => {
            // Kubernetes answers a too-old watch with a 200 stream holding one ERROR event.
            let line = error_line(&ApiError::from(err));
            tokio::spawn(async move {
                let _ = tx.send(line).await;
            });
            return Ok(rx);
        }
    };
    let mut shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        if let Some((items, rev)) = initial {
            for obj in items {
                if tx.send(enc.line("ADDED", &obj)).await.is_err() {
                    return;
                }
            }
            if send_initial && tx.send(enc.bookmark(rev, true)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = shutdown.changed() => return,
                _ = ticker.tick(), if bookmarks => {
                    if tx.send(enc.bookmark(watch.last_revision(), false)).await.is_err() {
                        return;
                    }
                }
                event = watch.next() => {
                    let event = match event {
                        Ok(e) => e,
                        Err(err) => {
                            let _ = tx.send(error_line(&ApiError::from(err))).await;
                            return;
                        }
                    };
                    let now = filter.matches(&event.value);
                    let line = match event.kind {
                        store::EventType::Added => now.then(|| enc.line("ADDED", &event.value)),
                        store::EventType::Deleted => now.then(|| enc.line("DELETED", &event.value)),
                        store::EventType::Modified => {
                            let before = event.prev.as_deref().map(|p| filter.matches(p)).unwrap_or(now);
                            match (before, now) {
                                (true, true) => Some(enc.line("MODIFIED", &event.value)),
                                (false, true) => Some(enc.line("ADDED", &event.value)),
                                (true, false) => {
                                    // Leaving the selection: the old object, at the new revision.
                                    let mut old = event.prev.as_deref().cloned().unwrap_or_default();
                                    crate::object::meta_mut(&mut old).insert(
                                        "resourceVersion".into(),
                                        json!(event.rev.to_string()),
                                    );
                                    Some(enc.line("DELETED", &old))
                                }
                                (false, false) => None,
                            }
                        }
                    };
                    if let Some(line) = line
                        && tx.send(line).await.is_err() {
                            return;
                        }
                }
            }
        }
    });
    Ok(rx)
}
