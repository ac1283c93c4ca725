//! The ceiling reference: the simplest fast echo server (one thread, edge-triggered epoll,
//! bytes written back as read, no parsing and no Python). What the load generator measures
//! against it is the most this machine's loopback and the client can do; every Python
//! server is compared with that.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use super::sys::{Epoll, EventFd, Listener, Stream, CLOSED, READABLE, WRITABLE};

const LISTENER: u64 = 0;
const WAKER: u64 = 1;
const FIRST_CONN: u64 = 2;
/// Unsent bytes above which a connection stops being read until it drains, so a client
/// that never reads cannot grow the server without bound.
const HIGH_WATER: usize = 4 * 1024 * 1024;
const READ_CHUNK: usize = 64 * 1024;

struct Conn {
    stream: Stream,
    token: u64,
    pending: Vec<u8>,
    pending_pos: usize,
    /// The interest set registered with epoll: readable unless over `HIGH_WATER`,
    /// writable only while unsent bytes wait.
    interest: u32,
}

impl Conn {
    fn backlog(&self) -> usize {
        self.pending.len() - self.pending_pos
    }
}

/// The listening socket and the doorbell `shutdown` rings; shared with other threads.
pub struct Echo {
    listener: Listener,
    waker: EventFd,
    stop: AtomicBool,
}

/// Why the loop returned.
pub enum Exit {
    Shutdown,
    /// `epoll_wait` was interrupted by a signal: the caller runs the Python handlers and,
    /// if they do not raise, calls `serve` again (connections are kept in the state).
    Interrupted,
}

/// Connections survive an `Interrupted` exit so a signal does not drop clients.
#[derive(Default)]
pub struct State {
    epoll: Option<Epoll>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
}

impl Echo {
    pub fn new(listener: Listener) -> io::Result<Self> {
        Ok(Self {
            listener,
            waker: EventFd::new()?,
            stop: AtomicBool::new(false),
        })
    }

    #[cfg(test)]
    pub fn listener(&self) -> &Listener {
        &self.listener
    }

    /// Makes `serve` return `Exit::Shutdown`, from any thread; sticky.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.waker.wake();
    }

    /// Serves until `shutdown` or a signal. Call with a fresh `State` the first time.
    pub fn serve(&self, state: &mut State) -> io::Result<Exit> {
        if state.epoll.is_none() {
            let epoll = Epoll::new()?;
            epoll.add(self.listener.as_raw_fd(), READABLE, LISTENER)?;
            epoll.add(self.waker.as_raw_fd(), READABLE, WAKER)?;
            state.epoll = Some(epoll);
        }
        let State { epoll, conns, free } = state;
        let Some(epoll) = epoll.as_ref() else {
            return Ok(Exit::Shutdown);
        };
        let mut events = Vec::with_capacity(256);
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Ok(Exit::Shutdown);
            }
            match epoll.wait(&mut events, -1) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Exit::Interrupted),
                Err(e) => return Err(e),
            }
            for ev in events.iter() {
                match ev.u64 {
                    LISTENER => self.accept_all(epoll, conns, free)?,
                    WAKER => {}
                    token => {
                        let i = (token - FIRST_CONN) as usize;
                        let open = match conns.get_mut(i) {
                            Some(Some(c)) => service(c, ev.events, &mut buf, epoll),
                            _ => continue,
                        };
                        if !open {
                            // Closing the socket removes it from the epoll set.
                            conns[i] = None;
                            free.push(i);
                        }
                    }
                }
            }
        }
    }

    fn accept_all(
        &self,
        epoll: &Epoll,
        conns: &mut Vec<Option<Conn>>,
        free: &mut Vec<usize>,
    ) -> io::Result<()> {
        loop {
            let stream = match self.listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The peer gave up before accept, or the process is out of descriptors:
                // leave the rest for the next readiness report and keep serving.
                Err(_) => return Ok(()),
            };
            let i = free.pop().unwrap_or_else(|| {
                conns.push(None);
                conns.len() - 1
            });
            let token = FIRST_CONN + i as u64;
            epoll.add(stream.as_raw_fd(), READABLE, token)?;
            conns[i] = Some(Conn {
                stream,
                token,
                pending: Vec::new(),
                pending_pos: 0,
                interest: READABLE,
            });
        }
    }
}

/// Reads what is there, echoes it, and updates the interest set; false once the
/// connection is finished.
fn service(c: &mut Conn, bits: u32, buf: &mut [u8], epoll: &Epoll) -> bool {
    if !flush(c) {
        return false;
    }
    if bits & (READABLE | CLOSED) != 0 && c.backlog() <= HIGH_WATER {
        loop {
            match c.stream.read(buf) {
                Ok(0) => return false,
                Ok(n) => {
                    // Nothing queued: write straight from the read buffer, queue the rest.
                    let mut sent = 0;
                    if c.backlog() == 0 {
                        c.pending.clear();
                        c.pending_pos = 0;
                        match write_some(&mut c.stream, &buf[..n]) {
                            Some(k) => sent = k,
                            None => return false,
                        }
                    }
                    c.pending.extend_from_slice(&buf[sent..n]);
                    if n < buf.len() || c.backlog() > HIGH_WATER {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }
    let backlog = c.backlog();
    let readable = if backlog <= HIGH_WATER { READABLE } else { 0 };
    let writable = if backlog > 0 { WRITABLE } else { 0 };
    let want = readable | writable;
    if want != c.interest {
        if epoll.modify(c.stream.as_raw_fd(), want, c.token).is_err() {
            return false;
        }
        c.interest = want;
    }
    true
}

/// Writes as much of `data` as the socket takes; `None` on a broken connection.
fn write_some(stream: &mut Stream, data: &[u8]) -> Option<usize> {
    let mut done = 0;
    while done < data.len() {
        match stream.write(&data[done..]) {
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(done)
}

/// Writes queued bytes until done or `EWOULDBLOCK`; false on a broken connection.
fn flush(c: &mut Conn) -> bool {
    if c.backlog() == 0 {
        return true;
    }
    match write_some(&mut c.stream, &c.pending[c.pending_pos..]) {
        Some(n) => {
            c.pending_pos += n;
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::client::{self, Config, LoadError};
    use super::super::sys::{Bound, Target};
    use super::*;
    use crate::framing::Header;
    use std::sync::Arc;
    use std::time::Duration;

    fn start_echo(target: &Target) -> (Arc<Echo>, std::thread::JoinHandle<()>, Target) {
        let echo = Arc::new(Echo::new(Listener::bind(target).unwrap()).unwrap());
        let bound = match echo.listener().local_addr().unwrap() {
            Bound::Tcp(a) => Target::Tcp(vec![a]),
            Bound::Unix(p) => Target::Unix(p),
        };
        let e = Arc::clone(&echo);
        let h = std::thread::spawn(move || {
            let mut state = State::default();
            while let Ok(Exit::Interrupted) = e.serve(&mut state) {}
        });
        (echo, h, bound)
    }

    fn config(target: Target, header: Option<&str>) -> Config {
        Config {
            target,
            connections: 4,
            depth: 8,
            size: 100,
            header: header.map(|h| Header::parse(h).unwrap()),
            warmup: Duration::from_millis(20),
            duration: Duration::from_millis(150),
            threads: 2,
            drain_timeout: Duration::from_secs(2),
        }
    }

    #[test]
    fn loadgen_against_native_echo_tcp_and_unix() {
        let dir = std::env::temp_dir().join(format!("ferrosock-echo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let targets = [
            Target::Tcp(vec!["127.0.0.1:0".parse().unwrap()]),
            Target::Unix(dir.join("echo.sock")),
        ];
        for target in targets {
            let (echo, h, bound) = start_echo(&target);
            for header in [None, Some("!I")] {
                let r = client::run(config(bound.clone(), header)).unwrap();
                assert!(r.messages > 0);
                assert!(r.verified >= r.messages);
                assert_eq!(r.latency.count(), r.messages);
                // Every byte sent came back: nothing is in flight after the drain.
                assert_eq!(r.bytes_sent, r.bytes_received);
                let wire = 100 + if header.is_some() { 4 } else { 0 };
                assert_eq!(r.bytes_sent, r.verified * wire);
            }
            echo.shutdown();
            h.join().unwrap();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn refused_connection_is_an_io_error() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let err = client::run(config(Target::Tcp(vec![addr]), None)).unwrap_err();
        match err {
            LoadError::Io { err, .. } => assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused),
            other => panic!("{other:?}"),
        }
    }
}
