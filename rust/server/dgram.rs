//! The datagram (UDP / Unix datagram) server loop: `recvmmsg(2)` a batch, call the handler
//! for each datagram under one GIL acquisition, queue the replies and send them with
//! `sendmmsg(2)`.

use std::collections::{HashMap, VecDeque};
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::aio::{self, Drive, Purpose};
use super::conn::Framing;
use super::shared::{lock, LoopShared};
use super::sys::{self, Epoll, Errno, SockAddr};
use super::{addr_to_py, dup_socket, enter_python_phase, log_error, log_warning, loop_epoll, Core};
use crate::buffer::ByteView;
use crate::errors::os_error_from_errno;

const SOCKET: u64 = 1;
const WAKER: u64 = 2;
const SIGNAL: u64 = 3;
const EPOLLIN: u32 = libc::EPOLLIN as u32;
const EPOLLOUT: u32 = libc::EPOLLOUT as u32;
/// `UIO_MAXIOV`: the most messages one `sendmmsg` takes.
const SEND_BATCH: usize = 1024;
/// Peer addresses converted to Python objects are kept for reuse, up to this many.
const ADDR_CACHE: usize = 4096;

struct Reply {
    addr: SockAddr,
    start: usize,
    len: usize,
}

pub struct DgramLoop {
    handler: Py<PyAny>,
    shared: Arc<LoopShared>,
    epoll: Epoll,
    sock: OwnedFd,
    signal_r: OwnedFd,
    registered: bool,
    interest: u32,
    max_size: usize,
    batch: usize,
    high_water: usize,
    rbuf: Vec<u8>,
    raddrs: Vec<SockAddr>,
    /// (length, truncated) of each datagram of the last `recvmmsg`.
    received: Vec<(usize, bool)>,
    out: Vec<u8>,
    queue: VecDeque<Reply>,
    queued_bytes: usize,
    addr_cache: HashMap<Vec<u8>, Py<PyAny>>,
    notes: Vec<String>,
    signal_pending: bool,
    shutdown_deadline_ns: Option<u64>,
    /// Suspended coroutine handlers (`ferrosock.asyncio`), by task id: the task and where
    /// its reply goes.
    tasks: HashMap<u64, (Py<PyAny>, SockAddr)>,
    next_task: u64,
    /// The socket is not read while this many handlers are unfinished.
    max_pending: usize,
    cancel_pending: bool,
}

#[derive(PartialEq, Eq)]
enum Step {
    Python,
    Done,
}

impl DgramLoop {
    #[allow(clippy::too_many_arguments)]
    fn new(
        handler: Py<PyAny>,
        shared: Arc<LoopShared>,
        sock: OwnedFd,
        signal_r: OwnedFd,
        max_size: usize,
        batch: usize,
        high_water: usize,
        max_pending: usize,
    ) -> Result<Self, Errno> {
        let epoll = loop_epoll(&shared, &signal_r, WAKER, SIGNAL)?;
        sys::set_nonblocking(sock.as_raw_fd())?;
        Ok(Self {
            handler,
            shared,
            epoll,
            sock,
            signal_r,
            registered: false,
            interest: 0,
            max_size,
            batch,
            high_water,
            rbuf: Vec::new(),
            raddrs: Vec::new(),
            received: Vec::with_capacity(batch),
            out: Vec::new(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            addr_cache: HashMap::new(),
            notes: Vec::new(),
            signal_pending: false,
            shutdown_deadline_ns: None,
            tasks: HashMap::new(),
            next_task: 0,
            max_pending,
            cancel_pending: false,
        })
    }

    pub fn serve(&mut self, py: Python<'_>) -> PyResult<()> {
        let result = self.run(py);
        self.finish();
        result
    }

    /// Leaves the loop as `serve()` returning does: unwatched, nothing queued.
    fn finish(&mut self) {
        if self.registered {
            let _ = self.epoll.delete(self.sock.as_raw_fd());
            self.registered = false;
            self.interest = 0;
        }
        self.received.clear();
        // Replies of the last batch after shutdown have no loop left to send them.
        self.queue.clear();
        self.out.clear();
        self.queued_bytes = 0;
        self.signal_pending = false;
        self.shutdown_deadline_ns = None;
        self.cancel_pending = false;
        self.shared.shutdown.store(false, Ordering::Release);
    }

    /// Allocates the receive slots and starts watching the socket.
    pub fn start(&mut self) -> PyResult<()> {
        if self.rbuf.is_empty() {
            self.rbuf = vec![0u8; self.batch * self.max_size];
            self.raddrs = vec![SockAddr::new(); self.batch];
        }
        self.update_interest().map_err(os_error_from_errno)
    }

    pub fn epoll_fd(&self) -> i32 {
        self.epoll.as_raw_fd()
    }

    pub fn tasks(&self, py: Python<'_>) -> Vec<Py<PyAny>> {
        self.tasks.values().map(|(t, _)| t.clone_ref(py)).collect()
    }

    /// One non-blocking iteration, as `StreamLoop::step`: seconds until the shutdown
    /// deadline (`inf` if none), or -1 once a shutdown is complete.
    pub fn step(&mut self, py: Python<'_>) -> PyResult<f64> {
        self.shared.resume_scheduled.store(false, Ordering::Release);
        let round = py.detach(|| self.io_round());
        let result = self.python_phase(py);
        if result.is_ok() {
            self.send_queued();
        }
        let interest = self.update_interest();
        match (round, result) {
            (Ok(false), Ok(())) => {}
            (Ok(true), Ok(())) => {
                self.finish();
                return Ok(-1.0);
            }
            (round, result) => {
                self.finish();
                result?;
                round.map_err(os_error_from_errno)?;
                return Ok(-1.0);
            }
        }
        interest.map_err(os_error_from_errno)?;
        Ok(match self.shutdown_deadline_ns {
            Some(d) => d.saturating_sub(sys::now_ns()) as f64 / 1e9,
            None => f64::INFINITY,
        })
    }

    /// The I/O phase of one `step`: send, then one `epoll_wait` that does not wait.
    /// Returns whether a shutdown has finished.
    fn io_round(&mut self) -> Result<bool, Errno> {
        self.send_queued();
        self.update_interest()?;
        let now = sys::now_ns();
        if self.shutdown_deadline_ns.is_none() && self.shared.shutdown.load(Ordering::Acquire) {
            let t = self.shared.shutdown_timeout_ns.load(Ordering::Acquire);
            self.shutdown_deadline_ns = Some(now.saturating_add(t));
            self.cancel_pending = !self.tasks.is_empty();
            self.update_interest()?;
        }
        if let Some(d) = self.shutdown_deadline_ns {
            if (self.queue.is_empty() && self.tasks.is_empty()) || now >= d {
                return Ok(true);
            }
        }
        if self.signal_pending || !self.received.is_empty() || !self.notes.is_empty() {
            return Ok(false);
        }
        let mut events = Vec::with_capacity(4);
        match self.epoll.wait(&mut events, 0) {
            Ok(()) | Err(libc::EINTR) => {}
            Err(e) => return Err(e),
        }
        self.handle_events(&events)?;
        Ok(false)
    }

    fn handle_events(&mut self, events: &[libc::epoll_event]) -> Result<(), Errno> {
        for ev in events {
            let (token, bits) = (ev.u64, ev.events);
            match token {
                WAKER => self.shared.woken(),
                SIGNAL => {
                    sys::drain(self.signal_r.as_raw_fd());
                    self.signal_pending = true;
                }
                _ => {
                    if bits & EPOLLOUT != 0 {
                        self.send_queued();
                    }
                    if bits & (EPOLLIN | libc::EPOLLERR as u32) != 0 && self.interest & EPOLLIN != 0
                    {
                        self.receive()?;
                    }
                }
            }
        }
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
                Err(e) => return Err(os_error_from_errno(e)),
            }
        }
    }

    fn update_interest(&mut self) -> Result<(), Errno> {
        let reading = self.shutdown_deadline_ns.is_none()
            && self.queued_bytes <= self.high_water
            && self.tasks.len() < self.max_pending;
        let want =
            if reading { EPOLLIN } else { 0 } | if self.queue.is_empty() { 0 } else { EPOLLOUT };
        if !self.registered {
            self.epoll.add(self.sock.as_raw_fd(), want, SOCKET)?;
            self.registered = true;
            self.interest = want;
        } else if want != self.interest {
            self.epoll.modify(self.sock.as_raw_fd(), want, SOCKET)?;
            self.interest = want;
        }
        Ok(())
    }

    fn io_phase(&mut self) -> Result<Step, Errno> {
        loop {
            self.send_queued();
            self.update_interest()?;
            let now = sys::now_ns();
            if self.shutdown_deadline_ns.is_none() && self.shared.shutdown.load(Ordering::Acquire) {
                let t = self.shared.shutdown_timeout_ns.load(Ordering::Acquire);
                self.shutdown_deadline_ns = Some(now.saturating_add(t));
                self.update_interest()?;
            }
            if let Some(d) = self.shutdown_deadline_ns {
                if self.queue.is_empty() || now >= d {
                    self.queue.clear();
                    self.out.clear();
                    self.queued_bytes = 0;
                    return Ok(Step::Done);
                }
            }
            if self.signal_pending || !self.received.is_empty() || !self.notes.is_empty() {
                return Ok(Step::Python);
            }
            let timeout = match self.shutdown_deadline_ns {
                Some(d) => d
                    .saturating_sub(now)
                    .div_ceil(1_000_000)
                    .min(i32::MAX as u64) as i32,
                None => -1,
            };
            let mut events = Vec::with_capacity(4);
            match self.epoll.wait(&mut events, timeout) {
                Ok(()) => {}
                Err(libc::EINTR) => {
                    self.signal_pending = true;
                    continue;
                }
                Err(e) => return Err(e),
            }
            self.handle_events(&events)?;
        }
    }

    /// One `recvmmsg` of up to `batch` datagrams into the slots of `rbuf`.
    fn receive(&mut self) -> Result<(), Errno> {
        // No more datagrams than handlers may still start (`max_pending`).
        let n = self
            .batch
            .min(self.max_pending.saturating_sub(self.tasks.len()).max(1));
        let mut iovs: Vec<libc::iovec> = Vec::with_capacity(n);
        let mut hdrs: Vec<libc::mmsghdr> = Vec::with_capacity(n);
        for slot in self.rbuf.chunks_exact_mut(self.max_size).take(n) {
            iovs.push(libc::iovec {
                iov_base: slot.as_mut_ptr().cast(),
                iov_len: slot.len(),
            });
        }
        for (addr, iov) in self.raddrs.iter_mut().zip(iovs.iter_mut()) {
            *addr = SockAddr::new();
            let mut h = zeroed_mmsghdr();
            h.msg_hdr.msg_name = addr.as_mut_ptr().cast();
            h.msg_hdr.msg_namelen = SockAddr::capacity();
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            hdrs.push(h);
        }
        let got = loop {
            // SAFETY: every header points at a live iovec over its own `max_size` slice of
            // `rbuf` and at a live sockaddr_storage; the kernel fills at most `n` of them.
            let r = unsafe {
                libc::recvmmsg(
                    self.sock.as_raw_fd(),
                    hdrs.as_mut_ptr(),
                    n as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if r >= 0 {
                break r as usize;
            }
            match std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO)
            {
                libc::EINTR => continue,
                libc::EAGAIN => return Ok(()),
                // An ICMP error queued for an earlier send (port unreachable...): the socket
                // itself is fine.
                libc::ECONNREFUSED | libc::EHOSTUNREACH | libc::ENETUNREACH => return Ok(()),
                e => return Err(e),
            }
        };
        for (i, h) in hdrs.iter().enumerate().take(got) {
            self.raddrs[i].set_len(h.msg_hdr.msg_namelen);
            let truncated = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            self.received.push((h.msg_len as usize, truncated));
        }
        Ok(())
    }

    /// Sends queued replies with `sendmmsg` until the queue is empty or the socket is full.
    fn send_queued(&mut self) {
        while !self.queue.is_empty() {
            let n = self.queue.len().min(SEND_BATCH);
            let mut iovs: Vec<libc::iovec> = Vec::with_capacity(n);
            let mut hdrs: Vec<libc::mmsghdr> = Vec::with_capacity(n);
            for r in self.queue.iter().take(n) {
                iovs.push(libc::iovec {
                    iov_base: self.out[r.start..].as_mut_ptr().cast(),
                    iov_len: r.len,
                });
            }
            for (r, iov) in self.queue.iter_mut().take(n).zip(iovs.iter_mut()) {
                let mut h = zeroed_mmsghdr();
                h.msg_hdr.msg_name = r.addr.as_mut_ptr().cast();
                h.msg_hdr.msg_namelen = r.addr.len();
                h.msg_hdr.msg_iov = iov;
                h.msg_hdr.msg_iovlen = 1;
                hdrs.push(h);
            }
            // SAFETY: the headers point at live iovecs, addresses and output bytes, all
            // unmoved during the call; the kernel only reads them (and writes msg_len).
            let r = unsafe {
                libc::sendmmsg(
                    self.sock.as_raw_fd(),
                    hdrs.as_mut_ptr(),
                    n as libc::c_uint,
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            let sent = if r >= 0 {
                r as usize
            } else {
                match std::io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EIO)
                {
                    libc::EINTR => continue,
                    libc::EAGAIN | libc::ENOBUFS => return,
                    // This datagram cannot be delivered (too big, no route, peer gone):
                    // UDP semantics, drop it and go on with the rest.
                    _ => 1,
                }
            };
            for _ in 0..sent {
                if let Some(r) = self.queue.pop_front() {
                    self.queued_bytes -= r.len;
                }
            }
        }
        self.out.clear();
    }

    fn python_phase(&mut self, py: Python<'_>) -> PyResult<()> {
        let _guard =
            enter_python_phase(py, &self.shared, &mut self.signal_pending, &mut self.notes)?;
        if std::mem::take(&mut self.cancel_pending) {
            for (task, _) in self.tasks.values() {
                if let Err(e) = task.call_method0(py, pyo3::intern!(py, "cancel")) {
                    e.write_unraisable(py, None);
                }
            }
        }
        self.take_completions(py)?;
        let received = std::mem::take(&mut self.received);
        let handler = self.handler.bind(py).clone();
        let mut result = Ok(());
        // Coroutine handlers' first steps share one entering of the standby task, left
        // before anything is logged.
        let mut entered = None;
        for (i, &(len, truncated)) in received.iter().enumerate() {
            if truncated {
                drop(entered.take());
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                log_warning(
                    py,
                    &format!(
                        "dropped a datagram longer than max_size ({} bytes)",
                        self.max_size
                    ),
                );
                continue;
            }
            let at = i * self.max_size;
            let msg = PyBytes::new(py, &self.rbuf[at..at + len]);
            let addr = match self.peer(py, i) {
                Ok(a) => a,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            match handler
                .call1((msg, addr))
                .and_then(|r| self.settle(py, i, r, &mut entered))
            {
                Ok(Some(reply)) => {
                    if let Err(e) = self.queue_reply(i, &reply) {
                        drop(entered.take());
                        log_error(py, "handler returned an invalid reply", &e);
                    }
                }
                Ok(None) => {}
                Err(e) if e.is_instance_of::<PyException>(py) => {
                    drop(entered.take());
                    log_error(py, "handler raised", &e);
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        drop(entered);
        self.received = received;
        self.received.clear();
        result
    }

    /// What a handler returned: a reply to send now, or a coroutine, run until it suspends
    /// (then it goes on as an asyncio task, `None` here) or ends (its value is the reply).
    fn settle<'py>(
        &mut self,
        py: Python<'py>,
        i: usize,
        reply: Bound<'py, PyAny>,
        entered: &mut Option<aio::Entered<'py>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(iter) = aio::awaitable_iter(&reply) else {
            return Ok(Some(reply));
        };
        let iter = iter?;
        if lock(&self.shared.hooks).is_none() {
            return Err(aio::no_asyncio(&iter));
        }
        match aio::first_step(py, &self.shared, &iter, entered) {
            (Drive::Return(v), _) => Ok(Some(v.into_bound(py))),
            (Drive::Error(e), _) => Err(e),
            (Drive::Yield(y), standby) => {
                self.next_task += 1;
                let id = self.next_task;
                let task =
                    aio::carry_on(py, &self.shared, standby, iter, y, id, Purpose::Datagram)?;
                self.tasks.insert(id, (task, self.raddrs[i].clone()));
                Ok(None)
            }
        }
    }

    /// Sends the replies of coroutine handlers that finished since the last step.
    fn take_completions(&mut self, py: Python<'_>) -> PyResult<()> {
        let done = std::mem::take(&mut *lock(&self.shared.completions));
        let mut fatal = None;
        for comp in done {
            let Some((_, addr)) = self.tasks.remove(&comp.task_id) else {
                continue;
            };
            match comp.result {
                Ok(reply) => {
                    if let Err(e) = self.queue_reply_to(addr, reply.bind(py)) {
                        log_error(py, "handler returned an invalid reply", &e);
                    }
                }
                Err(e) if aio::is_cancelled(py, &e) => {}
                Err(e) if e.is_instance_of::<PyException>(py) => {
                    log_error(py, "handler raised", &e);
                }
                Err(e) => {
                    fatal.get_or_insert(e);
                }
            }
        }
        match fatal {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The sender's address as a Python object, reusing the one made for the same peer.
    fn peer(&mut self, py: Python<'_>, i: usize) -> PyResult<Py<PyAny>> {
        let key = self.raddrs[i].as_bytes();
        if let Some(a) = self.addr_cache.get(key) {
            return Ok(a.clone_ref(py));
        }
        let obj = addr_to_py(py, &self.raddrs[i])?.unbind();
        if self.addr_cache.len() >= ADDR_CACHE {
            self.addr_cache.clear();
        }
        self.addr_cache.insert(key.to_vec(), obj.clone_ref(py));
        Ok(obj)
    }

    fn queue_reply(&mut self, i: usize, reply: &Bound<'_, PyAny>) -> PyResult<()> {
        if reply.is_none() {
            return Ok(());
        }
        self.queue_reply_to(self.raddrs[i].clone(), reply)
    }

    fn queue_reply_to(&mut self, addr: SockAddr, reply: &Bound<'_, PyAny>) -> PyResult<()> {
        if reply.is_none() {
            return Ok(());
        }
        // An unbound Unix datagram client has no address to reply to.
        if addr.len() as usize <= size_of::<libc::sa_family_t>() {
            return Ok(());
        }
        let start = self.out.len();
        if let Ok(b) = reply.cast_exact::<PyBytes>() {
            self.out.extend_from_slice(b.as_bytes());
        } else {
            let view = ByteView::readable(reply).map_err(|_| {
                PyTypeError::new_err(format!(
                    "a handler reply must be a bytes-like object or None, not {}",
                    crate::errors::type_name(reply)
                ))
            })?;
            self.out.extend_from_slice(view.as_slice());
        }
        let len = self.out.len() - start;
        self.queued_bytes += len;
        self.queue.push_back(Reply { addr, start, len });
        Ok(())
    }
}

fn zeroed_mmsghdr() -> libc::mmsghdr {
    // SAFETY: mmsghdr is plain old data (pointers, lengths, flags); all-zero is valid.
    unsafe { MaybeUninit::<libc::mmsghdr>::zeroed().assume_init() }
}

/// The native half of `ferrosock.DatagramServer`.
#[pyclass(frozen, module = "ferrosock._native")]
pub struct DatagramServerCore {
    core: Core<DgramLoop>,
}

#[pymethods]
impl DatagramServerCore {
    #[new]
    #[pyo3(signature = (fd, handler, *, max_size, batch_size, high_water, max_pending=1024))]
    fn new(
        fd: i32,
        handler: Py<PyAny>,
        max_size: usize,
        batch_size: usize,
        high_water: usize,
        max_pending: usize,
    ) -> PyResult<Self> {
        if max_pending == 0 {
            return Err(PyValueError::new_err("max_pending must be >= 1"));
        }
        if max_size == 0 || batch_size == 0 || batch_size > SEND_BATCH {
            return Err(PyValueError::new_err(
                "max_size must be positive and batch_size between 1 and 1024",
            ));
        }
        if max_size.checked_mul(batch_size).is_none_or(|n| n > 1 << 30) {
            return Err(PyValueError::new_err(
                "max_size * batch_size must not exceed 1 GiB",
            ));
        }
        let sock = dup_socket(fd, libc::SOCK_DGRAM)?;
        let core = Core::new(Framing::Raw, |shared, signal_r| {
            DgramLoop::new(
                handler,
                shared,
                sock,
                signal_r,
                max_size,
                batch_size,
                high_water,
                max_pending,
            )
        })?;
        Ok(Self { core })
    }

    #[getter]
    fn wakeup_fd(&self) -> i32 {
        self.core.wakeup_fd()
    }

    fn serve(&self, py: Python<'_>) -> PyResult<()> {
        self.core.serve(py)
    }

    fn request_shutdown(&self, timeout: f64) {
        self.core.request_shutdown(timeout);
    }

    /// Datagrams dropped because they were longer than `max_size`.
    #[getter]
    fn dropped(&self) -> u64 {
        self.core.shared.dropped.load(Ordering::Relaxed)
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.core.close(py)
    }

    /// As `StreamServerCore.attach` (no `StreamServerCore` to hand outcomes to inline).
    fn attach(&self, event_loop: &Bound<'_, PyAny>, resume: Py<PyAny>) -> PyResult<()> {
        let new = aio::Hooks::new(event_loop, resume, None)?;
        let mut hooks = lock(&self.core.shared.hooks);
        if hooks.is_some() {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "already attached to an event loop",
            ));
        }
        *hooks = Some(new);
        Ok(())
    }

    /// As `StreamServerCore.detach`.
    fn detach(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        drop(lock(&self.core.shared.hooks).take());
        self.core
            .shared
            .resume_scheduled
            .store(false, Ordering::Release);
        aio::retire_standby(py, &self.core.shared)
    }

    fn start(&self) -> PyResult<()> {
        match self.core.lock("the loop is busy")?.as_mut() {
            Some(lp) => lp.start(),
            None => Err(super::closed_error()),
        }
    }

    fn step(&self, py: Python<'_>) -> PyResult<f64> {
        match self.core.lock("the loop is busy")?.as_mut() {
            Some(lp) => lp.step(py),
            None => Err(super::closed_error()),
        }
    }

    #[getter]
    fn epoll_fd(&self) -> PyResult<i32> {
        match self.core.lock("the loop is busy")?.as_ref() {
            Some(lp) => Ok(lp.epoll_fd()),
            None => Err(super::closed_error()),
        }
    }

    fn tasks(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        match self.core.lock("the loop is busy")?.as_ref() {
            Some(lp) => Ok(lp.tasks(py)),
            None => Ok(Vec::new()),
        }
    }
}
