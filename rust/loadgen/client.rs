//! The load generator: `connections` streams spread over worker threads, each keeping
//! `depth` messages in flight, for a fixed time, checking every echoed byte.
//!
//! Every message carries its sequence number in its first payload bytes and the rest is a
//! per-connection pseudo-random pattern, so a reordered, lost, duplicated, truncated or
//! corrupted echo is caught at the first wrong byte. Because an echo server returns the
//! stream it was sent, the check is the same for raw and length-prefixed traffic: the bytes
//! received must equal the bytes sent.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::hist::Histogram;
use super::sys::{self, Epoll, Stream, Target, CLOSED, READABLE, WRITABLE};
use crate::framing::Header;

/// What one run does.
#[derive(Clone, Debug)]
pub struct Config {
    pub target: Target,
    pub connections: usize,
    pub depth: usize,
    pub size: usize,
    /// `Some(header)`: every message is `header(size) + payload` (`framing='frame'`).
    pub header: Option<Header>,
    pub warmup: Duration,
    pub duration: Duration,
    pub threads: usize,
    /// How long to wait, after the run, for the echoes still in flight.
    pub drain_timeout: Duration,
}

impl Config {
    /// Bytes of one message on the wire.
    pub fn wire_len(&self) -> usize {
        self.size + self.header.map_or(0, |h| h.size())
    }
}

/// Why a run failed.
#[derive(Debug)]
pub enum LoadError {
    /// A socket call failed; `what` says which and where.
    Io { what: String, err: io::Error },
    /// The server closed a connection while echoes were owed.
    Closed {
        conn: usize,
        received: u64,
        in_flight: usize,
    },
    /// A byte differs from the one sent (or arrived before it was sent).
    Mismatch {
        conn: usize,
        message: u64,
        offset: usize,
        expected: Option<u8>,
        got: u8,
    },
    /// Echoes still owed when the drain timeout passed.
    DrainTimeout { missing: usize },
    /// Stopped from outside (a signal in the calling thread).
    Cancelled,
    /// A worker thread panicked (a bug in the load generator, never the server's doing).
    Panicked,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io { what, err } => write!(f, "{what}: {err}"),
            LoadError::Closed {
                conn,
                received,
                in_flight,
            } => write!(
                f,
                "the server closed connection {conn} after {received} echoed messages, \
                 with {in_flight} still in flight"
            ),
            LoadError::Mismatch {
                conn,
                message,
                offset,
                expected: Some(e),
                got,
            } => write!(
                f,
                "echo mismatch on connection {conn}, message {message}, byte {offset}: \
                 expected 0x{e:02x}, got 0x{got:02x}"
            ),
            LoadError::Mismatch {
                conn,
                message,
                offset,
                expected: None,
                got,
            } => write!(
                f,
                "echo mismatch on connection {conn}: byte 0x{got:02x} at message {message}, \
                 byte {offset}, which was never sent"
            ),
            LoadError::DrainTimeout { missing } => write!(
                f,
                "timed out waiting for {missing} echoes still in flight at the end of the run"
            ),
            LoadError::Cancelled => f.write_str("cancelled"),
            LoadError::Panicked => f.write_str("a load generator thread panicked"),
        }
    }
}

/// What a run measured.
#[derive(Debug, Default)]
pub struct Report {
    /// Messages whose echo completed inside the measured window.
    pub messages: u64,
    /// Every verified echo, warm-up and drain included.
    pub verified: u64,
    /// Length of the measured window.
    pub seconds: f64,
    /// Round-trip latency of the messages counted in `messages`.
    pub latency: Histogram,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// CPU time the worker threads used (user + system), to show the client's own load.
    pub client_cpu: f64,
}

/// xorshift64*: a cheap deterministic byte stream for payload patterns.
fn pattern(seed: u64, out: &mut [u8]) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in out.chunks_mut(8) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

/// One message's bytes for a connection, with the sequence number patched in place.
struct Template {
    bytes: Vec<u8>,
    seq_at: usize,
    seq_len: usize,
}

impl Template {
    fn new(cfg: &Config, conn: usize) -> Self {
        let mut bytes = Vec::with_capacity(cfg.wire_len());
        if let Some(h) = cfg.header {
            h.push(cfg.size, &mut bytes);
        }
        let seq_at = bytes.len();
        bytes.resize(cfg.wire_len(), 0);
        pattern(conn as u64 + 1, &mut bytes[seq_at..]);
        let mut t = Self {
            bytes,
            seq_at,
            seq_len: cfg.size.min(8),
        };
        t.set_seq(0);
        t
    }

    fn set_seq(&mut self, seq: u64) {
        let (at, n) = (self.seq_at, self.seq_len);
        self.bytes[at..at + n].copy_from_slice(&seq.to_le_bytes()[..n]);
    }
}

struct Conn {
    id: usize,
    token: u64,
    stream: Stream,
    /// Whether write readiness is in the epoll interest set (only while a write blocked).
    want_write: bool,
    send: Template,
    expect: Template,
    out: Vec<u8>,
    out_pos: usize,
    next_seq: u64,
    recv_seq: u64,
    recv_off: usize,
    sent_at: VecDeque<Instant>,
}

impl Conn {
    fn queue(&mut self, n: usize, now: Instant) {
        for _ in 0..n {
            self.send.set_seq(self.next_seq);
            self.out.extend_from_slice(&self.send.bytes);
            self.sent_at.push_back(now);
            self.next_seq += 1;
        }
    }

    /// Writes queued bytes until done or `EWOULDBLOCK` (then asks epoll for write
    /// readiness until the rest is out); returns the bytes written.
    fn flush(&mut self, epoll: &Epoll) -> Result<u64, LoadError> {
        let written = self.write_some()?;
        let blocked = self.out_pos < self.out.len();
        if blocked != self.want_write {
            let events = if blocked {
                READABLE | WRITABLE
            } else {
                READABLE
            };
            epoll
                .modify(self.stream.as_raw_fd(), events, self.token)
                .map_err(|err| LoadError::Io {
                    what: "epoll_ctl".into(),
                    err,
                })?;
            self.want_write = blocked;
        }
        Ok(written)
    }

    fn write_some(&mut self) -> Result<u64, LoadError> {
        let mut written = 0u64;
        while self.out_pos < self.out.len() {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => break,
                Ok(n) => {
                    self.out_pos += n;
                    written += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    return Err(LoadError::Io {
                        what: format!("send on connection {}", self.id),
                        err,
                    })
                }
            }
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
        Ok(written)
    }

    /// Checks received bytes against what was sent; calls `done` with each completed
    /// message's send time.
    fn verify(&mut self, mut data: &[u8], mut done: impl FnMut(Instant)) -> Result<(), LoadError> {
        let wire_len = self.expect.bytes.len();
        while !data.is_empty() {
            let take = (wire_len - self.recv_off).min(data.len());
            let want = &self.expect.bytes[self.recv_off..self.recv_off + take];
            let got = &data[..take];
            if self.recv_seq >= self.next_seq || want != got {
                let i = if self.recv_seq >= self.next_seq {
                    0
                } else {
                    want.iter().zip(got).position(|(a, b)| a != b).unwrap_or(0)
                };
                return Err(LoadError::Mismatch {
                    conn: self.id,
                    message: self.recv_seq,
                    offset: self.recv_off + i,
                    expected: (self.recv_seq < self.next_seq).then_some(want[i]),
                    got: got[i],
                });
            }
            self.recv_off += take;
            data = &data[take..];
            if self.recv_off == wire_len {
                self.recv_off = 0;
                self.recv_seq += 1;
                self.expect.set_seq(self.recv_seq);
                // recv_seq < next_seq was checked, so a send time is queued.
                if let Some(t) = self.sent_at.pop_front() {
                    done(t);
                }
            }
        }
        Ok(())
    }
}

/// The clock every worker shares: set once, by the last worker to get its connections up.
#[derive(Clone, Copy)]
struct Clock {
    warm_end: Instant,
    end: Instant,
}

#[derive(Default)]
struct State {
    connected: usize,
    finished: usize,
    clock: Option<Clock>,
}

struct Shared {
    threads: usize,
    stop: AtomicBool,
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _state = self.lock();
        self.changed.notify_all();
    }

    /// Marks this worker's connections as up and waits for the others; `None` if the run
    /// was stopped before it began.
    fn start(&self, warmup: Duration, duration: Duration) -> Option<Clock> {
        let mut state = self.lock();
        state.connected += 1;
        if state.connected == self.threads {
            let warm_end = Instant::now() + warmup;
            state.clock = Some(Clock {
                warm_end,
                end: warm_end + duration,
            });
            self.changed.notify_all();
        }
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return None;
            }
            if let Some(clock) = state.clock {
                return Some(clock);
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Counts a worker as finished even if it unwinds.
struct FinishGuard<'a>(&'a Shared);

impl Drop for FinishGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.finished += 1;
        self.0.changed.notify_all();
    }
}

/// A run in progress on its own threads; [`Run::wait`] polls it, [`Run::finish`] joins.
pub struct Run {
    shared: Arc<Shared>,
    handles: Vec<std::thread::JoinHandle<Result<Report, LoadError>>>,
    spawn_error: Option<io::Error>,
}

impl Run {
    /// Starts the worker threads; connections are spread round-robin over them.
    pub fn start(cfg: Config) -> Self {
        let threads = cfg.threads.clamp(1, cfg.connections.max(1));
        let shared = Arc::new(Shared {
            threads,
            stop: AtomicBool::new(false),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let cfg = Arc::new(cfg);
        let mut handles = Vec::with_capacity(threads);
        let mut spawn_error = None;
        for t in 0..threads {
            let ids: Vec<usize> = (t..cfg.connections).step_by(threads).collect();
            let (cfg, sh) = (Arc::clone(&cfg), Arc::clone(&shared));
            let spawned = std::thread::Builder::new()
                .name(format!("ferrosock-loadgen-{t}"))
                .spawn(move || {
                    let _guard = FinishGuard(&sh);
                    worker(&cfg, &sh, &ids)
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    // The started workers wait for this one; release them.
                    shared.stop();
                    spawn_error = Some(e);
                    break;
                }
            }
        }
        Self {
            shared,
            handles,
            spawn_error,
        }
    }

    /// Waits up to `timeout` for every worker to finish; true when they have.
    pub fn wait(&self, timeout: Duration) -> bool {
        let n = self.handles.len();
        let state = self.shared.lock();
        let (state, _) = self
            .shared
            .changed
            .wait_timeout_while(state, timeout, |s| s.finished < n)
            .unwrap_or_else(|e| e.into_inner());
        state.finished >= n
    }

    /// Asks the workers to stop early; [`Run::finish`] then reports `Cancelled`.
    pub fn cancel(&self) {
        self.shared.stop();
    }

    /// Joins the workers and merges their reports; the first real error wins.
    pub fn finish(self) -> Result<Report, LoadError> {
        let mut total = Report::default();
        let mut first_err = self.spawn_error.map(|err| LoadError::Io {
            what: "starting a load generator thread".into(),
            err,
        });
        for h in self.handles {
            let err = match h.join() {
                Ok(Ok(r)) => {
                    total.messages += r.messages;
                    total.verified += r.verified;
                    total.seconds = total.seconds.max(r.seconds);
                    total.latency.merge(&r.latency);
                    total.bytes_sent += r.bytes_sent;
                    total.bytes_received += r.bytes_received;
                    total.client_cpu += r.client_cpu;
                    continue;
                }
                Ok(Err(e)) => e,
                Err(_) => LoadError::Panicked,
            };
            // A worker that stopped because another failed says Cancelled; the original
            // failure is the one worth reporting.
            if first_err.is_none() || matches!(first_err, Some(LoadError::Cancelled)) {
                first_err = Some(err);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }
}

/// Runs to completion on the calling thread's behalf (Rust callers and unit tests).
#[cfg(test)]
pub fn run(cfg: Config) -> Result<Report, LoadError> {
    let run = Run::start(cfg);
    while !run.wait(Duration::from_millis(100)) {}
    run.finish()
}

const READ_CHUNK: usize = 64 * 1024;

fn worker(cfg: &Config, shared: &Shared, ids: &[usize]) -> Result<Report, LoadError> {
    let cpu_start = sys::thread_cpu_seconds();
    let (epoll, mut conns) = match connect_all(cfg, ids) {
        Ok(s) => s,
        Err(e) => {
            shared.stop();
            return Err(e);
        }
    };
    let Some(clock) = shared.start(cfg.warmup, cfg.duration) else {
        return Err(LoadError::Cancelled);
    };
    let result = drive(cfg, shared, &clock, &epoll, &mut conns);
    if result.is_err() {
        shared.stop();
    }
    let mut report = result?;
    report.client_cpu = sys::thread_cpu_seconds() - cpu_start;
    Ok(report)
}

fn connect_all(cfg: &Config, ids: &[usize]) -> Result<(Epoll, Vec<Conn>), LoadError> {
    let io_err = |what: String| move |err| LoadError::Io { what, err };
    let epoll = Epoll::new().map_err(io_err("epoll_create1".into()))?;
    let mut conns = Vec::with_capacity(ids.len());
    for (token, &id) in ids.iter().enumerate() {
        let stream = Stream::connect(&cfg.target).map_err(io_err(format!(
            "connect to {} (connection {id})",
            cfg.target
        )))?;
        epoll
            .add(stream.as_raw_fd(), READABLE, token as u64)
            .map_err(io_err("epoll_ctl".into()))?;
        conns.push(Conn {
            id,
            token: token as u64,
            stream,
            want_write: false,
            send: Template::new(cfg, id),
            expect: Template::new(cfg, id),
            out: Vec::with_capacity(cfg.depth * cfg.wire_len()),
            out_pos: 0,
            next_seq: 0,
            recv_seq: 0,
            recv_off: 0,
            sent_at: VecDeque::with_capacity(cfg.depth),
        });
    }
    Ok((epoll, conns))
}

fn drive(
    cfg: &Config,
    shared: &Shared,
    clock: &Clock,
    epoll: &Epoll,
    conns: &mut [Conn],
) -> Result<Report, LoadError> {
    let mut report = Report::default();
    let mut buf = vec![0u8; READ_CHUNK];
    let mut events = Vec::with_capacity(conns.len().clamp(1, 1024));
    let start = Instant::now();
    for c in conns.iter_mut() {
        c.queue(cfg.depth, start);
        report.bytes_sent += c.flush(epoll)?;
    }
    let mut sending = true;
    let mut drain_deadline = None;
    loop {
        let now = Instant::now();
        if shared.stop.load(Ordering::Relaxed) {
            return Err(LoadError::Cancelled);
        }
        if sending && now >= clock.end {
            sending = false;
            drain_deadline = Some(now + cfg.drain_timeout);
        }
        if !sending {
            let missing: usize = conns.iter().map(|c| c.sent_at.len()).sum();
            if missing == 0 {
                break;
            }
            if drain_deadline.is_some_and(|d| now >= d) {
                return Err(LoadError::DrainTimeout { missing });
            }
        }
        // Short waits keep the stop flag and the phase boundaries prompt.
        let until = if sending {
            clock.end
        } else {
            drain_deadline.unwrap_or(now)
        };
        let wait_ms = until.saturating_duration_since(now).as_millis().min(50) as i32;
        match epoll.wait(&mut events, wait_ms.max(1)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                return Err(LoadError::Io {
                    what: "epoll_wait".into(),
                    err,
                })
            }
        }
        for ev in events.iter() {
            let (token, bits) = (ev.u64 as usize, ev.events);
            let Some(c) = conns.get_mut(token) else {
                continue;
            };
            if bits & (READABLE | CLOSED) != 0 {
                let completed = read_ready(c, &mut buf, clock, &mut report)?;
                if sending && completed > 0 {
                    c.queue(completed, Instant::now());
                }
            }
            if c.out_pos < c.out.len() {
                report.bytes_sent += c.flush(epoll)?;
            }
        }
    }
    report.seconds = (clock.end - clock.warm_end).as_secs_f64();
    Ok(report)
}

/// Reads what is there, verifying; returns how many messages completed. Level-triggered
/// epoll reports the socket again if a full buffer left more behind.
fn read_ready(
    c: &mut Conn,
    buf: &mut [u8],
    clock: &Clock,
    report: &mut Report,
) -> Result<usize, LoadError> {
    let mut completed = 0usize;
    loop {
        match c.stream.read(buf) {
            Ok(0) => {
                return Err(LoadError::Closed {
                    conn: c.id,
                    received: c.recv_seq,
                    in_flight: c.sent_at.len(),
                })
            }
            Ok(n) => {
                let now = Instant::now();
                let counted = now >= clock.warm_end && now < clock.end;
                report.bytes_received += n as u64;
                c.verify(&buf[..n], |sent| {
                    completed += 1;
                    report.verified += 1;
                    if counted {
                        report.messages += 1;
                        let ns = now.saturating_duration_since(sent).as_nanos();
                        report.latency.record(u64::try_from(ns).unwrap_or(u64::MAX));
                    }
                })?;
                if n < buf.len() {
                    return Ok(completed);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(completed),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                return Err(LoadError::Io {
                    what: format!("recv on connection {}", c.id),
                    err,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(size: usize, header: Option<&str>) -> Config {
        Config {
            target: Target::Unix("/nonexistent".into()),
            connections: 1,
            depth: 4,
            size,
            header: header.map(|h| Header::parse(h).unwrap()),
            warmup: Duration::ZERO,
            duration: Duration::from_millis(10),
            threads: 1,
            drain_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn templates_carry_header_and_sequence() {
        let c = cfg(64, Some("!I"));
        let mut t = Template::new(&c, 3);
        assert_eq!(t.bytes.len(), 68);
        assert_eq!(&t.bytes[..4], &[0, 0, 0, 64]);
        t.set_seq(0x0102);
        assert_eq!(&t.bytes[4..12], &[2, 1, 0, 0, 0, 0, 0, 0]);
        let other = Template::new(&c, 4);
        assert_ne!(
            t.bytes[12..],
            other.bytes[12..],
            "patterns differ per connection"
        );
        let mut tiny = Template::new(&cfg(3, None), 0);
        tiny.set_seq(0x0a0b0c0d);
        assert_eq!(tiny.bytes, [0x0d, 0x0c, 0x0b]);
    }

    fn conn_pair(c: &Config) -> (Conn, std::os::unix::net::UnixStream) {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let conn = Conn {
            id: 0,
            token: 0,
            stream: Stream::Unix(a),
            want_write: false,
            send: Template::new(c, 0),
            expect: Template::new(c, 0),
            out: Vec::new(),
            out_pos: 0,
            next_seq: 0,
            recv_seq: 0,
            recv_off: 0,
            sent_at: VecDeque::new(),
        };
        (conn, b)
    }

    #[test]
    fn verify_accepts_the_sent_stream_in_any_split() {
        let c = cfg(10, Some("!H"));
        let (mut conn, _peer) = conn_pair(&c);
        let t0 = Instant::now();
        conn.queue(3, t0);
        let wire = conn.out.clone();
        assert_eq!(wire.len(), 36);
        for split in 1..wire.len() {
            conn.recv_seq = 0;
            conn.recv_off = 0;
            conn.expect.set_seq(0);
            conn.sent_at = VecDeque::from(vec![t0; 3]);
            let mut done = 0;
            for piece in wire.chunks(split) {
                conn.verify(piece, |_| done += 1).unwrap();
            }
            assert_eq!(done, 3, "split {split}");
        }
    }

    #[test]
    fn verify_reports_the_first_wrong_byte() {
        let c = cfg(16, None);
        let (mut conn, _peer) = conn_pair(&c);
        conn.queue(2, Instant::now());
        let mut wire = conn.out.clone();
        wire[16 + 9] ^= 0xff;
        let err = conn.verify(&wire, |_| {}).unwrap_err();
        match err {
            LoadError::Mismatch {
                message, offset, ..
            } => assert_eq!((message, offset), (1, 9)),
            other => panic!("{other:?}"),
        }
        // Bytes beyond what was sent are an error too.
        let (mut conn, _peer) = conn_pair(&c);
        conn.queue(1, Instant::now());
        let mut wire = conn.out.clone();
        wire.extend_from_slice(&wire.clone());
        assert!(matches!(
            conn.verify(&wire, |_| {}),
            Err(LoadError::Mismatch { expected: None, .. })
        ));
    }
}
