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
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, Interest};
use tokio::net::TcpStream;
use tokio::net::tcp::{ReadHalf, WriteHalf};

/// The most moved per splice call (the default pipe capacity).
const CHUNK: usize = 1 << 16;

/// The copy buffer. A read that fills it marks the direction as bulk.
const COPY_BUF: usize = 16 << 10;

fn errno(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Copies from `from` to `to` through a buffer until `from` ends (`true`) or a read fills the
/// buffer (`false`: bulk, the caller goes on with splice).
/// The buffer is read into while uninitialized, so a connection never pays for zeroing it.
/// Reads go through tokio's `poll_read`, which takes a short read as a drained socket and
/// clears its readiness, so the next read waits for an event instead of failing with EAGAIN.
async fn copy_until_bulk(
    from: &mut ReadHalf<'_>,
    to: &mut WriteHalf<'_>,
    total: &mut u64,
) -> io::Result<bool> {
    let mut buf = Vec::with_capacity(COPY_BUF);
    loop {
        buf.clear();
        let n = from.read_buf(&mut buf).await?;
        if n == 0 {
            return Ok(true);
        }
        to.write_all(&buf).await?;
        *total += n as u64;
        if n == COPY_BUF {
            return Ok(false);
        }
    }
}

/// Moves bytes from `from` to `to` until `from` ends, then half-closes `to`.
/// `done` counts the directions that have ended: when this one ends last, the caller closes
/// both sockets at once, which sends the FIN without a separate shutdown.
async fn one_way(
    mut from: ReadHalf<'_>,
    mut to: WriteHalf<'_>,
    done: &AtomicU8,
) -> io::Result<u64> {
    let mut total = 0u64;
    let result = async {
        if !copy_until_bulk(&mut from, &mut to, &mut total).await? {
            splice_all(from.as_ref(), to.as_ref(), &mut total).await?;
        }
        Ok(total)
    }
    .await;
    if done.fetch_add(1, Ordering::Relaxed) == 0 {
        // Half-close: the other side sees EOF, and may still answer.
        let fd = to.as_ref().as_raw_fd();
        let _ = nix::sys::socket::shutdown(fd, nix::sys::socket::Shutdown::Write);
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
pub(crate) async fn relay(a: &mut TcpStream, b: &mut TcpStream) -> io::Result<()> {
    let done = AtomicU8::new(0);
    let ((ar, aw), (br, bw)) = (a.split(), b.split());
    let (up, down) = tokio::join!(one_way(ar, bw, &done), one_way(br, aw, &done));
    up?;
    down?;
    Ok(())
}
