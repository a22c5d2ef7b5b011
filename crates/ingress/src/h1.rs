//! A lean HTTP/1.1 upstream client for the common request: a plain-HTTP backend, no request
//! body, no upgrade. Everything else goes through hyper's client.
//!
//! hyper's client drives each pooled connection on a task of its own and hands requests and
//! responses to it through channels, so every proxied request costs extra task wake-ups. Here
//! the request handler writes the head itself, parses the answer's head with `httparse`, and
//! the response body reads the upstream socket directly while hyper's server polls it. When
//! the body ends cleanly the connection goes back to the worker's pool; a body dropped early
//! (the client went away) closes it.
//!
//! Framing follows RFC 9112 §6.3: no body for HEAD, 1xx, 204 and 304; chunked when the last
//! transfer coding is chunked; else Content-Length; else until the upstream closes. Conflicting
//! Content-Lengths, a Transfer-Encoding other than chunked, and malformed chunks are upstream
//! errors (502), as nginx treats them. Hop-by-hop response headers are not passed on.

use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::{Buf as _, Bytes, BytesMut};
use hyper::body::Frame;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, Response, StatusCode};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

/// An upstream failure: the caller answers 502 (or tries the next endpoint).
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long an idle pooled connection is kept (hyper's pool had the same).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The most idle connections kept per endpoint.
const MAX_IDLE: usize = 256;
/// How often idle connections of every endpoint are checked for expiry and upstream closes.
const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// The largest response head accepted (nginx's `proxy_buffer_size` is far smaller).
const MAX_HEAD: usize = 64 << 10;
/// The most response header fields.
const MAX_HEADERS: usize = 128;
/// The most read from the upstream at once.
const READ_CHUNK: usize = 16 << 10;
/// The longest chunk-size or trailer line.
const MAX_LINE: usize = 4096;

fn bad(msg: &'static str) -> Error {
    msg.into()
}

/// One worker's idle upstream connections, by endpoint.
#[derive(Debug, Default)]
pub struct Pool(Mutex<PoolInner>);

#[derive(Debug, Default)]
struct PoolInner {
    idle: HashMap<SocketAddr, Vec<(TcpStream, Instant)>>,
    swept: Option<Instant>,
}

/// Whether a pooled connection is still usable: nothing arrived on it since its last answer
/// (no EOF, no stray bytes). tokio answers from its readiness without a system call unless an
/// event came in.
fn quiet(s: &TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(s.try_read(&mut b), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

impl Pool {
    fn checkout(&self, addr: SocketAddr) -> Option<TcpStream> {
        let mut inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let list = inner.idle.get_mut(&addr)?;
        while let Some((s, since)) = list.pop() {
            if since.elapsed() < IDLE_TIMEOUT && quiet(&s) {
                return Some(s);
            }
        }
        None
    }

    fn checkin(&self, addr: SocketAddr, s: TcpStream) {
        let mut inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if inner
            .swept
            .is_none_or(|t| now.duration_since(t) >= SWEEP_EVERY)
        {
            inner.swept = Some(now);
            inner.idle.retain(|_, list| {
                list.retain(|(s, since)| now.duration_since(*since) < IDLE_TIMEOUT && quiet(s));
                !list.is_empty()
            });
        }
        let list = inner.idle.entry(addr).or_default();
        if list.len() < MAX_IDLE {
            list.push((s, now));
        }
    }

    /// Idle connections kept now (for tests).
    #[cfg(test)]
    fn idle(&self) -> usize {
        let inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        inner.idle.values().map(Vec::len).sum()
    }
}

/// Reads what `s` has into `buf` (at least `READ_CHUNK` of room). Through tokio's
/// `poll_read`, which takes a short read as a drained socket and clears its readiness, so the
/// next read waits for an event instead of failing with EAGAIN first.
fn poll_fill(
    s: &mut TcpStream,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
) -> Poll<io::Result<usize>> {
    buf.reserve(READ_CHUNK);
    tokio_util::io::poll_read_buf(Pin::new(s), cx, buf)
}

/// The request head in HTTP/1.1 form. Several Cookie fields (as HTTP/2 sends them) become
/// one, joined by "; " (RFC 9113 §8.2.3).
fn head(method: &hyper::Method, target: &str, headers: &HeaderMap) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + headers.len() * 48);
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for name in headers.keys() {
        if name == hyper::header::TRANSFER_ENCODING {
            continue;
        }
        let mut values = headers.get_all(name).iter();
        if name == hyper::header::COOKIE {
            out.extend_from_slice(b"cookie: ");
            for (i, v) in values.enumerate() {
                if i > 0 {
                    out.extend_from_slice(b"; ");
                }
                out.extend_from_slice(v.as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            continue;
        }
        for v in values.by_ref() {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, Error> {
    let s = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| bad("upstream connect timed out"))??;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Why an exchange failed, and whether the request may have reached the upstream's handler.
struct Failed {
    err: Error,
    /// Nothing of an answer came back (a reused connection the upstream had closed).
    unanswered: bool,
}

/// Sends `head` on `s` and reads the answer's head (skipping 1xx interim answers).
async fn exchange(
    s: &mut TcpStream,
    head: &[u8],
    head_request: bool,
) -> Result<(Response<()>, Framing, bool, BytesMut), Failed> {
    let fail = |err: Error, unanswered| Failed { err, unanswered };
    s.write_all(head).await.map_err(|e| fail(e.into(), true))?;
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut answered = false;
    loop {
        let n = poll_fn(|cx| poll_fill(s, cx, &mut buf))
            .await
            .map_err(|e| fail(e.into(), !answered))?;
        if n == 0 {
            return Err(fail(bad("upstream closed before answering"), !answered));
        }
        answered = true;
        // Parse as often as bytes arrive; interim answers are dropped and parsing goes on.
        loop {
            let mut fields = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut []);
            let config = httparse::ParserConfig::default();
            let used =
                match config.parse_response_with_uninit_headers(&mut parsed, &buf, &mut fields) {
                    Ok(httparse::Status::Complete(used)) => used,
                    Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => break,
                    Ok(httparse::Status::Partial) => {
                        return Err(fail(bad("upstream response head too large"), false));
                    }
                    Err(_) => return Err(fail(bad("malformed upstream response head"), false)),
                };
            let code = parsed.code.unwrap_or(0);
            if (100..200).contains(&code) && code != 101 {
                buf.advance(used);
                continue;
            }
            let answer = build(&parsed, head_request).map_err(|e| fail(e, false))?;
            buf.advance(used);
            return Ok((answer.0, answer.1, answer.2, buf));
        }
    }
}

/// The response head, its body's framing and whether the connection may be reused.
fn build(
    parsed: &httparse::Response<'_, '_>,
    head_request: bool,
) -> Result<(Response<()>, Framing, bool), Error> {
    let status = StatusCode::from_u16(parsed.code.unwrap_or(0))
        .map_err(|_| bad("bad upstream status code"))?;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err(bad("upstream switched protocols without being asked"));
    }
    let mut reusable = parsed.version == Some(1);
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut headers = HeaderMap::with_capacity(parsed.headers.len());
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| bad("bad upstream header name"))?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| bad("bad upstream header"))?;
        match name.as_str() {
            "connection" => {
                let v = value.to_str().unwrap_or_default();
                if v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")) {
                    reusable = false;
                }
                continue;
            }
            "transfer-encoding" => {
                let v = value.to_str().unwrap_or_default();
                chunked = v
                    .rsplit(',')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked"));
                if !chunked {
                    return Err(bad("upstream transfer coding is not chunked"));
                }
                continue;
            }
            "content-length" => {
                let n: u64 = value
                    .to_str()
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or_else(|| bad("bad upstream content-length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(bad("conflicting upstream content-lengths"));
                }
                length = Some(n);
            }
            "keep-alive" | "proxy-connection" | "trailer" | "upgrade" | "te" => continue,
            _ => {}
        }
        headers.append(name, value);
    }
    let bodiless = head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let framing = if bodiless {
        Framing::Length(0)
    } else if chunked {
        // A Content-Length beside chunked is dropped (RFC 9112 §6.3), and the connection is
        // not trusted again.
        if headers.remove(hyper::header::CONTENT_LENGTH).is_some() {
            reusable = false;
        }
        Framing::Chunked(Chunk::Size)
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        reusable = false;
        Framing::Eof
    };
    let mut resp = Response::new(());
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    Ok((resp, framing, reusable))
}

/// Sends a bodiless request to `addr` (a pooled connection if one is idle) and returns the
/// answer with a body that streams from the connection.
pub async fn request(
    pool: &Arc<Pool>,
    addr: SocketAddr,
    connect_timeout: Duration,
    parts: &hyper::http::request::Parts,
    target: &str,
    idempotent: bool,
) -> Result<Response<H1Body>, Error> {
    let head_request = parts.method == hyper::Method::HEAD;
    let bytes = head(&parts.method, target, &parts.headers);
    loop {
        let (mut s, reused) = match pool.checkout(addr) {
            Some(s) => (s, true),
            None => (connect(addr, connect_timeout).await?, false),
        };
        match exchange(&mut s, &bytes, head_request).await {
            Ok((resp, framing, reusable, buf)) => {
                let body = H1Body {
                    stream: Some(s),
                    buf,
                    framing,
                    reusable,
                    pool: pool.clone(),
                    addr,
                };
                return Ok(resp.map(|()| body.settle()));
            }
            // The upstream closed a pooled connection as the request went out (its idle
            // timeout): nothing came back, so an idempotent request goes again, on another
            // pooled or a new connection. Any other is not sent twice (nginx's rule).
            Err(f) if reused && f.unanswered && idempotent => continue,
            Err(f) => return Err(f.err),
        }
    }
}

/// How the response body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// This many bytes are left.
    Length(u64),
    Chunked(Chunk),
    /// Until the upstream closes.
    Eof,
    Done,
}

/// Where a chunked body's decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// At a chunk-size line.
    Size,
    /// Inside a chunk's data, with this many bytes left.
    Data(u64),
    /// At the CRLF after a chunk's data.
    DataEnd,
    /// In the trailer section, after the last chunk.
    Trailer,
}

/// A response body read straight from the upstream connection.
#[derive(Debug)]
pub struct H1Body {
    stream: Option<TcpStream>,
    buf: BytesMut,
    framing: Framing,
    reusable: bool,
    pool: Arc<Pool>,
    addr: SocketAddr,
}

impl H1Body {
    /// A body with nothing left to read hands its connection back at once.
    fn settle(mut self) -> H1Body {
        if self.framing == Framing::Length(0) {
            self.finish();
        }
        self
    }

    /// The body ended cleanly: the connection goes back to the pool if it may.
    fn finish(&mut self) {
        self.framing = Framing::Done;
        if let Some(s) = self.stream.take()
            && self.reusable
            && self.buf.is_empty()
        {
            self.pool.checkin(self.addr, s);
        }
    }

    /// The next data frame from what is buffered, or None when more bytes are needed (or the
    /// body has ended: then `framing` is Done).
    fn decode(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            match self.framing {
                Framing::Done => return Ok(None),
                Framing::Length(0) => {
                    self.finish();
                    return Ok(None);
                }
                Framing::Length(n) => {
                    if self.buf.is_empty() {
                        return Ok(None);
                    }
                    let take = n.min(self.buf.len() as u64);
                    let data = self.buf.split_to(take as usize).freeze();
                    self.framing = Framing::Length(n - take);
                    if n == take {
                        self.finish();
                    }
                    return Ok(Some(data));
                }
                Framing::Eof => {
                    return Ok((!self.buf.is_empty()).then(|| self.buf.split().freeze()));
                }
                Framing::Chunked(Chunk::Size) => {
                    let Some(line) = self.line()? else {
                        return Ok(None);
                    };
                    let size = line.split(|b| *b == b';').next().unwrap_or_default();
                    let size = std::str::from_utf8(size)
                        .ok()
                        .map(str::trim)
                        .filter(|s| !s.is_empty() && s.len() <= 16)
                        .and_then(|s| u64::from_str_radix(s, 16).ok())
                        .ok_or_else(|| bad("bad chunk size from upstream"))?;
                    self.framing = Framing::Chunked(if size == 0 {
                        Chunk::Trailer
                    } else {
                        Chunk::Data(size)
                    });
                }
                Framing::Chunked(Chunk::Data(n)) => {
                    if self.buf.is_empty() {
                        return Ok(None);
                    }
                    let take = n.min(self.buf.len() as u64);
                    let data = self.buf.split_to(take as usize).freeze();
                    self.framing = Framing::Chunked(if n == take {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(n - take)
                    });
                    return Ok(Some(data));
                }
                Framing::Chunked(Chunk::DataEnd) => {
                    if self.buf.len() < 2 {
                        return Ok(None);
                    }
                    if &self.buf[..2] != b"\r\n" {
                        return Err(bad("chunk data not followed by CRLF"));
                    }
                    self.buf.advance(2);
                    self.framing = Framing::Chunked(Chunk::Size);
                }
                Framing::Chunked(Chunk::Trailer) => {
                    // Trailer fields are not passed on (nginx does not either).
                    let Some(line) = self.line()? else {
                        return Ok(None);
                    };
                    if line.is_empty() {
                        self.finish();
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// The next CRLF-ended line, taken from the buffer without its CRLF.
    fn line(&mut self) -> Result<Option<Bytes>, Error> {
        match self.buf.windows(2).position(|w| w == b"\r\n") {
            Some(at) => {
                let line = self.buf.split_to(at).freeze();
                self.buf.advance(2);
                Ok(Some(line))
            }
            None if self.buf.len() > MAX_LINE => Err(bad("chunk line too long")),
            None => Ok(None),
        }
    }
}

impl hyper::body::Body for H1Body {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        loop {
            match this.decode() {
                Ok(Some(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(None) if this.framing == Framing::Done => return Poll::Ready(None),
                Ok(None) => {}
                Err(e) => {
                    this.framing = Framing::Done;
                    this.stream = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            let Some(s) = &mut this.stream else {
                return Poll::Ready(None);
            };
            match ready!(poll_fill(s, cx, &mut this.buf)) {
                Ok(0) if this.framing == Framing::Eof => {
                    this.framing = Framing::Done;
                    this.stream = None;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    this.framing = Framing::Done;
                    this.stream = None;
                    return Poll::Ready(Some(Err(bad("upstream closed in the middle of a body"))));
                }
                Ok(_) => {}
                Err(e) => {
                    this.framing = Framing::Done;
                    this.stream = None;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.framing == Framing::Done
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self.framing {
            Framing::Length(n) => hyper::body::SizeHint::with_exact(n),
            Framing::Done => hyper::body::SizeHint::with_exact(0),
            _ => hyper::body::SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests;
