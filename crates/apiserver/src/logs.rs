//! The `pods/log` subresource: a container's log file (`<namespace>_<pod>_<container>.log`
//! under the data directory's `logs/`, where the node agent writes it in the kubelet's CRI
//! format, `<RFC 3339 time> <stream> <F|P> <text>` per line; the previous run's log beside it
//! as `….previous.log`), with kubectl's `container`, `tailLines`, `limitBytes`, `follow`,
//! `previous`, `timestamps`, `sinceSeconds` and `sinceTime` parameters.

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
    /// Each line prefixed with its time.
    pub timestamps: bool,
    /// Only lines written at or after this time.
    pub since: Option<jiff::Timestamp>,
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
    let since = match (non_negative(query, "sinceSeconds")?, query.get("sinceTime")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "at most one of sinceTime or sinceSeconds may be specified",
            ));
        }
        (Some(secs), None) => Some(
            jiff::Timestamp::now()
                .checked_sub(jiff::SignedDuration::from_secs(
                    i64::try_from(secs).unwrap_or(i64::MAX),
                ))
                .unwrap_or(jiff::Timestamp::MIN),
        ),
        (None, Some(t)) => Some(t.parse::<jiff::Timestamp>().map_err(|e| {
            ApiError::bad_request(format!("sinceTime: {t:?} is not an RFC 3339 time: {e}"))
        })?),
        (None, None) => None,
    };
    let container = container_of(&pod, name, query.get("container"))?;
    let status = pod["status"]["containerStatuses"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == container.as_str()));
    let previous = query.flag("previous");
    let path = if previous {
        state
            .log_dir
            .join(format!("{ns}_{name}_{container}.previous.log"))
    } else {
        state.log_dir.join(format!("{ns}_{name}_{container}.log"))
    };
    let restarted = status.is_some_and(|s| s["restartCount"].as_u64().unwrap_or(0) > 0);
    if previous && (!restarted || !path.exists()) {
        return Err(ApiError::bad_request(format!(
            "previous terminated container \"{container}\" in pod \"{name}\" not found"
        )));
    }
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
        // The previous run has ended: nothing more will come.
        follow: query.flag("follow") && !previous,
        tail_lines: non_negative(query, "tailLines")?.map(|n| n as usize),
        limit_bytes: non_negative(query, "limitBytes")?,
        timestamps: query.flag("timestamps"),
        since,
    })
}

/// The container a pod subresource request is about: the one named, or the only one; as
/// kube-apiserver words it when neither works.
pub(crate) fn container_of(
    pod: &serde_json::Value,
    name: &str,
    asked: Option<&str>,
) -> Result<String, ApiError> {
    let containers: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .map(|cs| cs.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    match asked.filter(|c| !c.is_empty()) {
        Some(c) if containers.contains(&c) => Ok(c.to_owned()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}"
        ))),
        None if containers.len() == 1 => Ok(containers[0].to_owned()),
        None => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {name}, choose one of: [{}]",
            containers.join(" ")
        ))),
    }
}

/// One record of a CRI-format log.
#[derive(Debug, PartialEq, Eq)]
struct Record<'a> {
    /// The time as written, and parsed.
    time: Option<(&'a [u8], jiff::Timestamp)>,
    /// The output.
    text: &'a [u8],
    /// Whether it ends a line (`F`), or is part of a longer one (`P`).
    full: bool,
}

/// A line of the log file (without its newline); a line not in CRI format is taken whole.
fn record(line: &[u8]) -> Record<'_> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let (Some(time), Some(_stream), Some(tag), text) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Record {
            time: None,
            text: line,
            full: true,
        };
    };
    let parsed = std::str::from_utf8(time)
        .ok()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    match (parsed, tag) {
        (Some(ts), b"F" | b"P") => Record {
            time: Some((time, ts)),
            text: text.unwrap_or_default(),
            full: tag == b"F",
        },
        _ => Record {
            time: None,
            text: line,
            full: true,
        },
    }
}

/// The output for the complete lines in `raw`: `since` applied, then the last `tail` lines,
/// each with its time if `timestamps`.
fn render(raw: &[u8], req: &LogRequest, tail: Option<usize>) -> Vec<u8> {
    let mut records: Vec<Record<'_>> = raw
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(record)
        .filter(|r| match (req.since, r.time) {
            (Some(since), Some((_, ts))) => ts >= since,
            _ => true,
        })
        .collect();
    if let Some(n) = tail {
        // Keep the records of the last n lines (a line's partial records go with it).
        let mut full = 0;
        let mut start = records.len();
        for (i, r) in records.iter().enumerate().rev() {
            if r.full {
                if full == n {
                    break;
                }
                full += 1;
            }
            start = i;
        }
        if n == 0 {
            start = records.len();
        }
        records.drain(..start);
    }
    let mut out = Vec::new();
    let mut line_start = true;
    for r in records {
        if req.timestamps
            && line_start
            && let Some((time, _)) = r.time
        {
            out.extend_from_slice(time);
            out.push(b' ');
        }
        out.extend_from_slice(r.text);
        if r.full {
            out.push(b'\n');
        }
        line_start = r.full;
    }
    out
}

/// The part of `text` made of whole lines.
fn complete(text: &[u8]) -> &[u8] {
    text.iter()
        .rposition(|b| *b == b'\n')
        .map_or(&[][..], |i| &text[..=i])
}

/// The log's current content, cut by `sinceSeconds`/`sinceTime`, `tailLines` and
/// `limitBytes`, and the file offset reached (the end of its last whole line).
pub fn read(req: &LogRequest) -> Result<(Bytes, u64), ApiError> {
    let mut text = Vec::new();
    std::fs::File::open(&req.path)
        .and_then(|mut f| f.read_to_end(&mut text))
        .map_err(|e| ApiError::internal(format!("reading {}: {e}", req.path.display())))?;
    let whole = complete(&text);
    let end = whole.len() as u64;
    let mut out = render(whole, req, req.tail_lines);
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
        if let Ok(chunk) = chunk
            && !complete(&chunk).is_empty()
        {
            // Whole lines only; the rest is read again next time.
            let whole = complete(&chunk);
            offset += whole.len() as u64;
            let mut chunk = render(whole, &req, None);
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
    fn records_tails_timestamps_and_since() {
        let raw = b"2026-12-05T08:00:00.1Z stdout F a\n2026-12-05T08:00:01Z stderr P b1\n2026-12-05T08:00:01.5Z stderr F b2\n2026-12-05T08:00:02Z stdout F c\nplain old line\n";
        let req = |tail, timestamps, since: Option<&str>| LogRequest {
            path: PathBuf::new(),
            key: String::new(),
            uid: String::new(),
            follow: false,
            tail_lines: tail,
            limit_bytes: None,
            timestamps,
            since: since.map(|s| s.parse().expect("time")),
        };
        let out = |r: LogRequest| String::from_utf8(render(raw, &r, r.tail_lines)).expect("utf8");
        assert_eq!(out(req(None, false, None)), "a\nb1b2\nc\nplain old line\n");
        assert_eq!(out(req(Some(2), false, None)), "c\nplain old line\n");
        assert_eq!(out(req(Some(3), false, None)), "b1b2\nc\nplain old line\n");
        assert_eq!(out(req(Some(0), false, None)), "");
        assert_eq!(
            out(req(Some(3), true, None)),
            "2026-12-05T08:00:01Z b1b2\n2026-12-05T08:00:02Z c\nplain old line\n"
        );
        // Lines without a time are kept by since (they cannot be judged).
        assert_eq!(
            out(req(None, false, Some("2026-12-05T08:00:01.2Z"))),
            "b2\nc\nplain old line\n"
        );
        assert_eq!(complete(b"a\nb"), b"a\n");
        assert_eq!(complete(b"ab"), b"");
    }
}
