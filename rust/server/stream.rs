//! The stream (TCP / Unix) server loop.
//!
//! One iteration has two phases. The I/O phase runs with the GIL released: it flushes output,
//! waits in `epoll_wait`, accepts, reads and cuts the input into messages, and repeats until
//! something needs Python (messages, a new or closed connection with a callback, a signal).
//! The Python phase then attaches once and runs every callback of the batch: a poll iteration
//! costs one GIL acquisition however many messages and connections it carries.

use std::collections::HashMap;
use std::ops::Range;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::aio::{self, Adopted, Completion, Drive, Purpose, Standby};
use super::call::{Caller, MessageBytes};
use super::conn::{decode, CloseReason, Conn, Flight, Framing, Phase};
use super::shared::{lock, ConnShared, DispatchGuard, LoopShared};
use super::sys::{self, Epoll, Errno};
use super::{enter_python_phase, log_error, loop_epoll, reason_to_exception, Connection};
use crate::buffer::ByteView;

const LISTENER: u64 = u64::MAX;
const WAKER: u64 = u64::MAX - 1;
const SIGNAL: u64 = u64::MAX - 2;

const EPOLLIN: u32 = libc::EPOLLIN as u32;
const EPOLLOUT: u32 = libc::EPOLLOUT as u32;
const EPOLLERR: u32 = libc::EPOLLERR as u32;
const EPOLLHUP: u32 = libc::EPOLLHUP as u32;

/// Size of the pooled input buffers: one read takes up to this much.
const READ_CHUNK: usize = 64 * 1024;
/// A read is not started with less free room than this.
const MIN_SPARE: usize = 16 * 1024;
/// A connection left holding at most this many bytes of an incomplete message gives its
/// pooled buffer back and keeps an exact-size copy, so thousands of slow or idle clients
/// cost kilobytes each, not a read buffer each.
const SMALL_PENDING: usize = 4 * 1024;
const POOL_MAX: usize = 256;
/// An output buffer larger than this is released once it drains.
const OUT_KEEP: usize = 256 * 1024;
const ACCEPT_BATCH: usize = 128;
const EVENTS: usize = 1024;
/// How long a closing connection may take to flush its output before it is dropped.
const CLOSE_LINGER_NS: u64 = 10_000_000_000;
/// How long accepting pauses after `EMFILE` and friends.
const ACCEPT_BACKOFF_NS: u64 = 100_000_000;
const DEFAULT_TICK_NS: u64 = 250_000_000;
/// At most this many I/O rounds per `step` (see there).
const STEP_ROUNDS: usize = 4;

/// The server's settings, fixed at construction.
pub struct Config {
    pub max_size: usize,
    pub max_connections: usize,
    pub idle_timeout_ns: Option<u64>,
    pub message_timeout_ns: Option<u64>,
    pub high_water: usize,
    pub handler: Py<PyAny>,
    pub batch: bool,
    pub on_connect: Option<Py<PyAny>>,
    pub on_disconnect: Option<Py<PyAny>>,
    /// Handler calls a connection may have unfinished at once (`ferrosock.asyncio`).
    pub pipeline: usize,
}

/// The asyncio tasks running suspended callbacks, by id: the loop's own references to
/// them (asyncio keeps only weak ones), and what `wait_closed()` waits for.
#[derive(Default)]
pub struct Tasks {
    map: HashMap<u64, (Py<PyAny>, Purpose)>,
    next_id: u64,
}

impl Tasks {
    /// Hands the suspended coroutine `iter` (which yielded `first`) to the task it started
    /// in (`standby`), or to a new asyncio task.
    fn spawn(
        &mut self,
        py: Python<'_>,
        shared: &Arc<LoopShared>,
        iter: Bound<'_, PyAny>,
        first: Py<PyAny>,
        purpose: Purpose,
        standby: Option<Standby>,
    ) -> PyResult<u64> {
        self.next_id += 1;
        let id = self.next_id;
        let task = aio::carry_on(py, shared, standby, iter, first, id, purpose)?;
        self.map.insert(id, (task, purpose));
        Ok(id)
    }

    fn cancel(&self, py: Python<'_>, id: u64) {
        if let Some((task, _)) = self.map.get(&id) {
            if let Err(e) = task.call_method0(py, pyo3::intern!(py, "cancel")) {
                e.write_unraisable(py, None);
            }
        }
    }

    /// Every task still running (`StreamServerCore.tasks()`).
    pub fn all(&self, py: Python<'_>) -> Vec<Py<PyAny>> {
        self.map.values().map(|(t, _)| t.clone_ref(py)).collect()
    }
}

struct Slot {
    gen: u32,
    conn: Option<Box<Conn>>,
}

/// What the I/O phase hands over to the Python phase.
#[derive(PartialEq, Eq)]
enum Step {
    Python,
    Done,
}

pub struct StreamLoop {
    cfg: Config,
    shared: Arc<LoopShared>,
    epoll: Epoll,
    listener: OwnedFd,
    listener_registered: bool,
    accept_resume_ns: Option<u64>,
    tcp: bool,
    signal_r: OwnedFd,
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    closing: usize,
    next_id: u64,
    events: Vec<libc::epoll_event>,
    pool: Vec<Vec<u8>>,
    scratch: Vec<u64>,
    msg_bytes: MessageBytes,
    /// Work for the Python phase.
    connects: Vec<u64>,
    ready: Vec<u64>,
    closed: Vec<(Box<Conn>, CloseReason)>,
    notes: Vec<String>,
    signal_pending: bool,
    /// Connections with output to send.
    flush: Vec<u64>,
    shutdown_deadline_ns: Option<u64>,
    next_sweep_ns: u64,
    tasks: Tasks,
    /// Shutdown began: cancel the running handlers at the next Python phase.
    cancel_handlers: bool,
    /// While a finishing task dispatches (`complete_inline`): its id, and the first
    /// handler that suspends, which that task takes over instead of a new one.
    adopt: Option<(u64, Option<Adopted>)>,
}

fn token_index(token: u64) -> usize {
    (token & 0xffff_ffff) as usize
}

/// The live connection a token names (a stale token, from before its slot was reused,
/// names nothing).
fn slot_conn(slots: &mut [Slot], token: u64) -> Option<&mut Conn> {
    let slot = slots.get_mut(token_index(token))?;
    if u64::from(slot.gen) != token >> 32 {
        return None;
    }
    slot.conn.as_deref_mut()
}

impl StreamLoop {
    pub fn new(
        cfg: Config,
        shared: Arc<LoopShared>,
        listener: OwnedFd,
        signal_r: OwnedFd,
    ) -> Result<Self, Errno> {
        let epoll = loop_epoll(&shared, &signal_r, WAKER, SIGNAL)?;
        sys::set_nonblocking(listener.as_raw_fd())?;
        let domain = sys::getsockopt_int(listener.as_raw_fd(), libc::SOL_SOCKET, libc::SO_DOMAIN)?;
        Ok(Self {
            cfg,
            shared,
            epoll,
            listener,
            listener_registered: false,
            accept_resume_ns: None,
            tcp: domain == libc::AF_INET || domain == libc::AF_INET6,
            signal_r,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            closing: 0,
            next_id: 1,
            events: Vec::with_capacity(EVENTS),
            pool: Vec::new(),
            scratch: Vec::new(),
            msg_bytes: MessageBytes::default(),
            connects: Vec::new(),
            ready: Vec::new(),
            closed: Vec::new(),
            notes: Vec::new(),
            signal_pending: false,
            flush: Vec::new(),
            shutdown_deadline_ns: None,
            next_sweep_ns: 0,
            tasks: Tasks::default(),
            cancel_handlers: false,
            adopt: None,
        })
    }

    // -----------------------------------------------------------------------------------
    // serve_forever
    // -----------------------------------------------------------------------------------

    /// Runs until `shutdown()` (pending output flushed first, within its timeout), a
    /// signal handler raises, or a callback raises something that is not an `Exception`.
    pub fn serve(&mut self, py: Python<'_>) -> PyResult<()> {
        let result = self.run(py);
        let finish = self.finish(py);
        self.shared.shutdown.store(false, Ordering::Release);
        result.and(finish)
    }

    /// Starts accepting (`serve_forever`, or `start_serving` before stepping).
    pub fn start(&mut self) -> PyResult<()> {
        if !self.listener_registered && self.accept_resume_ns.is_none() {
            self.epoll
                .add(self.listener.as_raw_fd(), EPOLLIN, LISTENER)
                .map_err(crate::errors::os_error_from_errno)?;
            self.listener_registered = true;
        }
        self.next_sweep_ns = sys::now_ns() + self.tick_ns();
        Ok(())
    }

    fn run(&mut self, py: Python<'_>) -> PyResult<()> {
        self.start()?;
        loop {
            let step = py.detach(|| self.io_phase());
            self.python_phase(py)?;
            match step {
                Ok(Step::Done) => return Ok(()),
                Ok(Step::Python) => {}
                Err(e) => return Err(crate::errors::os_error_from_errno(e)),
            }
        }
    }

    /// Closes whatever is still open (after an error: without flushing), reports it, and
    /// leaves the listener open but unwatched for a later `serve_forever`.
    fn finish(&mut self, py: Python<'_>) -> PyResult<()> {
        let tokens: Vec<u64> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.conn.is_some())
            .map(|(i, s)| (u64::from(s.gen) << 32) | i as u64)
            .collect();
        for t in tokens {
            self.kill(t, CloseReason::Clean);
        }
        self.connects.clear();
        self.ready.clear();
        self.flush.clear();
        self.signal_pending = false;
        self.shutdown_deadline_ns = None;
        if self.listener_registered {
            let _ = self.epoll.delete(self.listener.as_raw_fd());
            self.listener_registered = false;
        }
        self.accept_resume_ns = None;
        self.cancel_handlers = false;
        let _guard = DispatchGuard::enter(&self.shared);
        self.report_closed(py)
    }

    // -----------------------------------------------------------------------------------
    // Stepping inside an asyncio loop
    // -----------------------------------------------------------------------------------

    /// The epoll instance, for the asyncio loop to watch (`loop.add_reader`).
    pub fn epoll_fd(&self) -> i32 {
        self.epoll.as_raw_fd()
    }

    /// One non-blocking iteration, for `ferrosock.asyncio`: what is ready now is read,
    /// handled and written, and nothing waits. Returns the seconds until the loop's next
    /// deadline (`inf` for none), or -1 once a shutdown has finished (every connection
    /// closed, as `serve()` leaves them when it returns).
    pub fn step(&mut self, py: Python<'_>) -> PyResult<f64> {
        // Whatever scheduled a resume is handled by this step.
        self.shared.resume_scheduled.store(false, Ordering::Release);
        let mut rounds = 0;
        let done = loop {
            self.events.clear();
            let round = py.detach(|| self.io_round());
            let mut result = self.python_phase(py);
            if result.is_ok() && round.is_ok() {
                // The replies of this step leave now, not at the next readiness event.
                self.apply_remote();
                self.flush_all();
                if !self.closed.is_empty() {
                    let _guard = DispatchGuard::enter(&self.shared);
                    result = self.report_closed(py);
                }
            }
            match (round, result) {
                (Ok(done), Ok(())) => {
                    if done || (self.shutdown_deadline_ns.is_some() && self.live == 0) {
                        break true;
                    }
                }
                (round, result) => {
                    let finish = self.finish(py);
                    self.shared.shutdown.store(false, Ordering::Release);
                    result?;
                    round.map_err(crate::errors::os_error_from_errno)?;
                    finish?;
                    return Ok(-1.0);
                }
            }
            // More rounds while the sockets keep having work, as serve() would: the
            // asyncio loop's own wake-up (and this call) costs more than a round. Bounded,
            // so the loop's other callbacks still run.
            rounds += 1;
            if self.events.is_empty() || rounds >= STEP_ROUNDS {
                break false;
            }
        };
        if done {
            let finish = self.finish(py);
            self.shared.shutdown.store(false, Ordering::Release);
            finish?;
            return Ok(-1.0);
        }
        if !self.needs_timer() {
            return Ok(f64::INFINITY);
        }
        let now = sys::now_ns();
        Ok(self.poll_timeout_ms(now) as f64 / 1e3)
    }

    /// The I/O phase of one `step`: flush, then one `epoll_wait` that does not wait.
    /// Returns whether a shutdown has finished.
    fn io_round(&mut self) -> Result<bool, Errno> {
        self.apply_remote();
        self.flush_all();
        let now = sys::now_ns();
        match self.shared.close_clients.swap(0, Ordering::AcqRel) {
            0 => {}
            1 => {
                for t in self.live_tokens() {
                    self.begin_close(t, CloseReason::Clean, now);
                }
            }
            _ => self.kill_all(),
        }
        if self.shutdown_deadline_ns.is_none() && self.shared.shutdown.load(Ordering::Acquire) {
            self.begin_shutdown(now);
        }
        if let Some(deadline) = self.shutdown_deadline_ns {
            if self.live == 0 {
                return Ok(true);
            }
            if now >= deadline {
                self.kill_all();
                return Ok(true);
            }
        }
        if self.has_python_work() {
            return Ok(false);
        }
        match self.epoll.wait(&mut self.events, 0) {
            Ok(()) => {}
            Err(libc::EINTR) => return Ok(false),
            Err(e) => return Err(e),
        }
        let now = sys::now_ns();
        self.handle_events(now);
        if self.needs_timer() && now >= self.next_sweep_ns {
            self.sweep(now);
        }
        Ok(false)
    }

    /// A handler's task finished it (`HandlerCall::finish`): the Python phase runs now,
    /// in that task's step, and the output is flushed. With `adopt`, the first handler
    /// that suspends is returned for that task to carry on with.
    pub fn complete_inline(
        &mut self,
        py: Python<'_>,
        completion: Completion,
        task_id: u64,
        adopt: bool,
    ) -> PyResult<Option<Adopted>> {
        let task = self.tasks.map.get(&task_id).map(|(t, _)| t.clone_ref(py));
        lock(&self.shared.completions).push(completion);
        if adopt && task.is_some() {
            self.adopt = Some((task_id, None));
        }
        let result = self.python_phase(py);
        let adopted = self.adopt.take().and_then(|(_, a)| a);
        if let (Some(a), Some(task)) = (&adopted, task) {
            self.tasks.map.insert(task_id, (task, a.purpose));
        }
        if !self.flush.is_empty()
            || !self.closed.is_empty()
            || self.shutdown_deadline_ns.is_some()
            || self.needs_timer()
        {
            // The replies are written by one step of the loop after the tasks of this
            // iteration (one send per connection, however many of its handlers finished);
            // that step also re-arms the timer or notices the end of a shutdown.
            aio::schedule_resume(py, &self.shared);
        }
        result.map(|()| adopted)
    }

    /// Every task still running a suspended callback.
    pub fn tasks(&self, py: Python<'_>) -> Vec<Py<PyAny>> {
        self.tasks.all(py)
    }

    // -----------------------------------------------------------------------------------
    // The I/O phase (GIL released)
    // -----------------------------------------------------------------------------------

    fn has_python_work(&self) -> bool {
        self.signal_pending
            || !self.ready.is_empty()
            || !self.connects.is_empty()
            || !self.closed.is_empty()
            || !self.notes.is_empty()
    }

    fn tick_ns(&self) -> u64 {
        let t = match (self.cfg.idle_timeout_ns, self.cfg.message_timeout_ns) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return DEFAULT_TICK_NS,
        };
        (t / 8).clamp(10_000_000, 1_000_000_000)
    }

    fn needs_timer(&self) -> bool {
        self.cfg.idle_timeout_ns.is_some()
            || self.cfg.message_timeout_ns.is_some()
            || self.closing > 0
            || self.accept_resume_ns.is_some()
            || self.shutdown_deadline_ns.is_some()
    }

    fn poll_timeout_ms(&self, now: u64) -> i32 {
        if !self.needs_timer() {
            return -1;
        }
        let mut until = self.next_sweep_ns;
        if let Some(d) = self.shutdown_deadline_ns {
            until = until.min(d);
        }
        let ns = until.saturating_sub(now);
        // Round up so the wait does not end a hair before the deadline and spin.
        ns.div_ceil(1_000_000).min(i32::MAX as u64) as i32
    }

    fn io_phase(&mut self) -> Result<Step, Errno> {
        loop {
            self.apply_remote();
            self.flush_all();
            let now = sys::now_ns();
            if self.shutdown_deadline_ns.is_none() && self.shared.shutdown.load(Ordering::Acquire) {
                self.begin_shutdown(now);
            }
            if let Some(deadline) = self.shutdown_deadline_ns {
                if self.live == 0 {
                    return Ok(Step::Done);
                }
                if now >= deadline {
                    self.kill_all();
                    return Ok(Step::Done);
                }
            }
            if self.has_python_work() {
                return Ok(Step::Python);
            }
            let timeout = self.poll_timeout_ms(now);
            match self.epoll.wait(&mut self.events, timeout) {
                Ok(()) => {}
                Err(libc::EINTR) => {
                    self.signal_pending = true;
                    continue;
                }
                Err(e) => return Err(e),
            }
            let now = sys::now_ns();
            self.handle_events(now);
            if self.needs_timer() && now >= self.next_sweep_ns {
                self.sweep(now);
            }
        }
    }

    fn handle_events(&mut self, now: u64) {
        for i in 0..self.events.len() {
            let ev = self.events[i];
            let (token, bits) = (ev.u64, ev.events);
            match token {
                LISTENER => self.accept_all(now),
                WAKER => self.shared.woken(),
                SIGNAL => {
                    sys::drain(self.signal_r.as_raw_fd());
                    self.signal_pending = true;
                }
                _ => self.conn_event(token, bits, now),
            }
        }
    }

    fn begin_shutdown(&mut self, now: u64) {
        let timeout = self.shared.shutdown_timeout_ns.load(Ordering::Acquire);
        self.shutdown_deadline_ns = Some(now.saturating_add(timeout));
        if self.listener_registered {
            let _ = self.epoll.delete(self.listener.as_raw_fd());
            self.listener_registered = false;
        }
        self.accept_resume_ns = None;
        self.cancel_handlers = !self.tasks.map.is_empty();
        for t in self.live_tokens() {
            // Messages no handler has started on are dropped; running ones are cancelled.
            if let Some(c) = slot_conn(&mut self.slots, t) {
                if !c.msgs.is_empty() {
                    c.msgs.clear();
                    c.next_msg = 0;
                    settle_input(c, &mut self.pool);
                }
            }
            self.begin_close(t, CloseReason::Clean, now);
        }
    }

    fn live_tokens(&mut self) -> Vec<u64> {
        let mut v = std::mem::take(&mut self.scratch);
        v.clear();
        v.extend(
            self.slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.conn.is_some())
                .map(|(i, s)| (u64::from(s.gen) << 32) | i as u64),
        );
        v
    }

    fn kill_all(&mut self) {
        for t in self.live_tokens() {
            self.kill(t, CloseReason::Clean);
        }
    }

    /// Applies `conn.send()` / `conn.close()` calls made outside this connection's handler.
    fn apply_remote(&mut self) {
        let mut tokens = std::mem::take(&mut self.scratch);
        self.shared.take_dirty(&mut tokens);
        let now = sys::now_ns();
        for &t in &tokens {
            self.take_pending(t, now);
        }
        tokens.clear();
        self.scratch = tokens;
    }

    fn take_pending(&mut self, token: u64, now: u64) {
        let Some(c) = slot_conn(&mut self.slots, token) else {
            return;
        };
        c.compact_out();
        let close = c.shared.take_into(&mut c.out);
        let unsent = c.unsent();
        if unsent > 0 && !c.want_flush {
            c.want_flush = true;
            self.flush.push(token);
        }
        if close {
            self.begin_close(token, CloseReason::Clean, now);
        }
    }

    fn flush_all(&mut self) {
        if self.flush.is_empty() {
            return;
        }
        let mut list = std::mem::take(&mut self.flush);
        let now = sys::now_ns();
        for &t in &list {
            if let Some(c) = slot_conn(&mut self.slots, t) {
                c.want_flush = false;
                self.write(t, now);
            }
        }
        list.clear();
        self.flush = list;
    }

    fn accept_all(&mut self, now: u64) {
        for _ in 0..ACCEPT_BATCH {
            match sys::accept(self.listener.as_raw_fd()) {
                Ok((fd, peer)) => self.add_conn(fd, peer, now),
                Err(libc::EAGAIN) => return,
                // accept(2): errors of the pending connection, not of the listener.
                Err(
                    libc::EINTR
                    | libc::ECONNABORTED
                    | libc::EPROTO
                    | libc::EPERM
                    | libc::ENETDOWN
                    | libc::ENOPROTOOPT
                    | libc::EHOSTDOWN
                    | libc::ENONET
                    | libc::EHOSTUNREACH
                    | libc::EOPNOTSUPP
                    | libc::ENETUNREACH,
                ) => {}
                Err(e) => {
                    // Out of descriptors or memory: the listener stays readable, so stop
                    // watching it for a moment instead of spinning.
                    self.notes.push(format!(
                        "accept() failed ({}); pausing new connections for {} ms",
                        crate::errors::strerror(e),
                        ACCEPT_BACKOFF_NS / 1_000_000
                    ));
                    if self.listener_registered {
                        let _ = self.epoll.delete(self.listener.as_raw_fd());
                        self.listener_registered = false;
                    }
                    self.accept_resume_ns = Some(now + ACCEPT_BACKOFF_NS);
                    self.next_sweep_ns = self.next_sweep_ns.min(now + ACCEPT_BACKOFF_NS);
                    return;
                }
            }
        }
    }

    fn add_conn(&mut self, fd: OwnedFd, peer: sys::SockAddr, now: u64) {
        if self.live >= self.cfg.max_connections {
            return; // dropping `fd` closes it: the connection is refused
        }
        let raw = fd.as_raw_fd();
        if self.tcp {
            // Replies are small and must not wait for Nagle's algorithm.
            let _ = sys::setsockopt_int(raw, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
        }
        let local = sys::sockname(raw).unwrap_or_else(|_| sys::SockAddr::new());
        let index = match self.free.pop() {
            Some(i) => i as usize,
            None => {
                self.slots.push(Slot { gen: 0, conn: None });
                self.slots.len() - 1
            }
        };
        let token = (u64::from(self.slots[index].gen) << 32) | index as u64;
        if let Err(e) = self.epoll.add(raw, EPOLLIN, token) {
            self.free.push(index as u32);
            self.notes.push(format!(
                "could not watch a new connection ({})",
                crate::errors::strerror(e)
            ));
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        let conn = Conn {
            fd,
            token,
            inbuf: Vec::new(),
            start: 0,
            scan: 0,
            msgs: Vec::new(),
            next_msg: 0,
            flights: std::collections::VecDeque::new(),
            seq_base: 0,
            gated: false,
            out: Vec::new(),
            out_pos: 0,
            interest: EPOLLIN,
            paused: false,
            phase: Phase::Open,
            eof: false,
            last_activity_ns: now,
            partial_since_ns: None,
            reason: None,
            shared: Arc::new(ConnShared::new(id, token, self.shared.clone())),
            py: None,
            peer,
            local,
            want_flush: false,
            announced: self.cfg.on_connect.is_none(),
        };
        self.slots[index].conn = Some(Box::new(conn));
        self.live += 1;
        self.shared.live.store(self.live, Ordering::Relaxed);
        if self.cfg.on_connect.is_some() {
            self.connects.push(token);
        }
    }

    fn conn_event(&mut self, token: u64, bits: u32, now: u64) {
        let Some(c) = slot_conn(&mut self.slots, token) else {
            return;
        };
        if bits & EPOLLERR != 0 {
            let fd = c.fd.as_raw_fd();
            let err = sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR).unwrap_or(0);
            let reason = if err != 0 {
                CloseReason::Os(err)
            } else {
                CloseReason::Os(libc::ECONNRESET)
            };
            self.kill(token, reason);
            return;
        }
        if bits & EPOLLOUT != 0 {
            self.write(token, now);
        }
        let Some(c) = slot_conn(&mut self.slots, token) else {
            return;
        };
        if c.reading() && bits & (EPOLLIN | EPOLLHUP) != 0 {
            self.read(token, now);
        } else if bits & EPOLLHUP != 0 {
            // Both directions are shut and we are not reading: nothing more can happen.
            let reason = c.reason.take().unwrap_or(CloseReason::Clean);
            self.kill(token, reason);
        }
    }

    fn read(&mut self, token: u64, now: u64) {
        let framing = &self.shared.framing;
        let max_size = self.cfg.max_size;
        let Some(c) = self.slots[token_index(token)].conn.as_deref_mut() else {
            return;
        };
        prepare_read(c, &mut self.pool);
        let limit = match framing {
            Framing::Raw => max_size.max(1),
            _ => usize::MAX,
        };
        let close = match sys::recv_into_spare(c.fd.as_raw_fd(), &mut c.inbuf, limit) {
            Ok(0) => {
                c.eof = true;
                let partial = &c.inbuf[c.start..];
                Some(match framing {
                    _ if partial.is_empty() => CloseReason::Clean,
                    Framing::Raw => CloseReason::Clean,
                    Framing::Frame(h) => CloseReason::Incomplete {
                        partial: partial.to_vec(),
                        expected: (partial.len() >= h.size())
                            .then(|| h.decode(partial).saturating_add(h.size() as u64)),
                    },
                    Framing::Line(_) => CloseReason::Incomplete {
                        partial: partial.to_vec(),
                        expected: None,
                    },
                })
            }
            Ok(_) => {
                c.last_activity_ns = now;
                let before = c.msgs.len();
                let res = decode(
                    framing,
                    &c.inbuf,
                    &mut c.start,
                    &mut c.scan,
                    max_size,
                    &mut c.msgs,
                );
                let got = c.msgs.len() > before;
                if c.pending_input() == 0 {
                    c.partial_since_ns = None;
                } else if got || c.partial_since_ns.is_none() {
                    c.partial_since_ns = Some(now);
                }
                if got {
                    self.ready.push(token);
                } else {
                    settle_input(c, &mut self.pool);
                }
                // Messages before a bad one are still served (begin_close waits for them),
                // then the connection closes with its replies flushed.
                res.err().map(CloseReason::Decode)
            }
            Err(libc::EAGAIN) => None,
            Err(e) => {
                self.kill(token, CloseReason::Os(e));
                return;
            }
        };
        if let Some(reason) = close {
            self.begin_close(token, reason, now);
        }
    }

    fn write(&mut self, token: u64, now: u64) {
        let high_water = self.cfg.high_water;
        let Some(c) = slot_conn(&mut self.slots, token) else {
            return;
        };
        if c.unsent() > 0 {
            match sys::send(c.fd.as_raw_fd(), &c.out[c.out_pos..]) {
                Ok(n) => {
                    c.out_pos += n;
                    if n > 0 {
                        c.last_activity_ns = now;
                    }
                    if c.out_pos == c.out.len() {
                        c.out.clear();
                        c.out_pos = 0;
                        if c.out.capacity() > OUT_KEEP {
                            c.out = Vec::new();
                        }
                    }
                }
                Err(libc::EAGAIN) => {}
                Err(e) => {
                    self.kill(token, CloseReason::Os(e));
                    return;
                }
            }
        }
        let Some(c) = slot_conn(&mut self.slots, token) else {
            return;
        };
        c.shared.buffered.store(c.unsent(), Ordering::Relaxed);
        if c.paused && c.unsent() <= high_water / 4 {
            c.paused = false;
        }
        if matches!(c.phase, Phase::Closing { .. }) && c.settled() {
            let reason = c.reason.take().unwrap_or(CloseReason::Clean);
            self.kill(token, reason);
            return;
        }
        update_interest(&self.epoll, c);
    }

    /// Stops reading; the connection closes once its output is flushed (or after a linger).
    fn begin_close(&mut self, token: u64, reason: CloseReason, now: u64) {
        let Some(c) = slot_conn(&mut self.slots, token) else {
            return;
        };
        // The first reason wins, except that a handler's exception is always what
        // on_disconnect gets.
        if c.reason.is_none() || matches!(reason, CloseReason::Handler(_)) {
            c.reason = Some(reason);
        }
        let newly = c.phase == Phase::Open;
        if newly {
            c.phase = Phase::Closing {
                deadline_ns: now + CLOSE_LINGER_NS,
            };
        }
        if c.settled() {
            let reason = c.reason.take().unwrap_or(CloseReason::Clean);
            self.kill_inner(token, reason, !newly);
            return;
        }
        update_interest(&self.epoll, c);
        if newly {
            self.closing += 1;
        }
    }

    /// Closes the socket now and queues the `on_disconnect` report.
    fn kill(&mut self, token: u64, reason: CloseReason) {
        self.kill_inner(token, reason, true);
    }

    fn kill_inner(&mut self, token: u64, reason: CloseReason, count_closing: bool) {
        let index = token_index(token);
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        if u64::from(slot.gen) != token >> 32 {
            return;
        }
        let Some(mut c) = slot.conn.take() else {
            return;
        };
        slot.gen = slot.gen.wrapping_add(1) & 0x7fff_ffff;
        self.free.push(index as u32);
        self.live -= 1;
        self.shared.live.store(self.live, Ordering::Relaxed);
        if count_closing && matches!(c.phase, Phase::Closing { .. }) {
            self.closing -= 1;
        }
        c.shared.closed.store(true, Ordering::Release);
        c.shared.buffered.store(0, Ordering::Relaxed);
        // Closing the descriptor also removes it from the epoll set.
        let _ = self.epoll.delete(c.fd.as_raw_fd());
        let inbuf = std::mem::take(&mut c.inbuf);
        give_back(inbuf, &mut self.pool);
        c.msgs = Vec::new();
        c.next_msg = 0;
        c.out = Vec::new();
        let reason = c.reason.take().unwrap_or(reason);
        if (self.cfg.on_disconnect.is_some() && c.announced)
            || c.py.is_some()
            || !c.flights.is_empty()
            || c.gated
        {
            self.closed.push((c, reason));
        }
    }

    fn sweep(&mut self, now: u64) {
        self.next_sweep_ns = now + self.tick_ns();
        if let Some(at) = self.accept_resume_ns {
            if now >= at {
                self.accept_resume_ns = None;
                if self.shutdown_deadline_ns.is_none()
                    && self
                        .epoll
                        .add(self.listener.as_raw_fd(), EPOLLIN, LISTENER)
                        .is_ok()
                {
                    self.listener_registered = true;
                }
            }
        }
        let idle = self.cfg.idle_timeout_ns;
        let slow = self.cfg.message_timeout_ns;
        let mut doomed: Vec<(u64, CloseReason)> = Vec::new();
        for s in &self.slots {
            let Some(c) = s.conn.as_deref() else { continue };
            if !c.flights.is_empty() || !c.msgs.is_empty() || c.gated {
                // Waiting for its own handlers is not the peer being idle or slow.
                if let Phase::Closing { deadline_ns } = c.phase {
                    if now >= deadline_ns {
                        doomed.push((c.token, CloseReason::Clean));
                    }
                }
                continue;
            }
            match c.phase {
                Phase::Closing { deadline_ns } => {
                    if now >= deadline_ns {
                        doomed.push((c.token, CloseReason::Clean));
                    }
                }
                Phase::Open => {
                    if idle.is_some_and(|t| now.saturating_sub(c.last_activity_ns) >= t) {
                        doomed.push((c.token, CloseReason::Idle));
                    } else if !c.paused
                        && slow.is_some_and(|t| {
                            c.partial_since_ns
                                .is_some_and(|since| now.saturating_sub(since) >= t)
                        })
                    {
                        doomed.push((c.token, CloseReason::SlowMessage));
                    }
                }
            }
        }
        for (t, r) in doomed {
            self.kill(t, r);
        }
    }

    // -----------------------------------------------------------------------------------
    // The Python phase (GIL held, once per batch)
    // -----------------------------------------------------------------------------------

    fn python_phase(&mut self, py: Python<'_>) -> PyResult<()> {
        let _guard =
            enter_python_phase(py, &self.shared, &mut self.signal_pending, &mut self.notes)?;
        if std::mem::take(&mut self.cancel_handlers) {
            self.cancel_running(py);
        }
        let now = sys::now_ns();
        let completed = self.take_completions(py, now);
        let connects = std::mem::take(&mut self.connects);
        for &t in &connects {
            self.run_on_connect(py, t)?;
        }
        self.connects = connects;
        self.connects.clear();
        let ready = std::mem::take(&mut self.ready);
        for &t in &ready {
            self.dispatch(py, t, now)?;
        }
        self.ready = ready;
        self.ready.clear();
        completed?;
        self.report_closed(py)
    }

    /// Cancels every task running a handler or `on_connect` (at shutdown).
    fn cancel_running(&mut self, py: Python<'_>) {
        let ids: Vec<u64> = self
            .tasks
            .map
            .iter()
            .filter(|(_, (_, p))| !matches!(p, Purpose::Disconnect))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.tasks.cancel(py, id);
        }
    }

    /// Takes the outcomes of suspended callbacks that ended since the last step: replies
    /// are written in request order, and the connections they held up are dispatched again
    /// (by this same Python phase).
    fn take_completions(&mut self, py: Python<'_>, now: u64) -> PyResult<()> {
        let done = std::mem::take(&mut *lock(&self.shared.completions));
        let mut first_fatal: Option<PyErr> = None;
        for comp in done {
            self.tasks.map.remove(&comp.task_id);
            let res = match comp.purpose {
                Purpose::Datagram => Ok(()),
                Purpose::Disconnect => match comp.result {
                    Err(e) if !aio::is_cancelled(py, &e) => {
                        report_error(py, "on_disconnect raised", e)
                    }
                    _ => Ok(()),
                },
                Purpose::Connect { token } => {
                    let Some(c) = slot_conn(&mut self.slots, token) else {
                        continue;
                    };
                    c.gated = false;
                    match comp.result {
                        Ok(_) => {
                            if !c.msgs.is_empty() {
                                self.ready.push(token);
                            }
                            Ok(())
                        }
                        Err(e) => self.fail(
                            py,
                            token,
                            e,
                            "on_connect raised; closing the connection",
                            now,
                        ),
                    }
                }
                Purpose::Handler { token, seq } => {
                    let Some(c) = slot_conn(&mut self.slots, token) else {
                        // The connection is gone (and its tasks were cancelled).
                        if let Err(e) = comp.result {
                            if !aio::is_cancelled(py, &e) {
                                first_fatal =
                                    first_fatal.or(report_error(py, "handler raised", e).err());
                            }
                        }
                        continue;
                    };
                    let index = seq.wrapping_sub(c.seq_base);
                    if let Some(f) = usize::try_from(index)
                        .ok()
                        .and_then(|i| c.flights.get_mut(i))
                    {
                        if matches!(f, Flight::Running(id) if *id == comp.task_id) {
                            *f = match comp.result {
                                Ok(v) => Flight::Done(v),
                                Err(e) => Flight::Failed(e),
                            };
                        }
                    }
                    self.drain_flights(py, token, now)
                }
            };
            if let Err(e) = res {
                first_fatal.get_or_insert(e);
            }
        }
        match first_fatal {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Writes the replies at the head of the connection's flights that are ready, then
    /// lets its waiting messages be dispatched.
    fn drain_flights(&mut self, py: Python<'_>, token: u64, now: u64) -> PyResult<()> {
        let pipeline = self.cfg.pipeline;
        let framing = &self.shared.framing;
        let Some(c) = slot_conn(&mut self.slots, token) else {
            return Ok(());
        };
        let mut failure = None;
        while matches!(c.flights.front(), Some(Flight::Done(_) | Flight::Failed(_))) {
            c.seq_base += 1;
            match c.flights.pop_front() {
                Some(Flight::Done(v)) => {
                    c.compact_out();
                    if let Err(e) = push_reply(c, framing, v.bind(py)) {
                        failure = Some(e);
                        break;
                    }
                }
                Some(Flight::Failed(e)) => {
                    failure = Some(e);
                    break;
                }
                _ => {}
            }
        }
        if let Some(e) = failure {
            self.fail(py, token, e, "handler raised; closing the connection", now)?;
        } else if !c.msgs.is_empty() && c.flights.len() < pipeline && !c.gated {
            self.ready.push(token);
        }
        self.settle_output(token);
        Ok(())
    }

    /// A callback of connection `token` failed with `err`: as for a plain handler, an
    /// `Exception` is logged and closes the connection (`on_disconnect` receives it);
    /// a cancellation closes it quietly; anything else propagates.
    fn fail(
        &mut self,
        py: Python<'_>,
        token: u64,
        err: PyErr,
        what: &str,
        now: u64,
    ) -> PyResult<()> {
        let reason = if aio::is_cancelled(py, &err) {
            if self.shutdown_deadline_ns.is_some() {
                CloseReason::Clean
            } else {
                CloseReason::Handler(err)
            }
        } else if err.is_instance_of::<PyException>(py) {
            log_error(py, what, &err);
            CloseReason::Handler(err)
        } else {
            return Err(err);
        };
        self.halt(py, token);
        self.begin_close(token, reason, now);
        Ok(())
    }

    /// Stops a connection's handling: its running handlers are cancelled, their replies
    /// and its undispatched messages dropped.
    fn halt(&mut self, py: Python<'_>, token: u64) {
        let Some(c) = slot_conn(&mut self.slots, token) else {
            return;
        };
        let mut running = Vec::new();
        c.seq_base += c.flights.len() as u64;
        for f in c.flights.drain(..) {
            if let Flight::Running(id) = f {
                running.push(id);
            }
        }
        c.msgs.clear();
        c.next_msg = 0;
        settle_input(c, &mut self.pool);
        for id in running {
            self.tasks.cancel(py, id);
        }
    }

    fn run_on_connect(&mut self, py: Python<'_>, token: u64) -> PyResult<()> {
        let Some(cb) = self.cfg.on_connect.as_ref().map(|c| c.clone_ref(py)) else {
            return Ok(());
        };
        let Some(c) = slot_conn(&mut self.slots, token) else {
            return Ok(());
        };
        let pyconn = ensure_py(py, c)?;
        c.announced = true;
        let res = cb.call1(py, (pyconn,)).and_then(|r| {
            let r = r.into_bound(py);
            match aio::awaitable_iter(&r) {
                None => Ok(()),
                Some(iter) => {
                    let iter = iter?;
                    if lock(&self.shared.hooks).is_none() {
                        return Err(aio::no_asyncio(&iter));
                    }
                    match aio::first_step(py, &self.shared, &iter, &mut None) {
                        (Drive::Return(_), _) => Ok(()),
                        (Drive::Error(e), _) => Err(e),
                        (Drive::Yield(y), standby) => {
                            let purpose = Purpose::Connect { token };
                            self.tasks
                                .spawn(py, &self.shared, iter, y, purpose, standby)?;
                            if let Some(c) = slot_conn(&mut self.slots, token) {
                                c.gated = true;
                            }
                            Ok(())
                        }
                    }
                }
            }
        });
        if let Err(e) = res {
            let now = sys::now_ns();
            self.fail(
                py,
                token,
                e,
                "on_connect raised; closing the connection",
                now,
            )?;
        }
        Ok(())
    }

    fn dispatch(&mut self, py: Python<'_>, token: u64, now: u64) -> PyResult<()> {
        let index = token_index(token);
        let Some(c) = self.slots[index].conn.as_deref_mut() else {
            return Ok(());
        };
        if c.token != token || c.gated || c.msgs.is_empty() {
            return Ok(());
        }
        let pyconn = ensure_py(py, c)?;
        let outcome = if self.cfg.batch {
            let msgs = std::mem::take(&mut c.msgs);
            let outcome = call_batch(
                py,
                &self.cfg.handler,
                &pyconn,
                c,
                &msgs[c.next_msg..],
                &self.shared.framing,
            );
            c.msgs = msgs;
            c.next_msg = c.msgs.len();
            outcome
        } else {
            let mut ctx = AsyncCtx {
                tasks: &mut self.tasks,
                shared: &self.shared,
                pipeline: self.cfg.pipeline,
                adopt: &mut self.adopt,
                entered: None,
            };
            call_each(
                py,
                &self.cfg.handler,
                &pyconn,
                c,
                &self.shared.framing,
                &mut self.msg_bytes,
                &mut ctx,
            )
        };
        if c.next_msg >= c.msgs.len() || matches!(outcome, Outcome::Failed(_)) {
            c.msgs.clear();
            c.next_msg = 0;
            settle_input(c, &mut self.pool);
        }
        match outcome {
            Outcome::Ok { close } => {
                if close {
                    self.begin_close(token, CloseReason::Clean, now);
                }
            }
            Outcome::Failed(e) => {
                self.fail(py, token, e, "handler raised; closing the connection", now)?;
            }
        }
        self.settle_output(token);
        Ok(())
    }

    /// After new output or a change in what a connection waits for: schedules the flush,
    /// applies `high_water`, updates the epoll interest, and closes a closing connection
    /// that has nothing left to do.
    fn settle_output(&mut self, token: u64) {
        let high_water = self.cfg.high_water;
        let Some(c) = slot_conn(&mut self.slots, token) else {
            return;
        };
        c.shared.buffered.store(c.unsent(), Ordering::Relaxed);
        if c.unsent() > high_water && !c.paused {
            c.paused = true;
        }
        if c.unsent() > 0 && !c.want_flush {
            c.want_flush = true;
            self.flush.push(token);
        } else {
            update_interest(&self.epoll, c);
        }
        // A closing connection (decode error seen along with good messages) finishes now.
        if matches!(c.phase, Phase::Closing { .. }) && c.settled() {
            let reason = c.reason.take().unwrap_or(CloseReason::Clean);
            self.kill(token, reason);
        }
    }

    fn report_closed(&mut self, py: Python<'_>) -> PyResult<()> {
        let mut first_fatal: Option<PyErr> = None;
        // A callback can make more connections close (conn.close() on another one only
        // queues a request, so this list does not grow while we walk it).
        for (mut c, reason) in std::mem::take(&mut self.closed) {
            for f in std::mem::take(&mut c.flights) {
                if let Flight::Running(id) = f {
                    self.tasks.cancel(py, id);
                }
            }
            if c.gated {
                let gate = self
                    .tasks
                    .map
                    .iter()
                    .find(
                        |(_, (_, p))| matches!(p, Purpose::Connect { token } if *token == c.token),
                    )
                    .map(|(id, _)| *id);
                if let Some(id) = gate {
                    self.tasks.cancel(py, id);
                }
            }
            let Some(cb) = self.cfg.on_disconnect.as_ref().map(|c| c.clone_ref(py)) else {
                continue;
            };
            if !c.announced {
                continue;
            }
            let pyconn = match ensure_py(py, &mut c) {
                Ok(p) => p,
                Err(e) => {
                    first_fatal.get_or_insert(e);
                    continue;
                }
            };
            let exc = reason_to_exception(py, reason, &self.cfg);
            let res = cb
                .call1(py, (pyconn, exc))
                .and_then(|r| self.run_detached(py, r.into_bound(py)));
            if let Err(e) = res {
                if let Err(fatal) = report_error(py, "on_disconnect raised", e) {
                    first_fatal.get_or_insert(fatal);
                }
            }
        }
        match first_fatal {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Runs what a callback returned if it is a coroutine (inside asyncio only; elsewhere
    /// it is ignored, as before): to its end, or as a task once it suspends.
    fn run_detached(&mut self, py: Python<'_>, r: Bound<'_, PyAny>) -> PyResult<()> {
        if r.is_none() || lock(&self.shared.hooks).is_none() {
            return Ok(());
        }
        let Some(iter) = aio::awaitable_iter(&r) else {
            return Ok(());
        };
        let iter = iter?;
        match aio::first_step(py, &self.shared, &iter, &mut None) {
            (Drive::Return(_), _) => Ok(()),
            (Drive::Error(e), _) => Err(e),
            (Drive::Yield(y), standby) => self
                .tasks
                .spawn(py, &self.shared, iter, y, Purpose::Disconnect, standby)
                .map(drop),
        }
    }
}

/// Logs an `Exception` from a callback; anything else is returned, to propagate.
fn report_error(py: Python<'_>, what: &str, err: PyErr) -> PyResult<()> {
    if err.is_instance_of::<PyException>(py) {
        log_error(py, what, &err);
        Ok(())
    } else {
        Err(err)
    }
}

/// What `call_each` needs for handlers that return coroutines.
struct AsyncCtx<'a, 'py> {
    tasks: &'a mut Tasks,
    shared: &'a Arc<LoopShared>,
    pipeline: usize,
    adopt: &'a mut Option<(u64, Option<Adopted>)>,
    /// The standby task, entered for this dispatch's first steps (`aio::Entered`).
    entered: Option<aio::Entered<'py>>,
}

impl Drop for StreamLoop {
    fn drop(&mut self) {
        // Python references held by connections are released by pyo3 when the GIL is next
        // held; the sockets close with their OwnedFd.
        self.slots.clear();
    }
}

/// The `Connection` object handed to callbacks, made on first use.
fn ensure_py(py: Python<'_>, c: &mut Conn) -> PyResult<Py<Connection>> {
    if let Some(p) = &c.py {
        return Ok(p.clone_ref(py));
    }
    let obj = Py::new(
        py,
        Connection::new(c.shared.clone(), c.peer.clone(), c.local.clone()),
    )?;
    c.py = Some(obj.clone_ref(py));
    Ok(obj)
}

enum Outcome {
    Ok { close: bool },
    Failed(PyErr),
}

/// Appends one reply (bytes-like or None) to the connection's output, framed.
#[inline(always)]
fn push_reply(c: &mut Conn, framing: &Framing, reply: &Bound<'_, PyAny>) -> PyResult<()> {
    c.compact_out();
    let Ok(b) = reply.cast_exact::<PyBytes>() else {
        return push_other_reply(c, framing, reply);
    };
    let data = b.as_bytes();
    match framing {
        // The common case, kept free of calls but the payload's memcpy.
        Framing::Frame(h) if h.fits(data.len()) => {
            c.out.reserve(h.size() + data.len());
            h.push(data.len(), &mut c.out);
            c.out.extend_from_slice(data);
            Ok(())
        }
        _ => framing
            .encode_into(data, &mut c.out)
            .map_err(PyValueError::new_err),
    }
}

/// `push_reply` for None and for bytes-likes other than exact `bytes`.
#[cold]
fn push_other_reply(c: &mut Conn, framing: &Framing, reply: &Bound<'_, PyAny>) -> PyResult<()> {
    if reply.is_none() {
        return Ok(());
    }
    let view = ByteView::readable(reply).map_err(|_| {
        PyTypeError::new_err(format!(
            "a handler reply must be a bytes-like object or None, not {}",
            crate::errors::type_name(reply)
        ))
    })?;
    framing
        .encode_into(view.as_slice(), &mut c.out)
        .map_err(PyValueError::new_err)
}

/// Moves what `conn.send()`/`conn.close()` queued during a callback into the output, so it
/// goes out before the callback's own reply. Returns whether a close was requested.
fn take_local_pending(c: &mut Conn) -> bool {
    if c.shared.has_pending.load(Ordering::Acquire) {
        c.compact_out();
        c.shared.take_into(&mut c.out)
    } else {
        false
    }
}

fn call_each<'py>(
    py: Python<'py>,
    handler: &Py<PyAny>,
    pyconn: &Py<Connection>,
    c: &mut Conn,
    framing: &Framing,
    bytes: &mut MessageBytes,
    ctx: &mut AsyncCtx<'_, 'py>,
) -> Outcome {
    let handler = Caller::new(handler.bind(py));
    let pyconn = pyconn.bind(py).as_any();
    while c.next_msg < c.msgs.len() {
        if c.flights.len() >= ctx.pipeline {
            break; // the rest waits for a running handler to finish
        }
        let m = c.msgs[c.next_msg].clone();
        c.next_msg += 1;
        let msg = bytes.make(py, &c.inbuf[m]);
        let res = match handler.call2(pyconn, &msg) {
            Ok(reply) => {
                let close = take_local_pending(c);
                let res = if c.flights.is_empty() && reply.is_exact_instance_of::<PyBytes>() {
                    push_reply(c, framing, &reply)
                } else {
                    other_reply(py, c, framing, reply, ctx)
                };
                res.map(|()| close)
            }
            Err(e) => Err(e),
        };
        bytes.recycle(msg);
        match res {
            Ok(false) => {}
            Ok(true) => {
                c.next_msg = c.msgs.len();
                return Outcome::Ok { close: true };
            }
            Err(e) if c.flights.is_empty() => return Outcome::Failed(e),
            Err(e) => {
                // Earlier handlers are still running: this failure takes its turn after
                // their replies, and nothing after it is dispatched.
                c.flights.push_back(Flight::Failed(e));
                c.next_msg = c.msgs.len();
                return Outcome::Ok { close: true };
            }
        }
    }
    Outcome::Ok { close: false }
}

/// A reply that is not exact `bytes`, or one that must wait for earlier replies: a
/// coroutine is run until it suspends (then it goes on as a task) or ends.
#[cold]
fn other_reply<'py>(
    py: Python<'py>,
    c: &mut Conn,
    framing: &Framing,
    reply: Bound<'py, PyAny>,
    ctx: &mut AsyncCtx<'_, 'py>,
) -> PyResult<()> {
    let Some(iter) = aio::awaitable_iter(&reply) else {
        return queue_or_push(c, framing, reply);
    };
    let iter = iter?;
    if lock(&ctx.shared.hooks).is_none() {
        return Err(aio::no_asyncio(&iter));
    }
    match aio::first_step(py, ctx.shared, &iter, &mut ctx.entered) {
        (Drive::Return(v), _) => queue_or_push(c, framing, v.into_bound(py)),
        (Drive::Error(e), _) => Err(e),
        (Drive::Yield(y), standby) => {
            let purpose = Purpose::Handler {
                token: c.token,
                seq: c.seq_base + c.flights.len() as u64,
            };
            let id = match ctx.adopt {
                Some((id, slot @ None)) => {
                    // Dispatched inside that task's step: the step was the task's own.
                    debug_assert!(standby.is_none());
                    *slot = Some(Adopted {
                        iter: iter.unbind(),
                        first: y,
                        purpose,
                    });
                    *id
                }
                _ => ctx.tasks.spawn(py, ctx.shared, iter, y, purpose, standby)?,
            };
            c.flights.push_back(Flight::Running(id));
            Ok(())
        }
    }
}

/// Writes a finished reply now, or queues it behind the running handlers before it.
fn queue_or_push(c: &mut Conn, framing: &Framing, reply: Bound<'_, PyAny>) -> PyResult<()> {
    if c.flights.is_empty() {
        push_reply(c, framing, &reply)
    } else {
        c.flights.push_back(Flight::Done(reply.unbind()));
        Ok(())
    }
}

fn call_batch(
    py: Python<'_>,
    handler: &Py<PyAny>,
    pyconn: &Py<Connection>,
    c: &mut Conn,
    msgs: &[Range<usize>],
    framing: &Framing,
) -> Outcome {
    let list = match PyList::new(
        py,
        msgs.iter().map(|m| PyBytes::new(py, &c.inbuf[m.clone()])),
    ) {
        Ok(l) => l,
        Err(e) => return Outcome::Failed(e),
    };
    let replies = match handler.bind(py).call1((pyconn.bind(py), list)) {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(e),
    };
    let close = take_local_pending(c);
    if !replies.is_none() {
        let iter = match replies.try_iter() {
            Ok(it) => it,
            Err(_) => {
                return Outcome::Failed(PyTypeError::new_err(format!(
                    "a batch_handler must return an iterable of replies or None, not {}",
                    crate::errors::type_name(&replies)
                )))
            }
        };
        for r in iter {
            let r = match r {
                Ok(r) => r,
                Err(e) => return Outcome::Failed(e),
            };
            if let Err(e) = push_reply(c, framing, &r) {
                return Outcome::Failed(e);
            }
        }
    }
    Outcome::Ok { close }
}

/// Registers the epoll interest the connection's state calls for, if it changed.
fn update_interest(epoll: &Epoll, c: &mut Conn) {
    let reading = c.phase == Phase::Open && !c.paused && !c.eof;
    // No EPOLLOUT while a flush is already listed: that flush tries the send, and only
    // what it leaves unsent needs the kernel's signal. Registering it anyway cost two
    // epoll_ctl calls per message in the asyncio server (strace), each dearer than the send.
    let writing = c.unsent() > 0 && !c.want_flush;
    let want = if reading { EPOLLIN } else { 0 } | if writing { EPOLLOUT } else { 0 };
    if want != c.interest && epoll.modify(c.fd.as_raw_fd(), want, c.token).is_ok() {
        c.interest = want;
    }
}

/// Makes room for a read: a pooled buffer, or the pending bytes moved to its front.
fn prepare_read(c: &mut Conn, pool: &mut Vec<Vec<u8>>) {
    debug_assert!(c.msgs.is_empty());
    let pending = c.pending_input();
    if c.inbuf.capacity() - c.inbuf.len() >= MIN_SPARE {
        return;
    }
    if pending <= SMALL_PENDING && c.inbuf.capacity() < READ_CHUNK {
        let mut big = pool.pop().unwrap_or_else(|| Vec::with_capacity(READ_CHUNK));
        big.clear();
        big.extend_from_slice(&c.inbuf[c.start..]);
        c.inbuf = big;
        c.start = 0;
        return;
    }
    if c.start > 0 {
        c.inbuf.copy_within(c.start.., 0);
        c.inbuf.truncate(pending);
        c.start = 0;
    }
    if c.inbuf.capacity() - c.inbuf.len() < MIN_SPARE {
        // Grows geometrically with what actually arrived, never by a length off the wire.
        c.inbuf.reserve(c.inbuf.len().max(READ_CHUNK));
    }
}

/// After the messages of a read were handed out: drop the consumed bytes and give the
/// buffer back to the pool if little or nothing is left in it.
fn settle_input(c: &mut Conn, pool: &mut Vec<Vec<u8>>) {
    let pending = c.pending_input();
    if pending == 0 {
        let buf = std::mem::take(&mut c.inbuf);
        give_back(buf, pool);
        c.start = 0;
        c.scan = 0;
    } else if pending <= SMALL_PENDING && c.inbuf.capacity() >= READ_CHUNK {
        let small = c.inbuf[c.start..].to_vec();
        let buf = std::mem::replace(&mut c.inbuf, small);
        give_back(buf, pool);
        c.start = 0;
    } else if c.start > 0 {
        c.inbuf.copy_within(c.start.., 0);
        c.inbuf.truncate(pending);
        c.start = 0;
    }
}

fn give_back(mut buf: Vec<u8>, pool: &mut Vec<Vec<u8>>) {
    if buf.capacity() == READ_CHUNK && pool.len() < POOL_MAX {
        buf.clear();
        pool.push(buf);
    }
}
