//! A request-smuggling guard in front of the HTTP/1 parser. hyper settles a request that
//! carries both `Content-Length` and `Transfer-Encoding` by dropping the length (RFC 9112
//! §6.3), which keeps knet itself in step, but the client meant something else by it: CL.TE and
//! TE.CL attacks rely on exactly such requests. The guard follows the byte stream request by
//! request (heads, fixed-length and chunked bodies) and replaces a head with both framings by
//! one hyper answers with 400 and a closed connection. HTTP/2 (its preface), upgrades and
//! CONNECT end the inspection: after them the bytes are not HTTP/1 requests.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest request head. The server's HTTP/1 buffer is exactly this size, and a longer
/// head is cut to it (see [`refuse_long`]), so the limit holds whatever the reads' sizes.
pub const MAX_HEAD: usize = 64 * 1024;

/// While a head is awaited, a caller's buffer smaller than this is not read into directly: a
/// head held back in a small buffer would take a system call per few bytes (hyper-util's
/// version check, used before [`Guard::speaks_h2`], read 24). The guard reads [`SCRATCH`]
/// bytes instead and serves them from `pending`.
const SMALL_READ: usize = 1024;
const SCRATCH: usize = 8 * 1024;

/// HTTP/2's connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A head that hyper refuses with 400 (a transfer coding other than chunked at the end).
const REFUSED: &[u8] = b"POST / HTTP/1.1\r\nHost: refused\r\nTransfer-Encoding: refused\r\n\r\n";

#[derive(Debug)]
enum State {
    /// Collecting a request head.
    Head(Vec<u8>),
    /// This many body bytes left.
    Fixed(u64),
    /// A chunk-size line so far.
    ChunkSize(Vec<u8>),
    /// This many chunk bytes left, then CRLF.
    ChunkData(u64),
    /// The CRLF after chunk data (how many bytes of it are left).
    ChunkEnd(u8),
    /// Trailer lines after the last chunk (the current line so far).
    Trailer(Vec<u8>),
    /// No more inspection.
    Through,
    /// A head was refused: nothing more is passed on.
    Refused,
}

/// The guard around a connection.
#[derive(Debug)]
pub struct Guard<IO> {
    inner: IO,
    state: State,
    pending: Vec<u8>,
    eof: bool,
}

impl<IO> Guard<IO> {
    /// Guards `inner`.
    pub fn new(inner: IO) -> Guard<IO> {
        Guard {
            inner,
            state: State::Head(Vec::new()),
            pending: Vec::new(),
            eof: false,
        }
    }
}

/// Where a head ends in `buf` (just past its blank line), if it does.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Passes on the first [`MAX_HEAD`] bytes of a head longer than that, and nothing after it.
/// They hold no end of head, so hyper fills its buffer of that size without finding one and
/// answers 431. (hyper checks its limit only while a head is incomplete: a longer head that
/// arrived whole in one large read would otherwise be taken.)
fn refuse_long(head: &[u8], out: &mut Out<'_>) {
    out.pass(&head[..MAX_HEAD.min(head.len())]);
}

/// What a complete head says about the request that follows.
fn judge(head: &[u8]) -> (Option<State>, bool) {
    // Uninitialized fields: filling 128 empty ones first would write 4 KiB per request.
    let mut headers = [const { std::mem::MaybeUninit::uninit() }; 128];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(head, &mut headers) {
        Ok(httparse::Status::Complete(_)) => {}
        // Not a request hyper would take either (or too many headers): let hyper say so.
        _ => return (Some(State::Through), false),
    }
    let method = req.method.unwrap_or_default();
    if method == "PRI" || method == "CONNECT" {
        return (Some(State::Through), false);
    }
    let has = |name: &str| {
        req.headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case(name))
    };
    let te = has("transfer-encoding");
    let cl = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"));
    if te && cl.is_some() {
        return (None, true);
    }
    let upgrade = has("upgrade");
    if upgrade {
        return (Some(State::Through), false);
    }
    if te {
        return (Some(State::ChunkSize(Vec::new())), false);
    }
    let len = cl
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match (cl, len) {
        (None, _) | (Some(_), Some(0)) => (Some(State::Head(Vec::new())), false),
        (Some(_), Some(n)) => (Some(State::Fixed(n)), false),
        // An unreadable length: hyper refuses it.
        (Some(_), None) => (Some(State::Through), false),
    }
}

/// What a read turns into for hyper. While the guard passes the read's own bytes on in order,
/// nothing is copied: they stay in the caller's buffer and only their count is kept. Once it
/// must add other bytes (a head held from an earlier read, or the refused head), what hyper
/// gets is spilled into a buffer of its own.
struct Out<'a> {
    input: &'a [u8],
    /// Bytes of `input` passed on in place.
    pos: usize,
    spill: Option<Vec<u8>>,
}

impl<'a> Out<'a> {
    fn new(input: &'a [u8]) -> Out<'a> {
        Out {
            input,
            pos: 0,
            spill: None,
        }
    }

    /// Hands `bytes` to hyper.
    fn pass(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.spill.is_none() {
            let here = self.input[self.pos..].as_ptr();
            if std::ptr::eq(bytes.as_ptr(), here) && bytes.len() <= self.input.len() - self.pos {
                self.pos += bytes.len();
                return;
            }
            self.spill = Some(self.input[..self.pos].to_vec());
        }
        if let Some(spill) = &mut self.spill {
            spill.extend_from_slice(bytes);
        }
    }
}

/// What hyper reads of one read: a prefix of it, in place, or other bytes.
enum Fed {
    InPlace(usize),
    Spilled(Vec<u8>),
}

impl<IO> Guard<IO> {
    /// The peer is done: whatever head was held goes on for hyper to judge.
    fn ended(&mut self) {
        if let State::Head(acc) = &mut self.state {
            let held = std::mem::take(acc);
            self.pending.extend_from_slice(&held);
        }
        self.eof = true;
    }

    /// Runs `input` (one read) through the state machine.
    fn feed(&mut self, input: &[u8]) -> Fed {
        let mut out = Out::new(input);
        self.run(input, &mut out);
        match out.spill {
            None => Fed::InPlace(out.pos),
            Some(v) => Fed::Spilled(v),
        }
    }

    fn run(&mut self, mut input: &[u8], out: &mut Out<'_>) {
        while !input.is_empty() {
            match &mut self.state {
                State::Through => {
                    out.pass(input);
                    return;
                }
                State::Refused => return,
                State::Head(acc) => {
                    let head = if acc.is_empty() {
                        // The usual case: the whole head is in this read, judged where it is.
                        match find_head_end(input) {
                            Some(end) => {
                                let head = &input[..end];
                                input = &input[end..];
                                Held::Here(head)
                            }
                            None => {
                                acc.extend_from_slice(input);
                                input = &[];
                                Held::Not
                            }
                        }
                    } else {
                        // Take everything up to the end of the head at once (the search starts
                        // three bytes back, where a terminator split across reads may begin).
                        let from = acc.len().saturating_sub(3);
                        let before = acc.len();
                        acc.extend_from_slice(input);
                        match find_head_end(&acc[from..]).map(|e| from + e) {
                            Some(end) => {
                                // The bytes after the head go round again, in the next state.
                                input = &input[end - before..];
                                acc.truncate(end);
                                Held::Gathered(std::mem::take(acc))
                            }
                            None => {
                                input = &[];
                                Held::Not
                            }
                        }
                    };
                    let head: &[u8] = match &head {
                        Held::Not => {
                            if let State::Head(acc) = &mut self.state
                                && acc.len() > MAX_HEAD
                            {
                                let held = std::mem::take(acc);
                                refuse_long(&held, out);
                                self.state = State::Refused;
                                return;
                            }
                            continue;
                        }
                        Held::Here(h) => h,
                        Held::Gathered(h) => h,
                    };
                    if head.len() > MAX_HEAD {
                        refuse_long(head, out);
                        self.state = State::Refused;
                        return;
                    }
                    // Empty lines between requests are allowed (RFC 9112 §2.2).
                    if head.iter().all(|c| *c == b'\r' || *c == b'\n') {
                        out.pass(head);
                        continue;
                    }
                    let (next, refuse) = judge(head);
                    if refuse {
                        out.pass(REFUSED);
                        self.state = State::Refused;
                        // Nothing after the refused head is passed on: hyper answers 400
                        // and closes.
                        return;
                    }
                    out.pass(head);
                    self.state = next.unwrap_or(State::Through);
                }
                State::Fixed(n) => {
                    let take = (*n).min(input.len() as u64) as usize;
                    out.pass(&input[..take]);
                    input = &input[take..];
                    *n -= take as u64;
                    if *n == 0 {
                        self.state = State::Head(Vec::new());
                    }
                }
                State::ChunkSize(line) => {
                    let b = input[0];
                    out.pass(&input[..1]);
                    input = &input[1..];
                    line.push(b);
                    if b == b'\n' {
                        let text = String::from_utf8_lossy(line);
                        let hex = text.trim().split(';').next().unwrap_or("").trim();
                        match u64::from_str_radix(hex, 16) {
                            Ok(0) => self.state = State::Trailer(Vec::new()),
                            Ok(n) => self.state = State::ChunkData(n),
                            // Bad chunk framing: hyper refuses it.
                            Err(_) => self.state = State::Through,
                        }
                    } else if line.len() > 1024 {
                        self.state = State::Through;
                    }
                }
                State::ChunkData(n) => {
                    let take = (*n).min(input.len() as u64) as usize;
                    out.pass(&input[..take]);
                    input = &input[take..];
                    *n -= take as u64;
                    if *n == 0 {
                        self.state = State::ChunkEnd(2);
                    }
                }
                State::ChunkEnd(left) => {
                    out.pass(&input[..1]);
                    input = &input[1..];
                    *left -= 1;
                    if *left == 0 {
                        self.state = State::ChunkSize(Vec::new());
                    }
                }
                State::Trailer(line) => {
                    let b = input[0];
                    out.pass(&input[..1]);
                    input = &input[1..];
                    line.push(b);
                    if b == b'\n' {
                        let empty = line.len() <= 2;
                        line.clear();
                        if empty {
                            self.state = State::Head(Vec::new());
                        }
                    } else if line.len() > MAX_HEAD {
                        self.state = State::Through;
                    }
                }
            }
        }
    }
}

/// A complete head: found in the read itself, or gathered over several reads.
enum Held<'a> {
    Not,
    Here(&'a [u8]),
    Gathered(Vec<u8>),
}

impl<IO: AsyncRead + Unpin> Guard<IO> {
    /// Reads up to [`SCRATCH`] bytes into the guard's own buffer: what the state machine passes
    /// on is appended to `pending`.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut scratch = [std::mem::MaybeUninit::<u8>::uninit(); SCRATCH];
        let mut into = ReadBuf::uninit(&mut scratch);
        ready!(Pin::new(&mut self.inner).poll_read(cx, &mut into))?;
        let got = into.filled();
        if got.is_empty() {
            self.ended();
            return Poll::Ready(Ok(()));
        }
        match self.feed(got) {
            Fed::InPlace(n) => self.pending.extend_from_slice(&got[..n]),
            Fed::Spilled(v) if self.pending.is_empty() => self.pending = v,
            Fed::Spilled(v) => self.pending.extend_from_slice(&v),
        }
        Poll::Ready(Ok(()))
    }

    /// Waits for the connection's first bytes and tells whether they are HTTP/2's connection
    /// preface (prior knowledge), or else HTTP/1. Like hyper-util's version detection it
    /// settles on HTTP/1 at the first byte that differs from the preface, or at the end of the
    /// stream. The bytes stay in the guard for the server to read, so the server gets the
    /// whole first head in one read.
    pub async fn speaks_h2(&mut self) -> io::Result<bool> {
        std::future::poll_fn(|cx| {
            loop {
                // The bytes so far, in stream order: passed on, then a head still held back.
                let held: &[u8] = match &self.state {
                    State::Head(acc) => acc,
                    _ => &[],
                };
                let seen = self.pending.iter().chain(held).take(H2_PREFACE.len());
                let mut n = 0;
                for (a, b) in seen.zip(H2_PREFACE) {
                    if a != b {
                        return Poll::Ready(Ok(false));
                    }
                    n += 1;
                }
                if n == H2_PREFACE.len() {
                    return Poll::Ready(Ok(true));
                }
                if self.eof || matches!(self.state, State::Refused) {
                    return Poll::Ready(Ok(false));
                }
                ready!(self.poll_fill(cx))?;
            }
        })
        .await
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guard<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending[..n]);
                this.pending.drain(..n);
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            // Only a head is held back across reads; bodies and HTTP/2 read straight through.
            if buf.remaining() < SMALL_READ && matches!(this.state, State::Head(_)) {
                ready!(this.poll_fill(cx))?;
                continue;
            }
            // Read straight into hyper's buffer, then judge the bytes where they are.
            let before = buf.filled().len();
            ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            let got = &buf.filled()[before..];
            if got.is_empty() {
                this.ended();
                continue;
            }
            match this.feed(got) {
                Fed::InPlace(n) => {
                    buf.set_filled(before + n);
                    if n > 0 {
                        return Poll::Ready(Ok(()));
                    }
                    // All of it is a head still arriving: read on.
                }
                Fed::Spilled(v) => {
                    buf.set_filled(before);
                    this.pending = v;
                }
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guard<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What hyper would read when the client sends `input` in pieces of `step` bytes.
    fn through(input: &[u8], step: usize) -> Vec<u8> {
        let mut g = Guard::new(());
        for piece in input.chunks(step) {
            match g.feed(piece) {
                Fed::InPlace(n) => g.pending.extend_from_slice(&piece[..n]),
                Fed::Spilled(v) => g.pending.extend_from_slice(&v),
            }
        }
        if let State::Head(acc) = &mut g.state {
            let held = std::mem::take(acc);
            g.pending.extend_from_slice(&held);
        }
        g.pending
    }

    #[test]
    fn ordinary_requests_pass_unchanged_in_any_pieces() {
        let stream: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\
            POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
            POST /y HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n\
            GET /z HTTP/1.1\r\nHost: a\r\n\r\n";
        for step in [1, 3, 7, 64, 4096] {
            assert_eq!(through(stream, step), stream, "step {step}");
        }
    }

    #[test]
    fn both_framings_are_replaced_by_a_refused_head() {
        for attack in [
            &b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED"[..],
            &b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n"[..],
            // The attack in a later request of the connection.
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST / HTTP/1.1\r\nHost: x\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"[..],
        ] {
            let out = through(attack, 5);
            // The refused head is the last thing hyper reads: the smuggled bytes never arrive.
            assert!(out.ends_with(REFUSED), "{}", String::from_utf8_lossy(&out));
        }
    }

    #[test]
    fn a_head_over_the_limit_is_cut_to_it_in_any_pieces() {
        let mut long = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ".to_vec();
        long.resize(MAX_HEAD + 10, b'a');
        long.extend_from_slice(b"\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n");
        for step in [7, 4096, 8192, long.len()] {
            let out = through(&long, step);
            assert_eq!(out, &long[..MAX_HEAD], "pieces of {step}");
        }
        // At the limit itself, the head passes.
        let mut fits = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ".to_vec();
        fits.resize(MAX_HEAD - 4, b'a');
        fits.extend_from_slice(b"\r\n\r\n");
        assert_eq!(through(&fits, fits.len()), fits);
    }

    /// A peer that sends its bytes `step` at a time, counting the reads it was asked for.
    struct Pieces {
        data: Vec<u8>,
        step: usize,
        reads: usize,
    }

    impl AsyncRead for Pieces {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            this.reads += 1;
            let n = this.step.min(this.data.len()).min(buf.remaining());
            buf.put_slice(&this.data[..n]);
            this.data.drain(..n);
            Poll::Ready(Ok(()))
        }
    }

    async fn read_through(input: &[u8], step: usize) -> Vec<u8> {
        let mut g = Guard::new(Pieces {
            data: input.to_vec(),
            step,
            reads: 0,
        });
        let mut out = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut g, &mut out)
            .await
            .expect("in-memory reads do not fail");
        out
    }

    #[tokio::test]
    async fn reads_in_place_give_hyper_the_same_bytes() {
        let stream: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\
            POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
            POST /y HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n\
            GET /z HTTP/1.1\r\nHost: a\r\n\r\n";
        for step in [1, 2, 9, 30, 64, 4096] {
            assert_eq!(read_through(stream, step).await, stream, "step {step}");
        }
        let attack: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED";
        for step in [1, 7, 4096] {
            let out = read_through(attack, step).await;
            assert!(out.starts_with(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
            assert!(
                out.ends_with(REFUSED),
                "step {step}: {}",
                String::from_utf8_lossy(&out)
            );
        }
    }

    #[tokio::test]
    async fn a_small_first_read_takes_the_whole_head_in_one_read() {
        use tokio::io::AsyncReadExt as _;
        let head = b"GET / HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: a-browser/1.0 (long enough to take several 24-byte reads)\r\nAccept: */*\r\n\r\n";
        let mut g = Guard::new(Pieces {
            data: head.to_vec(),
            step: usize::MAX,
            reads: 0,
        });
        // The server's HTTP/2 preface check, then hyper's own buffer.
        let mut preface = [0u8; 24];
        let n = g.read(&mut preface).await.expect("read");
        assert_eq!(&preface[..n], &head[..n]);
        let mut rest = vec![0u8; 8192];
        let m = g.read(&mut rest).await.expect("read");
        assert_eq!(n + m, head.len());
        assert_eq!(&rest[..m], &head[n..]);
        assert_eq!(g.inner.reads, 1, "the peer was read once");
    }

    #[test]
    fn http2_and_upgrades_are_left_alone() {
        let h2: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04";
        assert_eq!(through(h2, 4), h2);
        let ws: &[u8] = b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello";
        assert_eq!(through(ws, 2), ws);
    }

    #[tokio::test]
    async fn the_version_is_told_from_the_first_bytes_which_stay_to_be_read() {
        use tokio::io::AsyncReadExt as _;
        let h1: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut h2 = H2_PREFACE.to_vec();
        h2.extend_from_slice(b"\x00\x00\x12\x04\x00\x00\x00\x00\x00");
        let cases: [(&[u8], bool); 5] = [
            (h1, false),
            (&h2, true),
            // The preface's first line looks like a head to the guard; the rest follows it.
            (&H2_PREFACE[..18], false),
            (b"PRI * HTTP/1.1\r\n\r\n", false),
            (b"", false),
        ];
        for (input, want) in cases {
            for step in [1, 5, 17, 4096] {
                let mut g = Guard::new(Pieces {
                    data: input.to_vec(),
                    step,
                    reads: 0,
                });
                let got = g.speaks_h2().await.expect("in-memory reads do not fail");
                assert_eq!(
                    got,
                    want,
                    "{:?} in pieces of {step}",
                    String::from_utf8_lossy(input)
                );
                // Whatever was looked at is read back, in order, and nothing else.
                let mut out = Vec::new();
                g.read_to_end(&mut out).await.expect("read");
                assert_eq!(out, input, "pieces of {step}");
            }
        }
        // A head that fits one read is looked at in one read, and served from it.
        let mut g = Guard::new(Pieces {
            data: h1.to_vec(),
            step: usize::MAX,
            reads: 0,
        });
        assert!(!g.speaks_h2().await.expect("read"));
        let mut buf = vec![0u8; 8192];
        let n = g.read(&mut buf).await.expect("read");
        assert_eq!(&buf[..n], h1);
        assert_eq!(g.inner.reads, 1);
    }
}
