//! Socket loops on a file descriptor: exact reads (`recv_exactly`), length-prefixed frames
//! (`recv_frame`, `send_frame(s)`, `FrameStream`), all through [`Io::call`], the one helper
//! that does what CPython's `sock_call_ex` (`Modules/socketmodule.c`) does:
//!
//! - the socket's timeout decides the mode: `None` blocks in the kernel, `0.0` raises
//!   `BlockingIOError`, a positive timeout polls for readiness with one deadline for the
//!   whole call (recomputed on each retry) and raises `TimeoutError('timed out')`;
//! - `EINTR` runs the signal handlers (`py.check_signals()`, PEP 475) and retries, so
//!   Ctrl-C and a handler's exception interrupt a blocked call;
//! - the GIL is released around each system call that can wait, and nothing else.
//!
//! NOTE: a difference from `sock_call_ex` that cannot be observed from Python except as
//! speed: before waiting, the call is first tried without waiting (`MSG_DONTWAIT`), with the
//! GIL held when the copy is small ([`HELD_MAX`]). When data is already queued, which is the
//! common case in a busy loop, that saves a `poll()` and a GIL release/re-acquire per call.

use std::os::fd::RawFd;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList, PyTuple, PyType};

use crate::buffer::ByteView;
use crate::errors::{
    frame_error, incomplete_read_error, os_error_from_errno, timeout_error, with_context,
};
use crate::framing::{FrameDecoder, Header};

/// Largest copy done by a non-blocking system call with the GIL held; anything bigger is
/// done with the GIL released so other threads are not held up by a long `memcpy`.
pub const HELD_MAX: usize = 64 * 1024;

/// Most `iovec`s one `sendmsg` accepts (`IOV_MAX`/`UIO_MAXIOV` on Linux).
pub const IOV_MAX: usize = 1024;

/// `errno` of the last failed libc call on this thread.
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn is_would_block(e: i32) -> bool {
    e == libc::EAGAIN || e == libc::EWOULDBLOCK
}

/// A raw pointer handed to a system call made with the GIL released.
#[derive(Clone, Copy)]
pub struct SendPtr<T>(pub *mut T);

// SAFETY: only used to pass buffers that the calling thread keeps alive and exclusively
// borrowed (a new bytes object, a held Py_buffer, a Vec behind a lock) into
// `Python::detach`, which runs the closure on that same thread before returning.
unsafe impl<T> Send for SendPtr<T> {}

/// How a socket waits, from its timeout as `socket.gettimeout()` reports it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// `None`: the descriptor is blocking; calls wait in the kernel.
    Blocking,
    /// `0.0`: calls that would wait raise `BlockingIOError`.
    NonBlocking,
    /// `t > 0`: the descriptor is non-blocking; waits are `poll()`s bounded by a deadline.
    Timeout(Duration),
}

impl Mode {
    pub fn from_timeout(timeout: Option<f64>) -> PyResult<Self> {
        match timeout {
            None => Ok(Self::Blocking),
            Some(0.0) => Ok(Self::NonBlocking),
            Some(t) => Duration::try_from_secs_f64(t)
                .map(Self::Timeout)
                .map_err(|_| PyValueError::new_err("Timeout value out of range")),
        }
    }
}

/// Which readiness a call waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    Read,
    Write,
}

/// How an operation passed to [`Io::call`] must make its system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Must not wait: add `MSG_DONTWAIT`.
    NonBlocking,
    /// May wait in the kernel (blocking mode, GIL released).
    Blocking,
}

impl Attempt {
    /// `MSG_DONTWAIT` for a non-blocking attempt, else nothing.
    pub fn dontwait(self) -> i32 {
        match self {
            Self::NonBlocking => libc::MSG_DONTWAIT,
            Self::Blocking => 0,
        }
    }
}

/// One socket call in progress: the descriptor, its mode, and the deadline shared by every
/// step of a multi-step call (like `sendall`, the timeout bounds the whole call).
pub struct Io {
    fd: RawFd,
    mode: Mode,
    deadline: Option<Instant>,
}

impl Io {
    /// A call on `sock` (a `socket.socket`, or any object with `fileno()` and
    /// `gettimeout()`). A closed socket raises `OSError(EBADF)` like the stdlib's methods.
    pub fn for_socket(sock: &Bound<'_, PyAny>) -> PyResult<Self> {
        let (fd, mode) = socket_state(sock)?;
        Self::new(fd, mode)
    }

    pub fn new(fd: RawFd, mode: Mode) -> PyResult<Self> {
        if fd < 0 {
            return Err(os_error_from_errno(libc::EBADF));
        }
        let deadline = match mode {
            Mode::Timeout(t) => Some(Instant::now().checked_add(t).unwrap_or_else(far_future)),
            _ => None,
        };
        Ok(Self { fd, mode, deadline })
    }

    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// `sock_call_ex`: runs `op` until it succeeds, waiting as the socket's mode says.
    ///
    /// `op` makes one system call as told by its [`Attempt`] and returns its result or
    /// `errno`. `held` allows the non-blocking attempt to run with the GIL held (set it when
    /// the copy is at most [`HELD_MAX`]). Blocking calls and waits release the GIL.
    pub fn call<T, F>(
        &mut self,
        py: Python<'_>,
        interest: Interest,
        held: bool,
        mut op: F,
    ) -> PyResult<T>
    where
        T: Send,
        F: FnMut(Attempt) -> Result<T, i32> + Send,
    {
        // In blocking mode, try once without waiting before blocking in the kernel: cheap
        // when data is queued, and the GIL can stay held for it.
        let mut optimistic = held || self.mode != Mode::Blocking;
        loop {
            let result = if !optimistic {
                py.detach(|| op(Attempt::Blocking))
            } else if held {
                op(Attempt::NonBlocking)
            } else {
                py.detach(|| op(Attempt::NonBlocking))
            };
            match result {
                Ok(v) => return Ok(v),
                Err(libc::EINTR) => py.check_signals()?,
                Err(e) if is_would_block(e) => match self.mode {
                    Mode::Blocking if optimistic => optimistic = false,
                    Mode::Timeout(_) => self.wait(py, interest)?,
                    _ => return Err(os_error_from_errno(e)),
                },
                Err(e) => return Err(os_error_from_errno(e)),
            }
        }
    }

    /// Polls until the socket is ready or the deadline passes (`TimeoutError`).
    fn wait(&mut self, py: Python<'_>, interest: Interest) -> PyResult<()> {
        let deadline = self.deadline.ok_or_else(timeout_error)?;
        let events = match interest {
            Interest::Read => libc::POLLIN,
            Interest::Write => libc::POLLOUT,
        };
        let fd = self.fd;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(timeout_error());
            }
            let ms = ceil_millis(deadline - now);
            let rc = py.detach(|| {
                let mut pfd = libc::pollfd {
                    fd,
                    events,
                    revents: 0,
                };
                // SAFETY: pfd is a valid pollfd array of length 1 for the whole call.
                let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
                if rc < 0 {
                    Err(errno())
                } else {
                    Ok(rc)
                }
            });
            match rc {
                Ok(0) => return Err(timeout_error()),
                Ok(_) => return Ok(()),
                Err(libc::EINTR) => py.check_signals()?,
                Err(e) => return Err(os_error_from_errno(e)),
            }
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365 * 30)
}

/// Milliseconds for `poll()`, rounded up as CPython rounds (`_PyTime_ROUND_CEILING`).
fn ceil_millis(d: Duration) -> i32 {
    let ms = d.as_nanos().div_ceil(1_000_000);
    i32::try_from(ms).unwrap_or(i32::MAX)
}

// ---------------------------------------------------------------------------------------
// The socket object
// ---------------------------------------------------------------------------------------

/// The head of CPython 3.11's `PySocketSockObject` (`Modules/socketmodule.h`): what
/// `fileno()` and `gettimeout()` read, without the two method calls (about a quarter of the
/// cost of a small `recv_exactly`). Used only after [`layout_verified`] checked it against
/// those methods in this very interpreter.
#[repr(C)]
struct RawSocketObject {
    ob_base: ffi::PyObject,
    sock_fd: libc::c_int,
    sock_family: libc::c_int,
    sock_type: libc::c_int,
    sock_proto: libc::c_int,
    errorhandler: *mut libc::c_void,
    /// `_PyTime_t` nanoseconds; negative means no timeout (blocking).
    sock_timeout: i64,
}

/// `_socket.socket` when its instances have the layout of [`RawSocketObject`], else `None`
/// (then the methods are called instead).
static SOCKET_TYPE: PyOnceLock<Option<Py<PyType>>> = PyOnceLock::new();

/// Reads the fields of `obj`, which must be an instance of `_socket.socket`.
///
/// # Safety
/// `obj` must be an instance of `_socket.socket` (or a subclass) and the layout verified.
unsafe fn read_raw(obj: &Bound<'_, PyAny>) -> (RawFd, i32, i32, i64) {
    // SAFETY: the caller guarantees obj's memory starts with a PySocketSockObject.
    let raw = unsafe { &*obj.as_ptr().cast::<RawSocketObject>() };
    (
        raw.sock_fd,
        raw.sock_family,
        raw.sock_type,
        raw.sock_timeout,
    )
}

/// Checks [`RawSocketObject`] against `fileno()`, `family`, `type` and `gettimeout()` of a
/// scratch socket in each mode, and closed; `None` if anything disagrees.
fn layout_verified(py: Python<'_>) -> PyResult<Option<Py<PyType>>> {
    let cls = py
        .import("_socket")?
        .getattr("socket")?
        .cast_into::<PyType>()?;
    let s = cls.call1((libc::AF_UNIX, libc::SOCK_DGRAM))?;
    let check = |timeout: Option<f64>, expect: fn(i64) -> bool| -> PyResult<bool> {
        s.call_method1("settimeout", (timeout,))?;
        // SAFETY: `s` was just created from `_socket.socket`; reading the head of its
        // memory is in bounds (tp_basicsize covers it), and the values are only compared.
        let (fd, family, ty, ns) = unsafe { read_raw(&s) };
        let fileno: RawFd = s.call_method0("fileno")?.extract()?;
        let fam: i32 = s.getattr("family")?.extract()?;
        let typ: i32 = s.getattr("type")?.extract()?;
        Ok(fd == fileno && family == fam && ty == typ && expect(ns))
    };
    let size_ok = {
        // SAFETY: cls is a type object; tp_basicsize is a plain field.
        let basic = unsafe { (*cls.as_type_ptr()).tp_basicsize };
        usize::try_from(basic).is_ok_and(|b| b >= std::mem::size_of::<RawSocketObject>())
    };
    let ok = size_ok
        && check(Some(2.5), |ns| ns == 2_500_000_000)?
        && check(None, |ns| ns < 0)?
        && check(Some(0.0), |ns| ns == 0)?;
    s.call_method0("close")?;
    // SAFETY: as above (only read once the size check passed).
    let closed_ok = ok && unsafe { read_raw(&s) }.0 == -1;
    Ok(closed_ok.then(|| cls.unbind()))
}

/// The descriptor and mode of `sock`, as `sock.fileno()` and `sock.gettimeout()` say.
pub fn socket_state(sock: &Bound<'_, PyAny>) -> PyResult<(RawFd, Mode)> {
    let py = sock.py();
    // A failed check (no AF_UNIX, say) means the slow path, not an error on every call.
    let ty = SOCKET_TYPE.get_or_init(py, || layout_verified(py).ok().flatten());
    if let Some(ty) = ty {
        // SAFETY: both are live objects; PyObject_TypeCheck only reads their types.
        if unsafe { ffi::PyObject_TypeCheck(sock.as_ptr(), ty.bind(py).as_type_ptr()) } != 0 {
            // SAFETY: sock is an instance of _socket.socket and the layout was verified.
            let (fd, _, _, ns) = unsafe { read_raw(sock) };
            let mode = match ns {
                n if n < 0 => Mode::Blocking,
                0 => Mode::NonBlocking,
                n => Mode::Timeout(Duration::from_nanos(n as u64)),
            };
            return Ok((fd, mode));
        }
    }
    let fd: RawFd = sock.call_method0("fileno")?.extract()?;
    let timeout: Option<f64> = sock.call_method0("gettimeout")?.extract()?;
    Ok((fd, Mode::from_timeout(timeout)?))
}

// ---------------------------------------------------------------------------------------
// Loops
// ---------------------------------------------------------------------------------------

/// Receives into `ptr[..len]` until it is full or the stream ends. Returns how many bytes
/// arrived (`< len` only at end of stream); an error comes with the count received first.
///
/// # Safety
/// `ptr` must be valid for writes of `len` bytes, and stay so (nothing else touching it)
/// for the whole call, including while the GIL is released.
pub unsafe fn recv_full(
    py: Python<'_>,
    io: &mut Io,
    ptr: *mut u8,
    len: usize,
    flags: i32,
) -> Result<usize, (PyErr, usize)> {
    let fd = io.fd();
    let mut got = 0usize;
    while got < len {
        let want = len - got;
        // SAFETY: got < len, so the offset stays inside the caller's buffer.
        let at = SendPtr(unsafe { ptr.add(got) });
        let result = io.call(py, Interest::Read, want <= HELD_MAX, move |attempt| {
            let at = at;
            // A blocking read of the rest in one system call: the kernel waits for all of it
            // (or end of stream, an error, a signal).
            let fl = flags
                | attempt.dontwait()
                | if attempt == Attempt::Blocking {
                    libc::MSG_WAITALL
                } else {
                    0
                };
            // SAFETY: `at` points to `want` writable bytes (see the function's contract).
            let n = unsafe { libc::recv(fd, at.0.cast(), want, fl) };
            if n < 0 {
                Err(errno())
            } else {
                Ok(n as usize)
            }
        });
        match result {
            Ok(0) => return Ok(got),
            Ok(n) => got += n.min(want),
            Err(e) => return Err((e, got)),
        }
        if got < len {
            // Partial progress: give Ctrl-C a chance, as sendall does between sends.
            if let Err(e) = py.check_signals() {
                return Err((e, got));
            }
        }
    }
    Ok(got)
}

/// Byte slices written in order with as few `sendmsg` calls as possible.
pub struct Gather {
    iov: Vec<libc::iovec>,
    next: usize,
    total: usize,
}

impl Gather {
    pub fn with_capacity(n: usize) -> Self {
        Self {
            iov: Vec::with_capacity(n),
            next: 0,
            total: 0,
        }
    }

    /// Queues `len` bytes at `ptr`.
    ///
    /// # Safety
    /// `ptr[..len]` must stay valid and unmodified until the Gather is dropped.
    pub unsafe fn push(&mut self, ptr: *const u8, len: usize) {
        if len > 0 {
            self.iov.push(libc::iovec {
                iov_base: ptr.cast_mut().cast(),
                iov_len: len,
            });
            self.total += len;
        }
    }

    #[cfg(test)]
    fn remaining(&self) -> usize {
        self.total
    }

    /// The unsent bytes, copied.
    pub fn unsent(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.total);
        for v in &self.iov[self.next..] {
            // SAFETY: each queued iovec describes valid bytes (push's contract).
            out.extend_from_slice(unsafe {
                std::slice::from_raw_parts(v.iov_base.cast::<u8>(), v.iov_len)
            });
        }
        out
    }

    fn advance(&mut self, mut n: usize) {
        self.total -= n.min(self.total);
        while n > 0 && self.next < self.iov.len() {
            let v = &mut self.iov[self.next];
            if n >= v.iov_len {
                n -= v.iov_len;
                self.next += 1;
            } else {
                // SAFETY: n < iov_len, so the new base stays inside the same buffer.
                v.iov_base = unsafe { v.iov_base.cast::<u8>().add(n) }.cast();
                v.iov_len -= n;
                n = 0;
            }
        }
    }

    /// Sends everything (`sendall` over the slices). An error comes with the number of
    /// bytes sent before it.
    pub fn send_all(
        &mut self,
        py: Python<'_>,
        io: &mut Io,
        flags: i32,
    ) -> Result<(), (PyErr, usize)> {
        let fd = io.fd();
        let mut sent = 0usize;
        while self.next < self.iov.len() {
            let count = (self.iov.len() - self.next).min(IOV_MAX);
            let batch: usize = self.iov[self.next..self.next + count]
                .iter()
                .map(|v| v.iov_len)
                .sum();
            let iov = SendPtr(self.iov[self.next..].as_mut_ptr());
            let result = io.call(py, Interest::Write, batch <= HELD_MAX, move |attempt| {
                let iov = iov;
                // SAFETY: msghdr is plain old data; zero is "no address, no control data".
                let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
                msg.msg_iov = iov.0;
                msg.msg_iovlen = count as _;
                // SAFETY: msg points to `count` valid iovecs, each describing live bytes.
                let n = unsafe { libc::sendmsg(fd, &msg, flags | attempt.dontwait()) };
                if n < 0 {
                    Err(errno())
                } else {
                    Ok(n as usize)
                }
            });
            match result {
                Ok(n) => {
                    self.advance(n);
                    sent += n;
                }
                Err(e) => return Err((e, sent)),
            }
            if self.next < self.iov.len() {
                if let Err(e) = py.check_signals() {
                    return Err((e, sent));
                }
            }
        }
        Ok(())
    }
}

/// `bytes` of length `n` whose contents the caller fills in before anyone else sees it.
fn new_bytes_uninit(py: Python<'_>, n: usize) -> PyResult<(Bound<'_, PyBytes>, *mut u8)> {
    let len = ffi::Py_ssize_t::try_from(n)
        .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("size too large"))?;
    // SAFETY: a NULL source asks CPython for an uninitialised bytes object of `len` bytes;
    // it returns a new reference or NULL with MemoryError set.
    let obj = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyBytes_FromStringAndSize(std::ptr::null(), len))?
    };
    let bytes = obj.cast_into::<PyBytes>()?;
    // SAFETY: bytes is a live bytes object; PyBytes_AsString returns its inline storage.
    let ptr = unsafe { ffi::PyBytes_AsString(bytes.as_ptr()) }.cast::<u8>();
    Ok((bytes, ptr))
}

/// Attaches the bytes consumed before `err` as `err.partial`, so a timeout, a would-block,
/// a reset or a signal handler's exception never loses received data.
fn with_partial(py: Python<'_>, err: PyErr, partial: &[u8]) -> PyErr {
    // NOTE: best effort: an exception class without a __dict__ cannot carry it.
    let _ = err.value(py).setattr("partial", PyBytes::new(py, partial));
    err
}

fn check_recv_flags(flags: i32, func: &str) -> PyResult<()> {
    if flags & libc::MSG_PEEK != 0 {
        return Err(PyValueError::new_err(format!(
            "{func}() does not support MSG_PEEK: each step would read the same bytes again"
        )));
    }
    Ok(())
}

/// A length argument like the `n` format: an integer (`__index__`), not negative.
fn size_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<usize> {
    let n: isize = obj.extract()?;
    usize::try_from(n).map_err(|_| PyValueError::new_err(format!("negative buffersize in {what}")))
}

/// A `max_size` argument.
fn max_size_arg(max_size: i64) -> PyResult<usize> {
    usize::try_from(max_size).map_err(|_| PyValueError::new_err("max_size must not be negative"))
}

fn header_arg(header: &str) -> PyResult<Header> {
    Header::parse(header).map_err(|e| PyValueError::new_err(e.0))
}

/// The `ValueError` for a payload the header cannot express.
fn too_long_for_header(len: usize, header: &Header, format: &str) -> PyErr {
    PyValueError::new_err(format!(
        "frame of {len} bytes is too long for header '{format}' (at most {} bytes)",
        header.max_len()
    ))
}

/// `recv_exactly(n, flags=0)` on `fd`: exactly `n` bytes, or `IncompleteReadError` at end
/// of stream (its `.partial` holds what arrived). Any other exception raised after bytes
/// were consumed carries them in `.partial` too.
#[pyfunction]
#[pyo3(signature = (sock, n, flags = 0, /))]
fn recv_exactly<'py>(
    py: Python<'py>,
    sock: &Bound<'py, PyAny>,
    n: &Bound<'py, PyAny>,
    flags: i32,
) -> PyResult<Bound<'py, PyBytes>> {
    let n = size_arg(n, "recv_exactly")?;
    check_recv_flags(flags, "recv_exactly")?;
    let mut io = Io::for_socket(sock)?;
    let (bytes, ptr) = new_bytes_uninit(py, n)?;
    // SAFETY: `bytes` is a new, unshared object of `n` bytes kept alive across the call;
    // only this loop writes to it.
    let result = unsafe { recv_full(py, &mut io, ptr, n, flags) };
    // SAFETY: the first `got` bytes were written by recv.
    let received = |got: usize| unsafe { std::slice::from_raw_parts(ptr, got) };
    match result {
        Ok(got) if got == n => Ok(bytes),
        Ok(got) => Err(incomplete_read_error(py, received(got), n as u64)),
        Err((e, got)) => Err(with_partial(py, e, received(got))),
    }
}

/// `recv_exactly_into(buffer, nbytes=0, flags=0)` on `fd`: fills `buffer[:nbytes]` (all of
/// it when `nbytes` is 0) and returns `nbytes`; the argument checks are `recv_into`'s.
#[pyfunction]
#[pyo3(signature = (sock, buffer, nbytes = None, flags = 0, /))]
fn recv_exactly_into(
    py: Python<'_>,
    sock: &Bound<'_, PyAny>,
    buffer: &Bound<'_, PyAny>,
    nbytes: Option<&Bound<'_, PyAny>>,
    flags: i32,
) -> PyResult<usize> {
    let mut view = ByteView::writable(buffer, "recv_exactly_into() argument 1")?;
    let mut n = match nbytes {
        Some(obj) => size_arg(obj, "recv_exactly_into")?,
        None => 0,
    };
    if n == 0 {
        n = view.len();
    } else if n > view.len() {
        return Err(PyValueError::new_err(
            "buffer too small for requested bytes",
        ));
    }
    check_recv_flags(flags, "recv_exactly_into")?;
    let mut io = Io::for_socket(sock)?;
    let ptr = view.as_mut_ptr();
    // SAFETY: the writable view of at least `n` bytes is held (so the exporter cannot
    // resize or free it) until `view` drops at the end of this function.
    let result = unsafe { recv_full(py, &mut io, ptr, n, flags) };
    let received = |got: usize| &view.as_slice()[..got];
    match result {
        Ok(got) if got == n => Ok(n),
        Ok(got) => Err(incomplete_read_error(py, received(got), n as u64)),
        Err((e, got)) => Err(with_partial(py, e, received(got))),
    }
}

/// Payloads above this size are received into a buffer that grows with the data (in
/// steps of this size) instead of one allocation of the declared length.
const BODY_STEP: usize = 1 << 20;

/// `recv_frame(header='!I', max_size=...)` on `fd`: the header exactly, then the payload
/// exactly, never a byte more. Errors carry the bytes consumed (header included) in
/// `.partial`.
#[pyfunction]
#[pyo3(signature = (sock, header, max_size, /))]
fn recv_frame<'py>(
    py: Python<'py>,
    sock: &Bound<'py, PyAny>,
    header: &str,
    max_size: i64,
) -> PyResult<Bound<'py, PyBytes>> {
    let hdr = header_arg(header)?;
    let max_size = max_size_arg(max_size)?;
    let mut io = Io::for_socket(sock)?;
    let mut head = [0u8; 8];
    let hsize = hdr.size();
    // SAFETY: `head` is a local array of 8 >= hsize bytes that outlives the call.
    match unsafe { recv_full(py, &mut io, head.as_mut_ptr(), hsize, 0) } {
        Ok(got) if got == hsize => {}
        Ok(got) => return Err(incomplete_read_error(py, &head[..got], hsize as u64)),
        Err((e, got)) => return Err(with_partial(py, e, &head[..got])),
    }
    let declared = hdr.decode(&head);
    let len = match hdr.check_len(declared, max_size) {
        Ok(len) => len,
        Err(too_large) => {
            return Err(with_partial(
                py,
                frame_error(py, too_large.to_string()),
                &head[..hsize],
            ));
        }
    };
    let expected = (hsize + len) as u64;
    let consumed = |body: &[u8]| [&head[..hsize], body].concat();
    if len <= BODY_STEP {
        let (bytes, ptr) = new_bytes_uninit(py, len)?;
        // SAFETY: `bytes` is new, unshared and `len` bytes long.
        let result = unsafe { recv_full(py, &mut io, ptr, len, 0) };
        // SAFETY: the first `got` bytes were written by recv.
        let received = |got: usize| unsafe { std::slice::from_raw_parts(ptr, got) };
        return match result {
            Ok(got) if got == len => Ok(bytes),
            Ok(got) => Err(incomplete_read_error(
                py,
                &consumed(received(got)),
                expected,
            )),
            Err((e, got)) => Err(with_partial(py, e, &consumed(received(got)))),
        };
    }
    // A large declared length: memory follows the bytes that actually arrive.
    let mut body: Vec<u8> = Vec::new();
    while body.len() < len {
        let step = (len - body.len()).min(BODY_STEP);
        body.reserve(step);
        let ptr = body.spare_capacity_mut().as_mut_ptr().cast::<u8>();
        // SAFETY: `reserve` made room for `step` bytes at `ptr`; `body` is local and not
        // touched until the call returns.
        let result = unsafe { recv_full(py, &mut io, ptr, step, 0) };
        let got = match &result {
            Ok(got) => *got,
            Err((_, got)) => *got,
        };
        // SAFETY: recv wrote `got` bytes into the spare capacity.
        unsafe { body.set_len(body.len() + got) };
        match result {
            Ok(got) if got == step => {}
            Ok(_) => return Err(incomplete_read_error(py, &consumed(&body), expected)),
            Err((e, _)) => return Err(with_partial(py, e, &consumed(&body))),
        }
    }
    Ok(PyBytes::new(py, &body))
}

/// Frames the payloads of `items` into `gather`: a header for each, written into
/// `headers` (which must not reallocate afterwards, so it is sized here), and the payload
/// views kept in `views`. Raises before anything is sent if an item is not bytes-like or
/// too long for the header.
fn frame_items(
    items: &Bound<'_, PyAny>,
    hdr: &Header,
    format: &str,
) -> PyResult<(Vec<ByteView>, Vec<u8>)> {
    let py = items.py();
    let mut views: Vec<ByteView> = Vec::with_capacity(items.len().unwrap_or(0));
    for (i, item) in items.try_iter()?.enumerate() {
        let item = item?;
        let view = ByteView::readable(&item)
            .map_err(|e| with_context(py, e, &format!(" (at index {i})")))?;
        if !hdr.fits(view.len()) {
            return Err(with_context(
                py,
                too_long_for_header(view.len(), hdr, format),
                &format!(" (at index {i})"),
            ));
        }
        views.push(view);
    }
    let mut headers = Vec::with_capacity(views.len() * hdr.size());
    for v in &views {
        hdr.push(v.len(), &mut headers);
    }
    Ok((views, headers))
}

/// Queues header `i` and payload `i` alternately.
///
/// # Safety
/// `views` and `headers` must outlive `gather` and not change meanwhile.
unsafe fn gather_frames(gather: &mut Gather, views: &[ByteView], headers: &[u8], hsize: usize) {
    for (i, v) in views.iter().enumerate() {
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            gather.push(headers[i * hsize..].as_ptr(), hsize);
            gather.push(v.as_slice().as_ptr(), v.len());
        }
    }
}

/// `send_frame(data, header='!I')` on `fd`: the length header and the payload in one
/// vectored write, sent completely (`sendall` semantics).
#[pyfunction]
#[pyo3(signature = (sock, data, header, /))]
fn send_frame(
    py: Python<'_>,
    sock: &Bound<'_, PyAny>,
    data: &Bound<'_, PyAny>,
    header: &str,
) -> PyResult<()> {
    let hdr = header_arg(header)?;
    let view = ByteView::readable(data)?;
    if !hdr.fits(view.len()) {
        return Err(too_long_for_header(view.len(), &hdr, header));
    }
    let mut head = Vec::with_capacity(8);
    hdr.push(view.len(), &mut head);
    let mut io = Io::for_socket(sock)?;
    let mut gather = Gather::with_capacity(2);
    // SAFETY: `head` and `view` live until the end of this function, after `gather`.
    unsafe {
        gather.push(head.as_ptr(), head.len());
        gather.push(view.as_slice().as_ptr(), view.len());
    }
    gather.send_all(py, &mut io, 0).map_err(|(e, _)| e)
}

/// `send_frames(iterable, header='!I')` on `fd`: every payload with its header, in as few
/// `sendmsg` calls as possible (up to 512 frames per call). All items are checked before
/// anything is sent.
#[pyfunction]
#[pyo3(signature = (sock, items, header, /))]
fn send_frames(
    py: Python<'_>,
    sock: &Bound<'_, PyAny>,
    items: &Bound<'_, PyAny>,
    header: &str,
) -> PyResult<()> {
    let hdr = header_arg(header)?;
    let (views, headers) = frame_items(items, &hdr, header)?;
    let mut io = Io::for_socket(sock)?;
    let mut gather = Gather::with_capacity(views.len() * 2);
    // SAFETY: `views` and `headers` outlive `gather` and are not modified.
    unsafe { gather_frames(&mut gather, &views, &headers, hdr.size()) };
    gather.send_all(py, &mut io, 0).map_err(|(e, _)| e)
}

// ---------------------------------------------------------------------------------------
// FrameStream
// ---------------------------------------------------------------------------------------

/// Mutual exclusion that never blocks while holding the GIL: a thread that finds the gate
/// taken waits with the GIL released, and a re-entrant call from the same thread (a signal
/// handler using the stream it interrupted) raises instead of deadlocking.
#[derive(Default)]
struct Gate {
    owner: Mutex<Option<ThreadId>>,
    freed: Condvar,
}

struct GateGuard<'a>(&'a Gate);

impl Gate {
    fn enter(&self, py: Python<'_>, what: &str) -> PyResult<GateGuard<'_>> {
        let me = thread::current().id();
        {
            let mut owner = self.owner.lock().unwrap_or_else(PoisonError::into_inner);
            match *owner {
                None => {
                    *owner = Some(me);
                    return Ok(GateGuard(self));
                }
                Some(t) if t == me => {
                    return Err(PyRuntimeError::new_err(format!(
                        "reentrant call to FrameStream.{what}()"
                    )));
                }
                Some(_) => {}
            }
        }
        loop {
            // Wait with the GIL released, but wake up now and then so that Ctrl-C reaches a
            // main thread queued behind another thread's long call.
            let entered = py.detach(|| {
                let owner = self.owner.lock().unwrap_or_else(PoisonError::into_inner);
                let (mut owner, _) = self
                    .freed
                    .wait_timeout_while(owner, Duration::from_millis(50), |o| o.is_some())
                    .unwrap_or_else(PoisonError::into_inner);
                if owner.is_none() {
                    *owner = Some(me);
                    true
                } else {
                    false
                }
            });
            if entered {
                return Ok(GateGuard(self));
            }
            py.check_signals()?;
        }
    }
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        *self.0.owner.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.0.freed.notify_one();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Only ever taken after the matching Gate, so this never waits.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Bytes asked of each `recv` when the stream needs more data.
const READ_CHUNK: usize = 256 * 1024;

/// The native half of `ferrosock.framing.FrameStream`: a receive buffer that keeps bytes
/// read past a frame for the next call, and a send queue that keeps what an interrupted
/// send could not write. The Python class passes its socket on each call (its descriptor
/// and timeout are read then, so `settimeout` between calls takes effect).
#[pyclass(frozen, module = "ferrosock._native", name = "FrameStreamCore")]
pub struct FrameStreamCore {
    format: String,
    header: Header,
    read_gate: Gate,
    read: Mutex<FrameDecoder>,
    write_gate: Gate,
    unsent: Mutex<Vec<u8>>,
}

impl FrameStreamCore {
    /// Takes up to `max` complete frames out of the buffer, receiving (once per wait) until
    /// there is at least one. Frames before a bad header are returned; the error comes on
    /// the next call.
    fn take_frames<'py>(
        &self,
        py: Python<'py>,
        sock: &Bound<'py, PyAny>,
        max: usize,
        out: &mut Vec<Bound<'py, PyBytes>>,
    ) -> PyResult<()> {
        let _gate = self.read_gate.enter(py, "recv")?;
        let mut dec = lock(&self.read);
        let mut io: Option<Io> = None;
        loop {
            while out.len() < max {
                match dec.next_frame() {
                    Ok(Some(frame)) => out.push(PyBytes::new(py, frame)),
                    Ok(None) => break,
                    Err(e) if out.is_empty() => return Err(frame_error(py, e.to_string())),
                    Err(_) => return Ok(()),
                }
            }
            if !out.is_empty() {
                return Ok(());
            }
            let io = match &mut io {
                Some(io) => {
                    // Still no complete frame after a read: a slow sender must not make
                    // the call deaf to Ctrl-C.
                    py.check_signals()?;
                    io
                }
                None => io.insert(Io::for_socket(sock)?),
            };
            let want = match dec.front_frame_len() {
                Some(total) => {
                    let missing =
                        usize::try_from(total).unwrap_or(usize::MAX) - dec.pending().len();
                    missing.clamp(READ_CHUNK, BODY_STEP)
                }
                None => READ_CHUNK,
            };
            let spare = dec.spare(want);
            let (ptr, cap) = (SendPtr(spare.as_mut_ptr().cast::<u8>()), spare.len());
            let fd = io.fd();
            let n = io.call(py, Interest::Read, false, move |attempt| {
                let ptr = ptr;
                // SAFETY: `ptr` is the decoder's spare capacity of `cap` bytes; the decoder
                // is locked by this call and not touched until recv returns.
                let n = unsafe { libc::recv(fd, ptr.0.cast(), cap, attempt.dontwait()) };
                if n < 0 {
                    Err(errno())
                } else {
                    Ok(n as usize)
                }
            })?;
            if n == 0 {
                let pending = dec.pending();
                let expected = dec.front_frame_len().unwrap_or(dec.header().size() as u64);
                return Err(incomplete_read_error(py, pending, expected));
            }
            // SAFETY: recv wrote `n <= cap` bytes into the spare capacity.
            unsafe { dec.commit(n.min(cap)) };
        }
    }

    /// Sends the queued bytes, then the frames of `views` (with their `headers`); whatever an
    /// error leaves unsent stays queued for the next call.
    fn send_with(
        &self,
        py: Python<'_>,
        sock: &Bound<'_, PyAny>,
        views: &[ByteView],
        headers: &[u8],
    ) -> PyResult<()> {
        let _gate = self.write_gate.enter(py, "send")?;
        let mut unsent = lock(&self.unsent);
        let mut io = Io::for_socket(sock)?;
        let mut gather = Gather::with_capacity(1 + views.len() * 2);
        // SAFETY: `unsent`, `views` and `headers` outlive `gather` and are not modified
        // until it is dropped (the queue is replaced only after).
        unsafe {
            gather.push(unsent.as_ptr(), unsent.len());
            gather_frames(&mut gather, views, headers, self.header.size());
        }
        match gather.send_all(py, &mut io, 0) {
            Ok(()) => {
                unsent.clear();
                Ok(())
            }
            Err((e, _)) => {
                let rest = gather.unsent();
                drop(gather);
                *unsent = rest;
                Err(e)
            }
        }
    }
}

#[pymethods]
impl FrameStreamCore {
    #[new]
    #[pyo3(signature = (header, max_size))]
    fn new(header: &str, max_size: i64) -> PyResult<Self> {
        let hdr = header_arg(header)?;
        Ok(Self {
            format: header.to_owned(),
            header: hdr,
            read_gate: Gate::default(),
            read: Mutex::new(FrameDecoder::new(hdr, max_size_arg(max_size)?)),
            write_gate: Gate::default(),
            unsent: Mutex::new(Vec::new()),
        })
    }

    /// One frame's payload.
    #[pyo3(signature = (sock, /))]
    fn recv<'py>(
        &self,
        py: Python<'py>,
        sock: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mut out = Vec::with_capacity(1);
        self.take_frames(py, sock, 1, &mut out)?;
        out.pop()
            .ok_or_else(|| PyRuntimeError::new_err("FrameStream.recv() found no frame"))
    }

    /// Between 1 and `max_frames` payloads: all complete after at most one wait.
    #[pyo3(signature = (sock, max_frames, /))]
    fn recv_many<'py>(
        &self,
        py: Python<'py>,
        sock: &Bound<'py, PyAny>,
        max_frames: isize,
    ) -> PyResult<Bound<'py, PyList>> {
        let max = usize::try_from(max_frames)
            .ok()
            .filter(|m| *m > 0)
            .ok_or_else(|| PyValueError::new_err("max_frames must be at least 1"))?;
        let mut out = Vec::with_capacity(max.min(4096));
        self.take_frames(py, sock, max, &mut out)?;
        PyList::new(py, out)
    }

    #[pyo3(signature = (sock, data, /))]
    fn send(
        &self,
        py: Python<'_>,
        sock: &Bound<'_, PyAny>,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let view = ByteView::readable(data)?;
        if !self.header.fits(view.len()) {
            return Err(too_long_for_header(view.len(), &self.header, &self.format));
        }
        let mut head = Vec::with_capacity(8);
        self.header.push(view.len(), &mut head);
        self.send_with(py, sock, std::slice::from_ref(&view), &head)
    }

    #[pyo3(signature = (sock, items, /))]
    fn send_many(
        &self,
        py: Python<'_>,
        sock: &Bound<'_, PyAny>,
        items: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let (views, headers) = frame_items(items, &self.header, &self.format)?;
        self.send_with(py, sock, &views, &headers)
    }

    /// Sends what an interrupted `send`/`send_many` left queued.
    #[pyo3(signature = (sock, /))]
    fn flush(&self, py: Python<'_>, sock: &Bound<'_, PyAny>) -> PyResult<()> {
        self.send_with(py, sock, &[], &[])
    }

    /// Bytes received but not yet returned as frames.
    #[getter]
    fn buffered<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let _gate = self.read_gate.enter(py, "buffered")?;
        Ok(PyBytes::new(py, lock(&self.read).pending()))
    }

    /// Bytes accepted by `send`/`send_many` that an error kept from being written yet.
    #[getter]
    fn unsent(&self, py: Python<'_>) -> PyResult<usize> {
        let _gate = self.write_gate.enter(py, "unsent")?;
        Ok(lock(&self.unsent).len())
    }

    #[getter]
    fn header(&self) -> &str {
        &self.format
    }

    #[getter]
    fn max_size(&self, py: Python<'_>) -> PyResult<usize> {
        let _gate = self.read_gate.enter(py, "max_size")?;
        Ok(lock(&self.read).max_size())
    }
}

// ---------------------------------------------------------------------------------------
// C-level methods on ferrosock.socket
// ---------------------------------------------------------------------------------------
//
// NOTE: `recv_exactly` is bounded by one `recv` system call per message, so the cost of
// reaching Rust shows: a Python method frame plus a generic extension-function call is a
// quarter of the call. CPython's own socket methods are method descriptors built from a
// `PyMethodDef`; the two exact-read methods are installed the same way on the Python class,
// so `sock.recv_exactly(64)` goes straight from the interpreter to this code.

/// The arguments of a `METH_FASTCALL | METH_KEYWORDS` call matched to `names` (the first
/// `required` of them required), with Argument Clinic's messages.
///
/// # Safety
/// `args`, `nargs` and `kwnames` must be what CPython passed to the method: `nargs`
/// positional values followed by one value per name in the `kwnames` tuple (or NULL).
unsafe fn fastcall_args<'py, const N: usize>(
    py: Python<'py>,
    func: &str,
    names: [&str; N],
    required: usize,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<[Option<Bound<'py, PyAny>>; N]> {
    let nargs = usize::try_from(nargs).unwrap_or(0);
    let kwnames = if kwnames.is_null() {
        None
    } else {
        // SAFETY: a non-NULL kwnames is a tuple of str, borrowed for the call.
        Some(unsafe { Bound::from_borrowed_ptr(py, kwnames) }.cast_into::<PyTuple>()?)
    };
    let value = |i: usize| {
        // SAFETY: only called with i < nargs + len(kwnames), the length of the argument
        // vector CPython passed.
        unsafe { Bound::from_borrowed_ptr(py, *args.add(i)) }
    };
    if nargs > N {
        let (how, n) = if required == N {
            ("exactly", N)
        } else {
            ("at most", N)
        };
        let plural = if n == 1 { "" } else { "s" };
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "{func}() takes {how} {n} argument{plural} ({nargs} given)"
        )));
    }
    let mut out: [Option<Bound<'py, PyAny>>; N] = std::array::from_fn(|_| None);
    for (i, slot) in out.iter_mut().enumerate().take(nargs) {
        *slot = Some(value(i));
    }
    if let Some(kwnames) = &kwnames {
        for (k, key) in kwnames.iter().enumerate() {
            let key = key.cast_into::<pyo3::types::PyString>()?;
            let key = key.to_str()?;
            match names.iter().position(|n| *n == key) {
                Some(pos) if out[pos].is_some() => {
                    return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                        "argument for {func}() given by name ('{key}') and position ({})",
                        pos + 1
                    )));
                }
                Some(pos) => out[pos] = Some(value(nargs + k)),
                None => {
                    return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                        "'{key}' is an invalid keyword argument for {func}()"
                    )));
                }
            }
        }
    }
    for (i, name) in names.iter().enumerate().take(required) {
        if out[i].is_none() {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "{func}() missing required argument '{name}' (pos {})",
                i + 1
            )));
        }
    }
    Ok(out)
}

/// Runs a method body for CPython: its value as a new reference, or NULL with the
/// exception set; a panic becomes `pyo3_runtime.PanicException`, never unwinding into C.
fn method_result<'py>(
    py: Python<'py>,
    body: impl FnOnce() -> PyResult<Bound<'py, PyAny>>,
) -> *mut ffi::PyObject {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(Ok(obj)) => obj.into_ptr(),
        Ok(Err(err)) => {
            err.restore(py);
            std::ptr::null_mut()
        }
        Err(_) => {
            pyo3::panic::PanicException::new_err("panic in a ferrosock socket method").restore(py);
            std::ptr::null_mut()
        }
    }
}

fn int_or(obj: Option<Bound<'_, PyAny>>, default: i32) -> PyResult<i32> {
    obj.map_or(Ok(default), |o| o.extract())
}

/// `socket.recv_exactly(n, flags=0)` as a C method.
///
/// # Safety
/// Called by CPython only, through the method descriptor: GIL held, `slf` a
/// `ferrosock.socket`, arguments in the vectorcall layout.
unsafe extern "C" fn recv_exactly_method(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls methods of Python objects with the GIL held.
    let py = unsafe { Python::assume_attached() };
    method_result(py, || {
        // SAFETY: forwarded from CPython's call, see the function's contract.
        let [n, flags] =
            unsafe { fastcall_args(py, "recv_exactly", ["n", "flags"], 1, args, nargs, kwnames)? };
        // SAFETY: `slf` is the instance the descriptor was called on, borrowed for the call.
        let sock = unsafe { Bound::from_borrowed_ptr(py, slf) };
        let n = n.ok_or_else(|| PyRuntimeError::new_err("missing argument"))?;
        Ok(recv_exactly(py, &sock, &n, int_or(flags, 0)?)?.into_any())
    })
}

/// `socket.recv_exactly_into(buffer, nbytes=0, flags=0)` as a C method.
///
/// # Safety
/// As [`recv_exactly_method`].
unsafe extern "C" fn recv_exactly_into_method(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls methods of Python objects with the GIL held.
    let py = unsafe { Python::assume_attached() };
    method_result(py, || {
        // SAFETY: forwarded from CPython's call, see the function's contract.
        let [buffer, nbytes, flags] = unsafe {
            fastcall_args(
                py,
                "recv_exactly_into",
                ["buffer", "nbytes", "flags"],
                1,
                args,
                nargs,
                kwnames,
            )?
        };
        // SAFETY: `slf` is the instance the descriptor was called on, borrowed for the call.
        let sock = unsafe { Bound::from_borrowed_ptr(py, slf) };
        let buffer = buffer.ok_or_else(|| PyRuntimeError::new_err("missing argument"))?;
        let got = recv_exactly_into(py, &sock, &buffer, nbytes.as_ref(), int_or(flags, 0)?)?;
        Ok(got.into_pyobject(py)?.into_any())
    })
}

/// Replaces `recv_exactly` and `recv_exactly_into` of `cls` (the `ferrosock.socket` class,
/// whose Python definitions document them) with C-level method descriptors that behave the
/// same, keeping the docstrings and signatures.
#[pyfunction]
fn install_socket_methods(cls: &Bound<'_, PyType>) -> PyResult<()> {
    let py = cls.py();
    let methods: [(&str, &str, ffi::PyCFunctionFastWithKeywords); 2] = [
        (
            "recv_exactly",
            "($self, /, n, flags=0)",
            recv_exactly_method,
        ),
        (
            "recv_exactly_into",
            "($self, /, buffer, nbytes=0, flags=0)",
            recv_exactly_into_method,
        ),
    ];
    for (name, signature, meth) in methods {
        let doc: String = cls
            .getattr(name)
            .and_then(|f| f.getattr("__doc__"))
            .and_then(|d| d.extract::<Option<String>>())
            .ok()
            .flatten()
            .unwrap_or_default();
        let text = format!("{name}{signature}\n--\n\n{}", doc.trim());
        let to_c = |s: String| {
            std::ffi::CString::new(s).map_err(|_| PyValueError::new_err("NUL in a docstring"))
        };
        // The definition must outlive the descriptor, which lives as long as the class:
        // leaked once per installation (the package installs once, at import).
        let def = Box::leak(Box::new(ffi::PyMethodDef {
            ml_name: to_c(name.to_owned())?.into_raw(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunctionFastWithKeywords: meth,
            },
            ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
            ml_doc: to_c(text)?.into_raw(),
        }));
        // SAFETY: cls is a live type object and `def` a valid, never-freed PyMethodDef
        // whose function matches its flags; a new reference or NULL with an error comes back.
        let descr = unsafe {
            Bound::from_owned_ptr_or_err(py, ffi::PyDescr_NewMethod(cls.as_type_ptr(), def))?
        };
        cls.setattr(name, descr)?;
    }
    Ok(())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(install_socket_methods, m)?)?;
    m.add_function(wrap_pyfunction!(recv_exactly, m)?)?;
    m.add_function(wrap_pyfunction!(recv_exactly_into, m)?)?;
    m.add_function(wrap_pyfunction!(recv_frame, m)?)?;
    m.add_function(wrap_pyfunction!(send_frame, m)?)?;
    m.add_function(wrap_pyfunction!(send_frames, m)?)?;
    m.add_class::<FrameStreamCore>()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_from_timeouts() {
        assert_eq!(Mode::from_timeout(None).unwrap(), Mode::Blocking);
        assert_eq!(Mode::from_timeout(Some(0.0)).unwrap(), Mode::NonBlocking);
        assert_eq!(
            Mode::from_timeout(Some(1.5)).unwrap(),
            Mode::Timeout(Duration::from_millis(1500))
        );
    }

    #[test]
    fn poll_milliseconds_round_up() {
        assert_eq!(ceil_millis(Duration::from_nanos(1)), 1);
        assert_eq!(ceil_millis(Duration::from_millis(5)), 5);
        assert_eq!(ceil_millis(Duration::from_micros(5001)), 6);
        assert_eq!(ceil_millis(Duration::from_secs(u64::MAX / 2)), i32::MAX);
    }

    #[test]
    fn gather_advances_across_and_within_slices() {
        let a = b"hello".to_vec();
        let b = b"world!".to_vec();
        let mut g = Gather::with_capacity(3);
        // SAFETY: a and b outlive g.
        unsafe {
            g.push(a.as_ptr(), a.len());
            g.push(b.as_ptr(), 0);
            g.push(b.as_ptr(), b.len());
        }
        assert_eq!(g.remaining(), 11);
        g.advance(3);
        assert_eq!(g.unsent(), b"loworld!");
        g.advance(4);
        assert_eq!(g.unsent(), b"rld!");
        g.advance(4);
        assert_eq!(g.remaining(), 0);
        assert!(g.unsent().is_empty());
    }
}
