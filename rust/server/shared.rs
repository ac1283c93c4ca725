//! State shared between the loop thread and any other thread: the wake-up eventfd, the
//! shutdown request, and each connection's queue for `conn.send()` / `conn.close()` calls.
//!
//! The loop owns the connections outright; other threads (and handlers, for connections
//! other than the one being served) only touch these small, lock-protected queues, which
//! the loop drains into the connection's output buffer in call order.

use std::cell::Cell;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::aio::{Completion, Hooks, Standby};
use super::conn::Framing;
use super::sys;

/// Locks a mutex, ignoring poisoning: nothing here panics while holding a lock, and a
/// panic must not turn into a second one.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

thread_local! {
    /// The loop this thread is currently running Python callbacks for (its `LoopShared`
    /// address), so `conn.send()` from a handler skips the eventfd write: the loop looks at
    /// the queues right after the batch anyway.
    static DISPATCHING: Cell<usize> = const { Cell::new(0) };
}

/// Marks the current thread as running callbacks for `shared` until dropped.
pub struct DispatchGuard(usize);

impl DispatchGuard {
    pub fn enter(shared: &Arc<LoopShared>) -> Self {
        let prev = DISPATCHING.with(|d| d.replace(Arc::as_ptr(shared) as usize));
        Self(prev)
    }
}

impl Drop for DispatchGuard {
    fn drop(&mut self) {
        DISPATCHING.with(|d| d.set(self.0));
    }
}

/// What the loop and the rest of the world share.
pub struct LoopShared {
    /// The eventfd; `None` once the server is closed (`Connection` objects may outlive
    /// it, and must not keep a descriptor open).
    waker: Mutex<Option<OwnedFd>>,
    wake_pending: AtomicBool,
    /// `shutdown()` was requested and not yet honoured by a `serve_forever`.
    pub shutdown: AtomicBool,
    pub shutdown_timeout_ns: AtomicU64,
    /// Tokens of connections with queued sends or a close request.
    pub dirty: Mutex<Vec<u64>>,
    pub framing: Framing,
    /// Open connections, for `Server.connection_count`.
    pub live: AtomicUsize,
    /// Datagrams dropped for exceeding `max_size`, for `DatagramServer.dropped`.
    pub dropped: AtomicU64,
    /// The asyncio loop's entry points while `ferrosock.asyncio` serves (`None` otherwise).
    pub hooks: Mutex<Option<Hooks>>,
    /// The task the next coroutine callback starts in (`aio::first_step`).
    pub standby: Mutex<Option<Standby>>,
    /// Suspended handler calls that ended, for the loop's next step.
    pub completions: Mutex<Vec<Completion>>,
    /// A `resume` is scheduled on the asyncio loop and has not run yet.
    pub resume_scheduled: AtomicBool,
    /// `close_clients()` (1: flush, then close) or `abort_clients()` (2) was requested.
    pub close_clients: AtomicU8,
}

impl LoopShared {
    pub fn new(framing: Framing) -> Result<Self, sys::Errno> {
        Ok(Self {
            waker: Mutex::new(Some(sys::eventfd()?)),
            wake_pending: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            shutdown_timeout_ns: AtomicU64::new(0),
            dirty: Mutex::new(Vec::new()),
            framing,
            live: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            hooks: Mutex::new(None),
            standby: Mutex::new(None),
            completions: Mutex::new(Vec::new()),
            resume_scheduled: AtomicBool::new(false),
            close_clients: AtomicU8::new(0),
        })
    }

    pub fn waker_fd(&self) -> i32 {
        lock(&self.waker).as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// Wakes the loop out of `epoll_wait` (one eventfd write until the loop notices).
    pub fn wake(&self) {
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            if let Some(fd) = lock(&self.waker).as_ref() {
                sys::eventfd_wake(fd.as_raw_fd());
            }
        }
    }

    /// Called by the loop when the eventfd fires, before it looks at the queues.
    pub fn woken(&self) {
        self.wake_pending.store(false, Ordering::Release);
        if let Some(fd) = lock(&self.waker).as_ref() {
            sys::drain(fd.as_raw_fd());
        }
    }

    /// Closes the eventfd: the server is closed and its loop gone.
    pub fn close_waker(&self) {
        drop(lock(&self.waker).take());
    }

    fn dispatching_here(self: &Arc<Self>) -> bool {
        DISPATCHING.with(|d| d.get() == Arc::as_ptr(self) as usize)
    }

    fn mark_dirty(self: &Arc<Self>, token: u64) {
        lock(&self.dirty).push(token);
        if !self.dispatching_here() {
            self.wake();
        }
    }

    pub fn take_dirty(&self, into: &mut Vec<u64>) {
        into.clear();
        std::mem::swap(&mut *lock(&self.dirty), into);
    }
}

/// `conn.send()` on a connection that is gone (or whose close was requested).
pub struct Closed;

#[derive(Default)]
pub struct Pending {
    pub data: Vec<u8>,
    pub close: bool,
    listed: bool,
}

/// The part of a connection other threads may touch.
pub struct ConnShared {
    pub id: u64,
    pub token: u64,
    /// The socket is closed; sends are refused.
    pub closed: AtomicBool,
    /// `pending` holds something: checked without the lock after each handler call.
    pub has_pending: AtomicBool,
    pending: Mutex<Pending>,
    /// Unsent output bytes, as of the loop's last flush (for `conn.buffered`).
    pub buffered: AtomicUsize,
    pub server: Arc<LoopShared>,
}

impl ConnShared {
    pub fn new(id: u64, token: u64, server: Arc<LoopShared>) -> Self {
        Self {
            id,
            token,
            closed: AtomicBool::new(false),
            has_pending: AtomicBool::new(false),
            pending: Mutex::new(Pending::default()),
            buffered: AtomicUsize::new(0),
            server,
        }
    }

    /// Queues one message, framed like the handler's replies.
    pub fn send(&self, data: &[u8]) -> Result<Result<(), String>, Closed> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Closed);
        }
        let mut p = lock(&self.pending);
        if p.close {
            return Err(Closed);
        }
        if let Err(e) = self.server.framing.encode_into(data, &mut p.data) {
            return Ok(Err(e));
        }
        self.has_pending.store(true, Ordering::Release);
        let list = !std::mem::replace(&mut p.listed, true);
        drop(p);
        if list {
            self.server.mark_dirty(self.token);
        }
        Ok(Ok(()))
    }

    /// Asks the loop to flush what is queued and close the connection.
    pub fn request_close(&self) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        let mut p = lock(&self.pending);
        p.close = true;
        self.has_pending.store(true, Ordering::Release);
        let list = !std::mem::replace(&mut p.listed, true);
        drop(p);
        if list {
            self.server.mark_dirty(self.token);
        }
    }

    /// Moves queued data onto the end of `out`; returns whether a close was requested.
    pub fn take_into(&self, out: &mut Vec<u8>) -> bool {
        let mut p = lock(&self.pending);
        self.has_pending.store(false, Ordering::Release);
        p.listed = false;
        if out.is_empty() {
            std::mem::swap(out, &mut p.data);
        } else {
            out.extend_from_slice(&p.data);
            p.data.clear();
        }
        p.close
    }
}
