//! `ferrosock.Server` and `ferrosock.DatagramServer`: event loops in Rust (level-triggered
//! `epoll` through `libc`) that call Python only with whole messages, once per batch.
//!
//! This file is the `#[pyclass]` layer; the mechanism lives in `stream.rs` (stream loop),
//! `dgram.rs` (datagram loop), `conn.rs` (per-connection buffers and message decoding),
//! `call.rs` (the per-message call into Python), `shared.rs` (what other threads may
//! touch) and `sys.rs` (system calls).
//!
//! NOTE: epoll is used directly rather than through mio: the server needs `accept4`,
//! `recvmmsg`/`sendmmsg` and `MSG_NOSIGNAL` sends that mio does not wrap anyway, and
//! level-triggered interest lets a read stop after one short `recv` (mio is edge-triggered,
//! which costs one more `recv` per readiness event to reach `EAGAIN`).

mod aio;
mod call;
pub(crate) mod conn;
mod dgram;
mod shared;
mod stream;
mod sys;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use pyo3::exceptions::{
    PyBrokenPipeError, PyOSError, PyRuntimeError, PyTimeoutError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyBytes;

use crate::buffer::ByteView;
use crate::errors::os_error_from_errno;
use crate::framing::Header;
use conn::{CloseReason, Framing};
use shared::{ConnShared, DispatchGuard, LoopShared};
use stream::{Config, StreamLoop};
use sys::SockAddr;

// ---------------------------------------------------------------------------------------
// Logging and close reasons
// ---------------------------------------------------------------------------------------

fn logger(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    LOGGER
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(
                py.import("logging")?
                    .call_method1("getLogger", ("ferrosock.server",))?
                    .unbind(),
            )
        })
        .map(|l| l.bind(py))
}

/// `logging.getLogger("ferrosock.server").error(msg, exc_info=err)`. A failure to log is
/// itself reported through `sys.unraisablehook`, never raised into the loop.
fn log_error(py: Python<'_>, msg: &str, err: &PyErr) {
    let res = logger(py).and_then(|l| {
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("exc_info", err.value(py))?;
        l.call_method("error", (msg,), Some(&kwargs))
    });
    if let Err(e) = res {
        e.write_unraisable(py, None);
    }
}

fn log_warning(py: Python<'_>, msg: &str) {
    if let Err(e) = logger(py).and_then(|l| l.call_method1("warning", (msg,))) {
        e.write_unraisable(py, None);
    }
}

/// Starts a loop's Python phase: marks this thread as running callbacks for `shared`
/// (until the guard drops), runs the signal handlers a wake-up asked for (raising what they
/// raise), and logs the warnings the I/O phase left.
fn enter_python_phase(
    py: Python<'_>,
    shared: &Arc<LoopShared>,
    signal_pending: &mut bool,
    notes: &mut Vec<String>,
) -> PyResult<DispatchGuard> {
    let guard = DispatchGuard::enter(shared);
    if std::mem::take(signal_pending) {
        py.check_signals()?;
    }
    for note in notes.drain(..) {
        log_warning(py, &note);
    }
    Ok(guard)
}

/// A loop's epoll instance, already watching the loop's wake-up eventfd and signal pipe
/// under the tokens the loop gives them.
fn loop_epoll(
    shared: &LoopShared,
    signal_r: &OwnedFd,
    waker_token: u64,
    signal_token: u64,
) -> Result<sys::Epoll, sys::Errno> {
    let epoll = sys::Epoll::new()?;
    epoll.add(shared.waker_fd(), libc::EPOLLIN as u32, waker_token)?;
    epoll.add(signal_r.as_raw_fd(), libc::EPOLLIN as u32, signal_token)?;
    Ok(epoll)
}

/// The exception `on_disconnect(conn, exc)` receives: `None` for a clean close.
fn reason_to_exception(py: Python<'_>, reason: CloseReason, cfg: &Config) -> Py<PyAny> {
    let secs = |ns: Option<u64>| ns.unwrap_or(0) as f64 / 1e9;
    let err = match reason {
        CloseReason::Clean => return py.None(),
        CloseReason::Incomplete {
            partial,
            expected: Some(n),
        } => crate::errors::incomplete_read_error(py, &partial, n),
        // A line's length is unknown until its delimiter: `expected=None`, as asyncio says.
        CloseReason::Incomplete {
            partial,
            expected: None,
        } => py
            .import("ferrosock._errors")
            .and_then(|m| m.getattr("IncompleteReadError"))
            .and_then(|cls| cls.call1((PyBytes::new(py, &partial), py.None())))
            .map_or_else(|e| e, PyErr::from_value),
        CloseReason::Os(errno) => os_error_from_errno(errno),
        CloseReason::Decode(e) => crate::errors::frame_error(py, e.to_string()),
        CloseReason::Idle => PyTimeoutError::new_err(format!(
            "idle timeout: no data sent or received for {} s",
            secs(cfg.idle_timeout_ns)
        )),
        CloseReason::SlowMessage => PyTimeoutError::new_err(format!(
            "message timeout: a message was still incomplete {} s after it began",
            secs(cfg.message_timeout_ns)
        )),
        CloseReason::Handler(e) => e,
    };
    err.value(py).clone().into_any().unbind()
}

// ---------------------------------------------------------------------------------------
// Socket addresses
// ---------------------------------------------------------------------------------------

/// The peer or local address as CPython's `makesockaddr` gives it (`rust/sockaddr.rs`).
fn addr_to_py<'py>(py: Python<'py>, a: &SockAddr) -> PyResult<Bound<'py, PyAny>> {
    a.to_python(py)
}

// ---------------------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------------------

/// One client connection of a `ferrosock.Server`, handed to the handler and callbacks.
///
/// `send()` and `close()` may be called from any thread; they queue the data (or the close
/// request) and the loop writes it in call order. Data queued from the connection's own
/// handler goes out before that handler's returned reply.
#[pyclass(frozen, weakref, module = "ferrosock._native")]
pub struct Connection {
    shared: Arc<ConnShared>,
    peer: SockAddr,
    local: SockAddr,
    peer_py: PyOnceLock<Py<PyAny>>,
    local_py: PyOnceLock<Py<PyAny>>,
}

impl Connection {
    fn new(shared: Arc<ConnShared>, peer: SockAddr, local: SockAddr) -> Self {
        Self {
            shared,
            peer,
            local,
            peer_py: PyOnceLock::new(),
            local_py: PyOnceLock::new(),
        }
    }
}

#[pymethods]
impl Connection {
    /// Sends one message: framed like the handler's replies (a length header for
    /// `framing='frame'`, the delimiter appended for `'line'`, as is for `'raw'`).
    /// Raises `BrokenPipeError` once the connection is closed or closing.
    fn send(&self, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let res = if let Ok(b) = data.cast_exact::<PyBytes>() {
            self.shared.send(b.as_bytes())
        } else {
            let view = ByteView::readable(data)?;
            self.shared.send(view.as_slice())
        };
        match res {
            Ok(Ok(())) => Ok(()),
            Ok(Err(msg)) => Err(PyValueError::new_err(msg)),
            Err(shared::Closed) => Err(PyBrokenPipeError::new_err((
                libc::EPIPE,
                "connection is closed",
            ))),
        }
    }

    /// Closes the connection once what is already queued has been sent. Idempotent.
    fn close(&self) {
        self.shared.request_close();
    }

    /// A number unique to this connection within its server (1, 2, 3, ...).
    #[getter]
    fn id(&self) -> u64 {
        self.shared.id
    }

    /// The peer's address, as `socket.getpeername()` gives it.
    #[getter]
    fn peername(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.peer_py
            .get_or_try_init(py, || addr_to_py(py, &self.peer).map(Bound::unbind))
            .map(|p| p.clone_ref(py))
    }

    /// The local address, as `socket.getsockname()` gives it.
    #[getter]
    fn sockname(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.local_py
            .get_or_try_init(py, || addr_to_py(py, &self.local).map(Bound::unbind))
            .map(|p| p.clone_ref(py))
    }

    /// Whether the connection is closed (its socket released).
    #[getter]
    fn closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Bytes of output not yet accepted by the kernel, as of the loop's last write.
    #[getter]
    fn buffered(&self) -> usize {
        self.shared.buffered.load(Ordering::Relaxed)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let peer = self.peername(py)?;
        let peer = peer.bind(py).repr()?;
        let state = if self.closed() { " closed" } else { "" };
        Ok(format!(
            "<ferrosock.Connection id={} peer={peer}{state}>",
            self.shared.id
        ))
    }
}

// ---------------------------------------------------------------------------------------
// StreamServerCore
// ---------------------------------------------------------------------------------------

impl StreamServerCore {
    /// Hands a finished handler's outcome to the loop from inside its task (see
    /// `HandlerCall::finish`); gives the completion back if the loop is busy (a step is
    /// running further up this thread's stack, or another thread serves).
    pub(crate) fn complete_inline(
        &self,
        py: Python<'_>,
        completion: aio::Completion,
        task_id: u64,
        adopt: bool,
    ) -> Result<PyResult<Option<aio::Adopted>>, aio::Completion> {
        let Ok(mut guard) = self.core.state.try_lock() else {
            return Err(completion);
        };
        match guard.as_mut() {
            Some(lp) => Ok(lp.complete_inline(py, completion, task_id, adopt)),
            None => Err(completion),
        }
    }
}

fn duration_ns(name: &str, v: Option<f64>) -> PyResult<Option<u64>> {
    match v {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 => Ok(Some((s * 1e9).min(u64::MAX as f64) as u64)),
        Some(_) => Err(PyValueError::new_err(format!(
            "{name} must be a positive number of seconds or None"
        ))),
    }
}

/// A duplicate of the bound socket the Python layer made (`sock.fileno()`), after checking
/// its type; the Python socket object is closed by its owner, this copy by the loop.
fn dup_socket(fd: i32, want_type: i32) -> PyResult<OwnedFd> {
    if fd < 0 {
        return Err(PyValueError::new_err("negative file descriptor"));
    }
    let ty =
        sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE).map_err(os_error_from_errno)?;
    if ty != want_type {
        return Err(PyValueError::new_err(
            "file descriptor is not a socket of the expected type",
        ));
    }
    // SAFETY: F_DUPFD_CLOEXEC on an open descriptor has no memory effects; it returns a
    // new descriptor or -1.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(os_error_from_errno(
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EBADF),
        ));
    }
    // SAFETY: `new` was just created by fcntl and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// A server loop the core classes run.
trait ServeLoop {
    /// Serves until shutdown; see `StreamServerCore::serve`.
    fn serve(&mut self, py: Python<'_>) -> PyResult<()>;
}

impl ServeLoop for StreamLoop {
    fn serve(&mut self, py: Python<'_>) -> PyResult<()> {
        StreamLoop::serve(self, py)
    }
}

impl ServeLoop for dgram::DgramLoop {
    fn serve(&mut self, py: Python<'_>) -> PyResult<()> {
        dgram::DgramLoop::serve(self, py)
    }
}

/// The life cycle both core classes share: the loop behind a mutex (held by `serve()`
/// while it runs, emptied by `close()`), what other threads may touch, and the write end
/// of the pipe the loop watches for signals.
struct Core<L> {
    shared: Arc<LoopShared>,
    signal_w: OwnedFd,
    state: Mutex<Option<L>>,
}

impl<L: ServeLoop> Core<L> {
    /// Makes the shared state and the signal pipe, then the loop from them.
    fn new(
        framing: Framing,
        make_loop: impl FnOnce(Arc<LoopShared>, OwnedFd) -> Result<L, sys::Errno>,
    ) -> PyResult<Self> {
        let shared = Arc::new(LoopShared::new(framing).map_err(os_error_from_errno)?);
        let (signal_r, signal_w) = sys::pipe().map_err(os_error_from_errno)?;
        let lp = make_loop(shared.clone(), signal_r).map_err(os_error_from_errno)?;
        Ok(Self {
            shared,
            signal_w,
            state: Mutex::new(Some(lp)),
        })
    }

    fn wakeup_fd(&self) -> i32 {
        self.signal_w.as_raw_fd()
    }

    /// The loop, unless another thread holds it (`what` names the call refused then).
    fn lock(&self, busy: &str) -> PyResult<MutexGuard<'_, Option<L>>> {
        match self.state.try_lock() {
            Ok(g) => Ok(g),
            Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
            Err(TryLockError::WouldBlock) => Err(PyRuntimeError::new_err(busy.to_owned())),
        }
    }

    fn serve(&self, py: Python<'_>) -> PyResult<()> {
        match self.lock("serve_forever() is already running")?.as_mut() {
            Some(lp) => lp.serve(py),
            None => Err(closed_error()),
        }
    }

    fn request_shutdown(&self, timeout: f64) {
        let ns = if timeout.is_nan() || timeout <= 0.0 {
            0
        } else {
            (timeout * 1e9).min(u64::MAX as f64) as u64
        };
        self.shared.shutdown_timeout_ns.store(ns, Ordering::Release);
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.wake();
    }

    /// Drops the loop. It holds Python objects (handlers, connections), so this runs with
    /// the GIL held (`_py`) and they are released at once.
    fn close(&self, _py: Python<'_>) -> PyResult<()> {
        let lp = self
            .lock("close() while serve_forever() is running; call shutdown() first")?
            .take();
        drop(lp);
        self.shared.close_waker();
        Ok(())
    }

    fn closed(&self) -> bool {
        match self.state.try_lock() {
            Ok(g) => g.is_none(),
            Err(_) => false,
        }
    }
}

fn closed_error() -> PyErr {
    PyOSError::new_err((libc::EBADF, "server is closed"))
}

/// The native half of `ferrosock.Server`: owns the listening socket, the epoll instance and
/// every connection. The Python class creates and binds the socket, then hands it over.
#[pyclass(frozen, module = "ferrosock._native")]
pub struct StreamServerCore {
    core: Core<StreamLoop>,
}

#[pymethods]
impl StreamServerCore {
    #[new]
    #[pyo3(signature = (
        fd, handler, *, batch, framing, header, delimiter, max_size, max_connections,
        idle_timeout, message_timeout, high_water, on_connect, on_disconnect, pipeline=1
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        fd: i32,
        handler: Py<PyAny>,
        batch: bool,
        framing: &str,
        header: &str,
        delimiter: &[u8],
        max_size: usize,
        max_connections: usize,
        idle_timeout: Option<f64>,
        message_timeout: Option<f64>,
        high_water: usize,
        on_connect: Option<Py<PyAny>>,
        on_disconnect: Option<Py<PyAny>>,
        pipeline: usize,
    ) -> PyResult<Self> {
        if pipeline == 0 {
            return Err(PyValueError::new_err("pipeline must be >= 1"));
        }
        let framing = match framing {
            "raw" => Framing::Raw,
            "frame" => Framing::Frame(
                Header::parse(header).map_err(|e| PyValueError::new_err(e.to_string()))?,
            ),
            "line" => {
                if delimiter.is_empty() {
                    return Err(PyValueError::new_err("delimiter must not be empty"));
                }
                Framing::Line(delimiter.to_vec().into_boxed_slice())
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "framing must be 'raw', 'frame' or 'line', not {other:?}"
                )))
            }
        };
        let cfg = Config {
            max_size,
            max_connections,
            idle_timeout_ns: duration_ns("idle_timeout", idle_timeout)?,
            message_timeout_ns: duration_ns("message_timeout", message_timeout)?,
            high_water,
            handler,
            batch,
            on_connect,
            on_disconnect,
            pipeline,
        };
        let listener = dup_socket(fd, libc::SOCK_STREAM)?;
        let core = Core::new(framing, |shared, signal_r| {
            StreamLoop::new(cfg, shared, listener, signal_r)
        })?;
        Ok(Self { core })
    }

    /// The write end of the pipe the loop watches for signals: give it to
    /// `signal.set_wakeup_fd` so Ctrl-C wakes `serve()` at once.
    #[getter]
    fn wakeup_fd(&self) -> i32 {
        self.core.wakeup_fd()
    }

    /// Runs the loop until a shutdown request, or an exception from a signal handler or a
    /// callback that is not an `Exception` (KeyboardInterrupt, SystemExit).
    fn serve(&self, py: Python<'_>) -> PyResult<()> {
        self.core.serve(py)
    }

    /// Asks `serve()` to return: it stops accepting and reading, flushes pending output for
    /// at most `timeout` seconds, closes every connection and returns. Any thread.
    fn request_shutdown(&self, timeout: f64) {
        self.core.request_shutdown(timeout);
    }

    /// Makes the loop part of the running asyncio loop `event_loop` (its `create_task`,
    /// `call_soon`, `create_future`); `resume` is called (soon) when suspended handlers
    /// have ended.
    fn attach(
        slf: &Bound<'_, Self>,
        event_loop: &Bound<'_, PyAny>,
        resume: Py<PyAny>,
    ) -> PyResult<()> {
        let new = aio::Hooks::new(event_loop, resume, Some(slf.clone().unbind()))?;
        let mut hooks = shared::lock(&slf.get().core.shared.hooks);
        if hooks.is_some() {
            return Err(PyRuntimeError::new_err("already attached to an event loop"));
        }
        *hooks = Some(new);
        Ok(())
    }

    /// Forgets the asyncio loop (and the references to it). Returns the task that stood by
    /// for coroutine callbacks, if any: it ends at its next step.
    fn detach(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        let hooks = shared::lock(&self.core.shared.hooks).take();
        drop(hooks);
        self.core
            .shared
            .resume_scheduled
            .store(false, Ordering::Release);
        aio::retire_standby(py, &self.core.shared)
    }

    /// Starts accepting, for stepping (`serve()` does this itself).
    fn start(&self) -> PyResult<()> {
        match self.core.lock("the loop is busy")?.as_mut() {
            Some(lp) => lp.start(),
            None => Err(closed_error()),
        }
    }

    /// One non-blocking iteration of the loop (see `StreamLoop::step`): the seconds until
    /// its next deadline (`inf` for none), or -1.0 once a requested shutdown is complete.
    fn step(&self, py: Python<'_>) -> PyResult<f64> {
        match self.core.lock("the loop is busy")?.as_mut() {
            Some(lp) => lp.step(py),
            None => Err(closed_error()),
        }
    }

    /// The epoll descriptor: readable whenever `step()` has something to do.
    #[getter]
    fn epoll_fd(&self) -> PyResult<i32> {
        match self.core.lock("the loop is busy")?.as_ref() {
            Some(lp) => Ok(lp.epoll_fd()),
            None => Err(closed_error()),
        }
    }

    /// The asyncio tasks running suspended callbacks.
    fn tasks(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        match self.core.lock("the loop is busy")?.as_ref() {
            Some(lp) => Ok(lp.tasks(py)),
            None => Ok(Vec::new()),
        }
    }

    /// Closes every connection at the loop's next step: after flushing its output, or at
    /// once (`abort`). Any thread.
    fn close_connections(&self, abort: bool) {
        let what = if abort { 2 } else { 1 };
        self.core
            .shared
            .close_clients
            .store(what, Ordering::Release);
        self.core.shared.wake();
    }

    /// Number of open connections (0 when not serving).
    #[getter]
    fn connection_count(&self) -> usize {
        self.core.shared.live.load(Ordering::Relaxed)
    }

    /// Releases the listening socket, the epoll instance and every connection.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.core.close(py)
    }

    #[getter]
    fn closed(&self) -> bool {
        self.core.closed()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Connection>()?;
    m.add_class::<StreamServerCore>()?;
    m.add_class::<dgram::DatagramServerCore>()?;
    m.add_class::<aio::HandlerCall>()?;
    Ok(())
}
