//! The system calls the server loops make, as thin safe wrappers over `libc`: `epoll(7)`,
//! `eventfd(2)`, `pipe2(2)`, `accept4(2)`, `recv(2)`/`send(2)` and socket options.
//!
//! Every wrapper returns `Err(errno)` on failure so the caller can map it to the right
//! `OSError` subclass with `errors::os_error_from_errno`, as `socketmodule.c` does.

use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub use crate::sockaddr::SockAddr;

/// An errno value.
pub type Errno = i32;

fn errno() -> Errno {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// An `epoll(7)` instance, level-triggered.
pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    /// `epoll_create1(EPOLL_CLOEXEC)`.
    pub fn new() -> Result<Self, Errno> {
        // SAFETY: plain system call with a valid flag; it returns a new fd or -1.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(errno());
        }
        // SAFETY: `fd` was just returned by epoll_create1 and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self { fd })
    }

    /// The epoll descriptor itself, readable while any watched descriptor is ready.
    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn ctl(&self, op: i32, fd: RawFd, events: u32, token: u64) -> Result<(), Errno> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call; the kernel only
        // reads it (EPOLL_CTL_DEL ignores it).
        let rc = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev) };
        if rc < 0 {
            Err(errno())
        } else {
            Ok(())
        }
    }

    pub fn add(&self, fd: RawFd, events: u32, token: u64) -> Result<(), Errno> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, token)
    }

    pub fn modify(&self, fd: RawFd, events: u32, token: u64) -> Result<(), Errno> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, events, token)
    }

    pub fn delete(&self, fd: RawFd) -> Result<(), Errno> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// `epoll_wait` into `events` (its capacity is the batch size); `timeout_ms` -1 blocks.
    /// `Err(EINTR)` is returned to the caller, which runs signal handlers first (PEP 475).
    pub fn wait(&self, events: &mut Vec<libc::epoll_event>, timeout_ms: i32) -> Result<(), Errno> {
        events.clear();
        let cap = events.capacity().clamp(1, i32::MAX as usize) as i32;
        // SAFETY: the kernel writes at most `cap` events into the vector's spare capacity,
        // which holds at least `cap` elements; the length is set to what it wrote.
        let n =
            unsafe { libc::epoll_wait(self.fd.as_raw_fd(), events.as_mut_ptr(), cap, timeout_ms) };
        if n < 0 {
            return Err(errno());
        }
        // SAFETY: epoll_wait initialised the first `n` (<= cap) entries.
        unsafe { events.set_len(n as usize) };
        Ok(())
    }
}

/// A non-blocking `eventfd(2)`: any thread writes to wake the loop out of `epoll_wait`.
pub fn eventfd() -> Result<OwnedFd, Errno> {
    // SAFETY: plain system call; returns a new fd or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: `fd` is new and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds one to an eventfd counter (a full counter already wakes the reader, so errors are
/// ignored).
pub fn eventfd_wake(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64 to an fd; a failure has no memory effect.
    let _ = unsafe { libc::write(fd, (&raw const one).cast(), 8) };
}

/// Empties a non-blocking eventfd or pipe so level-triggered epoll stops reporting it.
pub fn drain(fd: RawFd) {
    let mut buf = [0u8; 256];
    loop {
        // SAFETY: reads into a live stack buffer of the stated length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < buf.len() as isize {
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            break;
        }
    }
}

/// `pipe2(O_NONBLOCK | O_CLOEXEC)`: (read end, write end).
pub fn pipe() -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    if rc < 0 {
        return Err(errno());
    }
    // SAFETY: both fds were just created by pipe2 and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `accept4(SOCK_NONBLOCK | SOCK_CLOEXEC)` with the peer's address.
pub fn accept(fd: RawFd) -> Result<(OwnedFd, SockAddr), Errno> {
    let mut addr = SockAddr::new();
    let mut len = SockAddr::capacity();
    // SAFETY: `addr` is writable storage of `len` bytes; accept4 writes at most that many
    // and updates `len`.
    let new = unsafe {
        libc::accept4(
            fd,
            addr.as_mut_ptr(),
            &mut len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    };
    if new < 0 {
        return Err(errno());
    }
    addr.set_len(len);
    // SAFETY: `new` is a fresh descriptor owned by nobody else.
    Ok((unsafe { OwnedFd::from_raw_fd(new) }, addr))
}

/// `getsockname(2)`.
pub fn sockname(fd: RawFd) -> Result<SockAddr, Errno> {
    let mut addr = SockAddr::new();
    let mut len = SockAddr::capacity();
    // SAFETY: same contract as accept4's address arguments.
    let rc = unsafe { libc::getsockname(fd, addr.as_mut_ptr(), &mut len) };
    if rc < 0 {
        return Err(errno());
    }
    addr.set_len(len);
    Ok(addr)
}

/// `recv(2)` into the spare capacity of `buf` (at most `max` bytes), growing its length by
/// what arrived. `Ok(0)` is end of stream.
pub fn recv_into_spare(fd: RawFd, buf: &mut Vec<u8>, max: usize) -> Result<usize, Errno> {
    let spare = buf.spare_capacity_mut();
    let want = spare.len().min(max);
    loop {
        // SAFETY: the kernel writes at most `want` bytes into the vector's spare capacity,
        // which has at least `want` bytes.
        let n = unsafe { libc::recv(fd, spare.as_mut_ptr().cast(), want, libc::MSG_DONTWAIT) };
        if n >= 0 {
            let n = n as usize;
            let len = buf.len();
            // SAFETY: recv initialised `n` (<= want <= spare) bytes right after `len`.
            unsafe { buf.set_len(len + n) };
            return Ok(n);
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// `send(2)` with `MSG_NOSIGNAL` (a vanished peer is `EPIPE`, never `SIGPIPE`).
pub fn send(fd: RawFd, data: &[u8]) -> Result<usize, Errno> {
    loop {
        // SAFETY: the kernel reads at most `data.len()` bytes from a live slice.
        let n = unsafe {
            libc::send(
                fd,
                data.as_ptr().cast(),
                data.len(),
                libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// `getsockopt(fd, level, name)` for an `int` option.
pub fn getsockopt_int(fd: RawFd, level: i32, name: i32) -> Result<i32, Errno> {
    let mut val: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `val` is a writable int and `len` says so.
    let rc = unsafe { libc::getsockopt(fd, level, name, (&raw mut val).cast(), &mut len) };
    if rc < 0 {
        return Err(errno());
    }
    Ok(val)
}

/// `setsockopt(fd, level, name)` for an `int` option.
pub fn setsockopt_int(fd: RawFd, level: i32, name: i32, val: i32) -> Result<(), Errno> {
    // SAFETY: passes a pointer to a live int and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const val).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(errno());
    }
    Ok(())
}

/// Switches `fd` to non-blocking mode (the loops never block in a read or write).
pub fn set_nonblocking(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: fcntl F_GETFL/F_SETFL on a descriptor have no memory effects.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(errno());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(errno());
    }
    Ok(())
}

/// A monotonic clock reading in nanoseconds, for timeouts.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into a live struct.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventfd_wakes_epoll() {
        let ep = Epoll::new().unwrap();
        let efd = eventfd().unwrap();
        ep.add(efd.as_raw_fd(), libc::EPOLLIN as u32, 7).unwrap();
        let mut events = Vec::with_capacity(4);
        ep.wait(&mut events, 0).unwrap();
        assert!(events.is_empty());
        eventfd_wake(efd.as_raw_fd());
        ep.wait(&mut events, 1000).unwrap();
        assert_eq!(events.len(), 1);
        let tok = events[0].u64;
        assert_eq!(tok, 7);
        drain(efd.as_raw_fd());
        ep.wait(&mut events, 0).unwrap();
        assert!(events.is_empty());
    }

    #[test]
    fn pipe_round_trip() {
        let (r, w) = pipe().unwrap();
        assert_eq!(send(w.as_raw_fd(), b"x"), Err(libc::ENOTSOCK));
        // SAFETY: writes one byte from a live slice.
        let n = unsafe { libc::write(w.as_raw_fd(), b"x".as_ptr().cast(), 1) };
        assert_eq!(n, 1);
        let mut buf = Vec::with_capacity(8);
        assert_eq!(
            recv_into_spare(r.as_raw_fd(), &mut buf, 8),
            Err(libc::ENOTSOCK)
        );
        drain(r.as_raw_fd());
    }
}
