//! Relaying a TCP connection with splice(2): bytes move socket → pipe → socket inside the
//! kernel, never copied through user space. Each direction has its own pipe; an EOF on one
//! side shuts down the writing half of the other (half-close), and the relay ends when both
//! directions have.

use std::io;
use std::os::fd::AsRawFd as _;

use nix::fcntl::{OFlag, SpliceFFlags, splice};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// The most moved per splice call (the default pipe capacity).
const CHUNK: usize = 1 << 16;

fn errno(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Moves bytes from `from` to `to` until `from` ends, then half-closes `to`.
async fn one_way(from: &TcpStream, to: &TcpStream) -> io::Result<u64> {
    let (pipe_r, pipe_w) =
        nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).map_err(errno)?;
    let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
    let mut total = 0u64;
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
        total += n as u64;
    }
    // Half-close: the other side sees EOF, and may still answer.
    let _ = nix::sys::socket::shutdown(to.as_raw_fd(), nix::sys::socket::Shutdown::Write);
    Ok(total)
}

/// Relays `a` ⇄ `b` until both directions have ended.
pub(crate) async fn relay(a: &TcpStream, b: &TcpStream) -> io::Result<()> {
    let (up, down) = tokio::join!(one_way(a, b), one_way(b, a));
    up?;
    down?;
    Ok(())
}
