//! Port-forward over SPDY/3.1: the framing (draft 3.1 of the SPDY protocol), its zlib header
//! compression with the protocol's preset dictionary, and kubectl's port-forward streams on
//! top.
//!
//! kubectl opens two streams per forwarded connection, `streamtype: error` then
//! `streamtype: data`, both with `port: <n>` and a shared `requestid`. Each SYN_STREAM gets a
//! SYN_REPLY at once. Once both of a pair exist, the node agent connects to the port inside
//! the pod; bytes then flow as DATA frames on the data stream, FIN half-closes, and the error
//! stream carries a message if the connection could not be made. It is always ended with a
//! FIN, because kubectl reads it to the end before it lets the connection go.
//!
//! SPDY's flow control (WINDOW_UPDATE) is read and ignored, as the Go implementation that
//! kubectl and the kubelet use ignores it.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::mpsc;

use crate::stream::PodRef;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const FLAG_FIN: u8 = 0x01;
/// RST_STREAM status: the stream's headers were not understood.
const PROTOCOL_ERROR: u32 = 1;
/// The largest frame accepted; kubectl's are far smaller.
const MAX_FRAME: usize = 1 << 20;
/// The largest DATA frame sent.
const CHUNK: usize = 32 * 1024;
/// How long the client may keep sending after the pod's side of a connection ended (as
/// containerd's port-forward allows).
const LINGER: Duration = Duration::from_secs(1);

/// The preset zlib dictionary of SPDY/3 header blocks (§2.6.10.1 of the draft): these names
/// and values, each with a 4-byte big-endian length, then the raw tail.
static DICTIONARY: LazyLock<Vec<u8>> = LazyLock::new(|| {
    const WORDS: &[&str] = &[
        "options",
        "head",
        "post",
        "put",
        "delete",
        "trace",
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "age",
        "allow",
        "authorization",
        "cache-control",
        "connection",
        "content-base",
        "content-encoding",
        "content-language",
        "content-length",
        "content-location",
        "content-md5",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expect",
        "expires",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "pragma",
        "proxy-authenticate",
        "proxy-authorization",
        "range",
        "referer",
        "retry-after",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "vary",
        "via",
        "warning",
        "www-authenticate",
        "method",
        "get",
        "status",
        "200 OK",
        "version",
        "HTTP/1.1",
        "url",
        "public",
        "set-cookie",
        "keep-alive",
        "origin",
    ];
    const TAIL: &str = concat!(
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417",
        "502504505203 Non-Authoritative Information204 No Content301 Moved Permanently",
        "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error",
        "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct ",
        "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,",
        "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,",
        "publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
    );
    let mut out = Vec::with_capacity(1423);
    for w in WORDS {
        out.extend_from_slice(&(w.len() as u32).to_be_bytes());
        out.extend_from_slice(w.as_bytes());
    }
    out.extend_from_slice(TAIL.as_bytes());
    out
});

/// One zlib stream per direction for the whole session, as SPDY/3 requires.
struct HeaderCodec {
    inflate: Decompress,
    deflate: Compress,
}

impl HeaderCodec {
    fn new() -> Self {
        let mut deflate = Compress::new(Compression::default(), true);
        // Cannot fail on a fresh stream.
        let _ = deflate.set_dictionary(&DICTIONARY);
        HeaderCodec {
            inflate: Decompress::new(true),
            deflate,
        }
    }

    /// Decodes one compressed name/value block (names lowercase, several values joined by
    /// NUL).
    fn decode(&mut self, block: &[u8]) -> Result<Vec<(String, String)>, String> {
        let mut raw = Vec::with_capacity(block.len() * 4 + 256);
        let mut input = block;
        loop {
            if raw.capacity() - raw.len() < 1024 {
                raw.reserve(4096);
            }
            let before = self.inflate.total_in();
            match self
                .inflate
                .decompress_vec(input, &mut raw, FlushDecompress::Sync)
            {
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(&DICTIONARY)
                        .map_err(|e| format!("header dictionary: {e}"))?;
                }
                Err(e) => return Err(format!("header block: {e}")),
            }
            let used = (self.inflate.total_in() - before) as usize;
            input = &input[used.min(input.len())..];
            if input.is_empty() && raw.len() < raw.capacity() {
                break;
            }
            if raw.len() > MAX_FRAME {
                return Err("header block too large".into());
            }
        }
        parse_block(&raw)
    }

    /// Encodes a name/value block.
    fn encode(&mut self, pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut raw = Vec::new();
        raw.extend_from_slice(&(pairs.len() as u32).to_be_bytes());
        for (k, v) in pairs {
            for s in [k, v] {
                raw.extend_from_slice(&(s.len() as u32).to_be_bytes());
                raw.extend_from_slice(s.as_bytes());
            }
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut input = &raw[..];
        loop {
            out.reserve(256);
            let before = self.deflate.total_in();
            if self
                .deflate
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .is_err()
            {
                break;
            }
            let used = (self.deflate.total_in() - before) as usize;
            input = &input[used.min(input.len())..];
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        out
    }
}

fn parse_block(raw: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let s = raw
            .get(at..at + n)
            .ok_or_else(|| "truncated header block".to_owned())?;
        at += n;
        Ok(s)
    };
    let u32_at = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let count = u32_at(take(4)?);
    let mut out = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let n = u32_at(take(4)?);
        let name = String::from_utf8_lossy(take(n)?).to_ascii_lowercase();
        let n = u32_at(take(4)?);
        let value = String::from_utf8_lossy(take(n)?).into_owned();
        out.push((name, value));
    }
    Ok(out)
}

/// One frame off the wire.
#[derive(Debug, PartialEq)]
enum Frame {
    Control { kind: u16, flags: u8, body: Vec<u8> },
    Data { stream: u32, flags: u8, data: Bytes },
}

async fn read_frame(r: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Frame> {
    let mut head = [0u8; 8];
    r.read_exact(&mut head).await?;
    let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "SPDY frame too large",
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    let flags = head[4];
    if head[0] & 0x80 != 0 {
        Ok(Frame::Control {
            kind: u16::from_be_bytes([head[2], head[3]]),
            flags,
            body,
        })
    } else {
        Ok(Frame::Data {
            stream: u32::from_be_bytes([head[0], head[1], head[2], head[3]]) & 0x7fff_ffff,
            flags,
            data: Bytes::from(body),
        })
    }
}

fn control(kind: u16, flags: u8, body: &[u8]) -> Vec<u8> {
    let len = (body.len() as u32).to_be_bytes();
    let mut f = vec![
        0x80,
        3,
        (kind >> 8) as u8,
        kind as u8,
        flags,
        len[1],
        len[2],
        len[3],
    ];
    f.extend_from_slice(body);
    f
}

fn data(stream: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let id = (stream & 0x7fff_ffff).to_be_bytes();
    let len = (payload.len() as u32).to_be_bytes();
    let mut f = vec![id[0], id[1], id[2], id[3], flags, len[1], len[2], len[3]];
    f.extend_from_slice(payload);
    f
}

fn u32_of(b: &[u8]) -> u32 {
    match b {
        [a, b, c, d, ..] => u32::from_be_bytes([*a, *b, *c, *d]),
        _ => 0,
    }
}

/// The streams of one forwarded connection, before and after both have arrived.
#[derive(Default)]
struct Pair {
    error: Option<u32>,
    data: Option<u32>,
    port: u16,
}

/// Serves port-forward streams on one SPDY session until the client ends it.
pub async fn port_forward<IO>(io: IO, kubelet: Arc<dyn podio::Kubelet>, pod: PodRef)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    let (out, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    let writer = tokio::spawn(async move {
        while let Some(frame) = out_rx.recv().await {
            if wr.write_all(&frame).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut codec = HeaderCodec::new();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    // Data stream id → the bytes the client sends on it (`None`: its FIN).
    let mut inbound: HashMap<u32, mpsc::Sender<Option<Bytes>>> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let frame = tokio::select! {
            f = read_frame(&mut rd) => match f {
                Ok(f) => f,
                Err(_) => break,
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        match frame {
            Frame::Control {
                kind: SYN_STREAM,
                body,
                ..
            } if body.len() >= 10 => {
                let id = u32_of(&body) & 0x7fff_ffff;
                let headers = match codec.decode(&body[10..]) {
                    Ok(h) => h,
                    Err(err) => {
                        tracing::debug!(%err, "port-forward: bad SPDY headers; ending the session");
                        let mut goaway = id.to_be_bytes().to_vec();
                        goaway.extend_from_slice(&PROTOCOL_ERROR.to_be_bytes());
                        let _ = out.send(control(GOAWAY, 0, &goaway)).await;
                        break;
                    }
                };
                let get = |n: &str| {
                    headers
                        .iter()
                        .find(|(k, _)| k == n)
                        .map(|(_, v)| v.as_str())
                        .unwrap_or("")
                };
                let (kind, port, request) = (get("streamtype"), get("port"), get("requestid"));
                let port = match port.parse::<u16>() {
                    Ok(p) if p > 0 && matches!(kind, "error" | "data") => p,
                    _ => {
                        let mut rst = id.to_be_bytes().to_vec();
                        rst.extend_from_slice(&PROTOCOL_ERROR.to_be_bytes());
                        let _ = out.send(control(RST_STREAM, 0, &rst)).await;
                        continue;
                    }
                };
                let mut reply = id.to_be_bytes().to_vec();
                reply.extend_from_slice(&codec.encode(&[]));
                if out.send(control(SYN_REPLY, 0, &reply)).await.is_err() {
                    break;
                }
                // Clients older than requestid pair streams by port.
                let key = if request.is_empty() {
                    format!("port:{port}")
                } else {
                    request.to_owned()
                };
                let pair = pairs.entry(key.clone()).or_default();
                pair.port = port;
                if kind == "error" {
                    pair.error = Some(id);
                } else {
                    pair.data = Some(id);
                }
                if let (Some(error), Some(data_id)) = (pair.error, pair.data) {
                    pairs.remove(&key);
                    let (tx, rx) = mpsc::channel(64);
                    inbound.insert(data_id, tx);
                    let connect = kubelet.connect(&pod.namespace, &pod.name, &pod.uid, port);
                    tasks.spawn(forward(
                        connect,
                        pod.clone(),
                        port,
                        data_id,
                        error,
                        rx,
                        out.clone(),
                    ));
                }
            }
            Frame::Control {
                kind: PING, body, ..
            } => {
                let _ = out.send(control(PING, 0, &body)).await;
            }
            Frame::Control {
                kind: RST_STREAM,
                body,
                ..
            } => {
                inbound.remove(&(u32_of(&body) & 0x7fff_ffff));
            }
            Frame::Control { kind: GOAWAY, .. } => break,
            // SETTINGS, WINDOW_UPDATE, HEADERS, NOOP: nothing to do.
            Frame::Control { .. } => {}
            Frame::Data {
                stream,
                flags,
                data,
            } => {
                let fin = flags & FLAG_FIN != 0;
                if let Some(tx) = inbound.get(&stream) {
                    let gone = (!data.is_empty() && tx.send(Some(data)).await.is_err())
                        || (fin && tx.send(None).await.is_err());
                    if fin || gone {
                        inbound.remove(&stream);
                    }
                }
            }
        }
    }
    tasks.abort_all();
    drop(out);
    let _ = writer.await;
}

/// One forwarded connection: connect, then copy both ways.
async fn forward(
    connect: std::pin::Pin<
        Box<dyn std::future::Future<Output = std::io::Result<podio::Conn>> + Send>,
    >,
    pod: PodRef,
    port: u16,
    data_id: u32,
    error_id: u32,
    mut from_client: mpsc::Receiver<Option<Bytes>>,
    out: mpsc::Sender<Vec<u8>>,
) {
    let conn = match connect.await {
        Ok(c) => c,
        Err(err) => {
            let message = format!(
                "error forwarding port {port} to pod {}, uid {}: {err}",
                pod.name, pod.uid
            );
            let _ = out.send(data(error_id, 0, message.as_bytes())).await;
            let _ = out.send(data(error_id, FLAG_FIN, &[])).await;
            let _ = out.send(data(data_id, FLAG_FIN, &[])).await;
            return;
        }
    };
    let _ = conn.set_nodelay(true);
    let (mut r, mut w) = conn.into_split();
    let up = async move {
        while let Some(chunk) = from_client.recv().await {
            match chunk {
                Some(b) => {
                    if w.write_all(&b).await.is_err() {
                        return;
                    }
                }
                None => break,
            }
        }
        let _ = w.shutdown().await;
    };
    let out2 = out.clone();
    let down = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if out2.send(data(data_id, 0, &buf[..n])).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = out2.send(data(data_id, FLAG_FIN, &[])).await;
    };
    tokio::pin!(up);
    tokio::pin!(down);
    tokio::select! {
        _ = &mut up => {
            // The client is done sending; the pod's answer may still be coming.
            down.await;
        }
        _ = &mut down => {
            let _ = tokio::time::timeout(LINGER, up).await;
        }
    }
    let _ = out.send(data(error_id, FLAG_FIN, &[])).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_is_the_drafts() {
        assert_eq!(DICTIONARY.len(), 1423);
        assert_eq!(&DICTIONARY[..11], b"\0\0\0\x07options");
        assert!(DICTIONARY.ends_with(b"enq=0."));
        // Its Adler-32 is the DICTID every SPDY/3 peer puts in its zlib header.
        let (mut a, mut b) = (1u32, 0u32);
        for &byte in DICTIONARY.iter() {
            a = (a + u32::from(byte)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!((b << 16) | a, 0xe3c6_a7c2);
    }

    #[test]
    fn header_blocks_round_trip_across_one_zlib_stream() {
        let (mut client, mut server) = (HeaderCodec::new(), HeaderCodec::new());
        for port in ["8080", "9090"] {
            let block = client.encode(&[("streamtype", "data"), ("port", port)]);
            let h = server.decode(&block).expect("decodes");
            assert_eq!(
                h,
                vec![
                    ("streamtype".to_owned(), "data".to_owned()),
                    ("port".to_owned(), port.to_owned())
                ]
            );
        }
        assert!(parse_block(&[0, 0, 0, 1, 0, 0, 0, 9]).is_err());
    }

    #[tokio::test]
    async fn frames_are_read_as_written() {
        let mut wire = control(PING, 0, &7u32.to_be_bytes());
        wire.extend_from_slice(&data(5, FLAG_FIN, b"hi"));
        let mut r = &wire[..];
        assert_eq!(
            read_frame(&mut r).await.expect("ping"),
            Frame::Control {
                kind: PING,
                flags: 0,
                body: 7u32.to_be_bytes().to_vec()
            }
        );
        assert_eq!(
            read_frame(&mut r).await.expect("data"),
            Frame::Data {
                stream: 5,
                flags: FLAG_FIN,
                data: Bytes::from_static(b"hi")
            }
        );
    }
}
