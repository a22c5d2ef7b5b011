//! Relaying a TCP connection. Each direction starts by copying through a small buffer, which
//! costs two syscalls per read and no setup; once a read fills the buffer, the direction is
//! carrying bulk data and switches to splice(2): socket → pipe → socket inside the kernel,
//! never copied through user space. A short exchange (a request and a small answer) so never
//! pays for the pipe's creation and teardown. An EOF on one side shuts down the writing half
//! of the other (half-close), and the relay ends when both directions have.

use std::io;
use std::os::fd::AsRawFd as _;
use std::sync::atomic::{AtomicU8, Ordering};

use nix::fcntl::{OFlag, SpliceFFlags, splice};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// The most moved per splice call (the default pipe capacity).
const CHUNK: usize = 1 << 16;

/// The copy buffer. A read that fills it marks the direction as bulk.
const COPY_BUF: usize = 16 << 10;

fn errno(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Writes all of `buf` to `to`.
async fn write_all(to: &TcpStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        to.writable().await?;
        match to.try_write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(m) => buf = &buf[m..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Copies from `from` to `to` through a buffer until `from` ends (`true`) or a read fills the
/// buffer (`false`: bulk, the caller goes on with splice).
/// The buffer is read into while uninitialized, so a connection never pays for zeroing it.
/// Every read goes through tokio's readiness, which the first wait usually finds set already
/// (the client's request arrives while the upstream connect is in flight); reading around it
/// would leave that readiness stale and cost a failed read later.
async fn copy_until_bulk(from: &TcpStream, to: &TcpStream, total: &mut u64) -> io::Result<bool> {
    let mut buf = Vec::with_capacity(COPY_BUF);
    loop {
        from.readable().await?;
        buf.clear();
        // A read shorter than the buffer drained the socket (epoll is edge-triggered), so it
        // is reported to the outer `try_io` as WouldBlock, which clears the readiness it
        // sampled before the read, exactly as tokio's own `poll_read` does. Without this the
        // next wait would find the readiness still set and pay for a read that fails.
        let mut got = None;
        let read = from.try_io(Interest::READABLE, || {
            let n = from.try_read_buf(&mut buf)?;
            got = Some(n);
            if n > 0 && n < COPY_BUF {
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                Ok(n)
            }
        });
        let n = match (read, got) {
            (_, Some(n)) => n,
            (Ok(n), None) => n,
            (Err(e), None) if e.kind() == io::ErrorKind::WouldBlock => continue,
            (Err(e), None) => return Err(e),
        };
        if n == 0 {
            return Ok(true);
        }
        write_all(to, &buf).await?;
        *total += n as u64;
        if n == COPY_BUF {
            return Ok(false);
        }
    }
}

/// Moves bytes from `from` to `to` until `from` ends, then half-closes `to`.
/// `done` counts the directions that have ended: when this one ends last, the caller closes
/// both sockets at once, which sends the FIN without a separate shutdown.
async fn one_way(from: &TcpStream, to: &TcpStream, done: &AtomicU8) -> io::Result<u64> {
    let mut total = 0u64;
    let result = async {
        if !copy_until_bulk(from, to, &mut total).await? {
            splice_all(from, to, &mut total).await?;
        }
        Ok(total)
    }
    .await;
    if done.fetch_add(1, Ordering::Relaxed) == 0 {
        // Half-close: the other side sees EOF, and may still answer.
        let _ = nix::sys::socket::shutdown(to.as_raw_fd(), nix::sys::socket::Shutdown::Write);
    }
    result
}

/// Splices from `from` to `to` until `from` ends.
async fn splice_all(from: &TcpStream, to: &TcpStream, total: &mut u64) -> io::Result<()> {
    let (pipe_r, pipe_w) =
        nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).map_err(errno)?;
    let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
    loop {
        from.readable().await?;
        let n = match from.try_io(Interest::READABLE, || {
            splice(from, None, &pipe_w, None, CHUNK, flags).map_err(errno)
        }) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        let mut left = n;
        while left > 0 {
            to.writable().await?;
            match to.try_io(Interest::WRITABLE, || {
                splice(&pipe_r, None, to, None, left, flags).map_err(errno)
            }) {
                Ok(m) => left -= m,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        *total += n as u64;
    }
    Ok(())
}

/// Relays `a` ⇄ `b` until both directions have ended.
pub(crate) async fn relay(a: &TcpStream, b: &TcpStream) -> io::Result<()> {
    let done = AtomicU8::new(0);
    let (up, down) = tokio::join!(one_way(a, b, &done), one_way(b, a, &done));
    up?;
    down?;
    Ok(())
}
