//! The few Linux primitives the load generator and the reference echo server need: an
//! edge-triggered `epoll(7)` instance, an `eventfd(2)` to wake it from another thread, and
//! stream sockets over TCP or Unix addresses (std's types, put in non-blocking mode).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

/// Runs a libc call that returns -1 on error, turning that into the thread's `errno`.
macro_rules! syscall {
    ($call:expr) => {{
        let res = $call;
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

/// Readiness bits, as `epoll_ctl(2)` names them.
pub const READABLE: u32 = libc::EPOLLIN as u32 | libc::EPOLLRDHUP as u32;
pub const WRITABLE: u32 = libc::EPOLLOUT as u32;
pub const CLOSED: u32 = libc::EPOLLHUP as u32 | libc::EPOLLERR as u32;

/// An `epoll(7)` instance. Registrations are level-triggered: a reader may stop after one
/// short read (the rest is reported again), which saves the `read` that would only say
/// `EWOULDBLOCK` under edge triggering; write interest is turned on only while blocked.
pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    /// `epoll_create1(EPOLL_CLOEXEC)`.
    pub fn new() -> io::Result<Self> {
        // SAFETY: epoll_create1 takes no pointers.
        let fd = syscall!(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by epoll_create1 and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self { fd })
    }

    fn ctl(&self, op: i32, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is a valid epoll_event that outlives the call; epoll_ctl copies it.
        syscall!(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev) })?;
        Ok(())
    }

    /// `epoll_ctl(EPOLL_CTL_ADD)`, reporting `token` back with the events.
    pub fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, token)
    }

    /// `epoll_ctl(EPOLL_CTL_MOD)`: replaces the interest set of a registered descriptor.
    pub fn modify(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, events, token)
    }

    /// `epoll_wait(2)` into `events` (its capacity is the batch size); returns how many
    /// entries are filled. `EINTR` is returned to the caller, which decides what to do.
    pub fn wait(&self, events: &mut Vec<libc::epoll_event>, timeout_ms: i32) -> io::Result<()> {
        events.clear();
        let cap = events.capacity().min(i32::MAX as usize) as i32;
        // SAFETY: the kernel writes at most `cap` entries into the vector's spare capacity,
        // which holds at least `cap` epoll_event slots.
        let n = syscall!(unsafe {
            libc::epoll_wait(self.fd.as_raw_fd(), events.as_mut_ptr(), cap, timeout_ms)
        })?;
        // SAFETY: epoll_wait initialised the first `n` entries (0 <= n <= cap).
        unsafe { events.set_len(n as usize) };
        Ok(())
    }
}

/// An `eventfd(2)` counter used as a doorbell: `wake` from any thread makes it readable
/// until someone reads it, so a wake before the wait is not lost.
pub struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    /// `eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)`.
    pub fn new() -> io::Result<Self> {
        // SAFETY: eventfd takes no pointers.
        let fd = syscall!(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self { fd })
    }

    /// Adds one to the counter. Only fails if the counter would overflow, which means it is
    /// already readable: that failure is ignored on purpose.
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to a descriptor this object owns.
        let _ = unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Where a client connects or a server listens.
#[derive(Clone, Debug)]
pub enum Target {
    /// Candidates in resolution order, as `socket.create_connection` tries them.
    Tcp(Vec<SocketAddr>),
    Unix(PathBuf),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tcp(addrs) => match addrs.first() {
                Some(a) => write!(f, "{a}"),
                None => f.write_str("<no address>"),
            },
            Target::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A connected stream socket in non-blocking mode.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    /// Connects (blocking; the handshake is not part of any measurement), then turns on
    /// `TCP_NODELAY` (small pipelined writes must not wait for Nagle) and non-blocking mode.
    pub fn connect(target: &Target) -> io::Result<Self> {
        let stream = match target {
            Target::Tcp(addrs) => {
                let s = TcpStream::connect(&addrs[..])?;
                s.set_nodelay(true)?;
                Stream::Tcp(s)
            }
            Target::Unix(path) => Stream::Unix(UnixStream::connect(path)?),
        };
        stream.set_nonblocking()?;
        Ok(stream)
    }

    fn set_nonblocking(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nonblocking(true),
            Stream::Unix(s) => s.set_nonblocking(true),
        }
    }

    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }

    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    pub fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }
}

/// A listening stream socket in non-blocking mode. A Unix socket file is removed on drop.
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

impl Listener {
    /// Binds and listens (std sets `SO_REUSEADDR` for TCP); a stale Unix socket file at
    /// the path is replaced, as `ferrosock.Server` does.
    pub fn bind(target: &Target) -> io::Result<Self> {
        let listener = match target {
            Target::Tcp(addrs) => Listener::Tcp(TcpListener::bind(&addrs[..])?),
            Target::Unix(path) => {
                if std::fs::symlink_metadata(path)
                    .map(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
                    .unwrap_or(false)
                {
                    std::fs::remove_file(path)?;
                }
                Listener::Unix(UnixListener::bind(path)?, path.clone())
            }
        };
        match &listener {
            Listener::Tcp(l) => l.set_nonblocking(true)?,
            Listener::Unix(l, _) => l.set_nonblocking(true)?,
        }
        Ok(listener)
    }

    /// Accepts one connection in non-blocking mode (`TCP_NODELAY` on for TCP).
    pub fn accept(&self) -> io::Result<Stream> {
        let stream = match self {
            Listener::Tcp(l) => {
                let (s, _) = l.accept()?;
                s.set_nodelay(true)?;
                Stream::Tcp(s)
            }
            Listener::Unix(l, _) => Stream::Unix(l.accept()?.0),
        };
        stream.set_nonblocking()?;
        Ok(stream)
    }

    /// The bound address: `(host, port)` for TCP, the path for Unix.
    pub fn local_addr(&self) -> io::Result<Bound> {
        match self {
            Listener::Tcp(l) => Ok(Bound::Tcp(l.local_addr()?)),
            Listener::Unix(_, p) => Ok(Bound::Unix(p.clone())),
        }
    }

    pub fn as_raw_fd(&self) -> RawFd {
        match self {
            Listener::Tcp(l) => l.as_raw_fd(),
            Listener::Unix(l, _) => l.as_raw_fd(),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A listener's bound address.
pub enum Bound {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// CPU time (user + system) the calling thread has used, from `getrusage(RUSAGE_THREAD)`.
pub fn thread_cpu_seconds() -> f64 {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the rusage struct it is given a pointer to; the zeroed
    // MaybeUninit is a valid rusage either way.
    let ok = unsafe { libc::getrusage(libc::RUSAGE_THREAD, ru.as_mut_ptr()) } == 0;
    if !ok {
        return 0.0;
    }
    // SAFETY: zero-initialised above and filled by getrusage on success.
    let ru = unsafe { ru.assume_init() };
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 * 1e-6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}
