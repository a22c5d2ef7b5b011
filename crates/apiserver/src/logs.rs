//! The `pods/log` subresource: a container's log file (`<namespace>_<pod>_<container>.log`
//! under the data directory's `logs/`, where the node agent writes it), with kubectl's
//! `container`, `tailLines`, `limitBytes` and `follow` parameters.
//!
//! The agent appends one file per container across restarts and records no timestamps, so
//! `previous`, `timestamps`, `sinceSeconds` and `sinceTime` are refused with a clear message
//! rather than answered wrongly.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::ApiError;
use crate::rest::{Query, Target};
use crate::server::State;
use bytes::Bytes;

/// How often a followed log is checked for new bytes.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// What a log request resolved to.
#[derive(Debug)]
pub struct LogRequest {
    /// The log file.
    pub path: PathBuf,
    /// The store key of the pod, to notice its deletion while following.
    pub key: String,
    /// The pod's uid, so a new pod of the same name ends a follow.
    pub uid: String,
    /// Keep streaming new bytes.
    pub follow: bool,
    /// Only the last N lines.
    pub tail_lines: Option<usize>,
    /// At most N bytes in all.
    pub limit_bytes: Option<u64>,
}

fn non_negative(query: &Query, name: &str) -> Result<Option<u64>, ApiError> {
    query
        .get(name)
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("{name}: must be a non-negative integer, got {v:?}"))
            })
        })
        .transpose()
}

/// Checks the request against the pod and picks the container.
pub fn resolve(state: &State, t: &Target, query: &Query) -> Result<LogRequest, ApiError> {
    let name = t.name.as_deref().ok_or_else(ApiError::no_route)?;
    let ns = t.namespace.as_deref().unwrap_or("default");
    let key = t.res.key(Some(ns), name);
    let pod = state
        .store
        .get(&key)
        .ok_or_else(|| ApiError::not_found(t.res, name))?;
    for unsupported in ["previous", "timestamps"] {
        if query.flag(unsupported) {
            return Err(ApiError::bad_request(format!(
                "{unsupported}: knet keeps one log per container, across restarts, without timestamps"
            )));
        }
    }
    for unsupported in ["sinceSeconds", "sinceTime"] {
        if query.get(unsupported).is_some() {
            return Err(ApiError::bad_request(format!(
                "{unsupported}: knet records no timestamps in container logs; use tailLines"
            )));
        }
    }
    let containers: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .map(|cs| cs.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    let container = match query.get("container") {
        Some(c) if containers.contains(&c) => c.to_owned(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if containers.len() == 1 => containers[0].to_owned(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    let path = state.log_dir.join(format!("{ns}_{name}_{container}.log"));
    if !path.exists() {
        let waiting = pod["status"]["containerStatuses"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == container.as_str()))
            .and_then(|s| s["state"]["waiting"]["reason"].as_str())
            .unwrap_or("ContainerCreating");
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {waiting}"
        )));
    }
    Ok(LogRequest {
        path,
        key,
        uid: pod["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        follow: query.flag("follow"),
        tail_lines: non_negative(query, "tailLines")?.map(|n| n as usize),
        limit_bytes: non_negative(query, "limitBytes")?,
    })
}

/// The byte offset where the last `lines` lines of `text` start.
fn tail_start(text: &[u8], lines: usize) -> usize {
    if lines == 0 {
        return text.len();
    }
    // A final newline ends the last line rather than starting an empty one.
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    body.iter()
        .enumerate()
        .rev()
        .filter(|(_, b)| **b == b'\n')
        .nth(lines - 1)
        .map_or(0, |(i, _)| i + 1)
}

/// The log's current content, cut by `tailLines` and `limitBytes`, and the file offset
/// reached.
pub fn read(req: &LogRequest) -> Result<(Bytes, u64), ApiError> {
    let mut text = Vec::new();
    std::fs::File::open(&req.path)
        .and_then(|mut f| f.read_to_end(&mut text))
        .map_err(|e| ApiError::internal(format!("reading {}: {e}", req.path.display())))?;
    let end = text.len() as u64;
    let start = req.tail_lines.map_or(0, |n| tail_start(&text, n));
    let mut out = text.split_off(start);
    if let Some(limit) = req.limit_bytes {
        out.truncate(limit.min(out.len() as u64) as usize);
    }
    Ok((Bytes::from(out), end))
}

/// Streams what `follow` adds after `offset` into `tx` until the pod is gone (or replaced),
/// the server stops, the client leaves, or `limitBytes` is reached.
pub async fn follow(
    state: std::sync::Arc<State>,
    req: LogRequest,
    mut offset: u64,
    mut sent: u64,
    tx: tokio::sync::mpsc::Sender<Bytes>,
) {
    let mut shutdown = state.shutdown.clone();
    loop {
        if req.limit_bytes.is_some_and(|l| sent >= l) || *shutdown.borrow() {
            return;
        }
        let chunk = std::fs::File::open(&req.path).and_then(|mut f| {
            let len = f.metadata()?.len();
            if len < offset {
                // The file was replaced (a new pod of the same name): start over.
                offset = 0;
            }
            f.seek(SeekFrom::Start(offset))?;
            let mut buf = Vec::new();
            f.take(len - offset).read_to_end(&mut buf)?;
            Ok(buf)
        });
        if let Ok(mut chunk) = chunk
            && !chunk.is_empty()
        {
            offset += chunk.len() as u64;
            if let Some(l) = req.limit_bytes {
                chunk.truncate((l - sent).min(chunk.len() as u64) as usize);
            }
            sent += chunk.len() as u64;
            if tx.send(Bytes::from(chunk)).await.is_err() {
                return;
            }
        }
        let alive = state
            .store
            .get(&req.key)
            .is_some_and(|p| p["metadata"]["uid"] == req.uid.as_str());
        if !alive {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_POLL) => {}
            _ = shutdown.changed() => return,
            _ = tx.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_counts_lines_from_the_end() {
        let text = b"a\nb\nc\n";
        assert_eq!(&text[tail_start(text, 1)..], b"c\n");
        assert_eq!(&text[tail_start(text, 2)..], b"b\nc\n");
        assert_eq!(&text[tail_start(text, 9)..], b"a\nb\nc\n");
        assert_eq!(&text[tail_start(text, 0)..], b"");
        // A last line still being written counts as a line.
        assert_eq!(&b"a\nb"[tail_start(b"a\nb", 1)..], b"b");
    }
}
