//! Batched datagrams: `recvmany` over `recvmmsg(2)` and `sendmany` over `sendmmsg(2)`, with
//! addresses in `recvfrom`/`sendto` shapes (see `sockaddr.rs`) and the socket's blocking /
//! non-blocking / timeout semantics (see `sockio.rs`).

use std::cell::RefCell;
use std::mem;
use std::os::fd::RawFd;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::buffer::ByteView;
use crate::errors::with_context;
use crate::sockaddr::{self, SockAddr};
use crate::sockio::{errno, Attempt, Interest, Io, Mode, SendPtr, HELD_MAX};

/// Most messages one `recvmmsg`/`sendmmsg` call handles (`UIO_MAXIOV`; the kernel caps
/// `vlen` there anyway).
const MAX_BATCH: usize = 1024;

/// Upper bound of the receive scratch buffer (`maxmsgs * bufsize`): with a huge `bufsize`
/// fewer messages are taken per call (at least one).
const SCRATCH_MAX: usize = 64 << 20;

/// Scratch space reused across `recvmany` calls on a thread: touching fresh pages on each
/// call (a `maxmsgs * bufsize` allocation) would cost more than the system call.
#[derive(Default)]
struct Scratch {
    data: Vec<u8>,
    iov: Vec<libc::iovec>,
    names: Vec<libc::sockaddr_storage>,
    hdrs: Vec<libc::mmsghdr>,
}

impl Scratch {
    /// Lays out `count` slots of `bufsize` bytes, each with its iovec and address storage.
    fn prepare(&mut self, count: usize, bufsize: usize) {
        let need = count * bufsize;
        if self.data.len() < need {
            self.data.resize(need, 0);
        }
        // SAFETY: sockaddr_storage is plain old data; zeroes are a valid value.
        let zero_name: libc::sockaddr_storage = unsafe { mem::zeroed() };
        self.names.resize(count, zero_name);
        self.iov.clear();
        let base = self.data.as_mut_ptr();
        for i in 0..count {
            self.iov.push(libc::iovec {
                // SAFETY: i * bufsize + bufsize <= need <= data.len().
                iov_base: unsafe { base.add(i * bufsize) }.cast(),
                iov_len: bufsize,
            });
        }
        self.hdrs.clear();
        for i in 0..count {
            // SAFETY: mmsghdr is plain old data; zero is "no control data, no flags".
            let mut h: libc::mmsghdr = unsafe { mem::zeroed() };
            h.msg_hdr.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = SockAddr::capacity();
            h.msg_hdr.msg_iov = &mut self.iov[i];
            h.msg_hdr.msg_iovlen = 1;
            self.hdrs.push(h);
        }
    }

    /// Drops memory that a one-off huge `bufsize` left behind.
    fn trim(&mut self) {
        if self.data.capacity() > 8 << 20 {
            *self = Self::default();
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch space, or a fresh one if it is in use (a signal
/// handler calling `recvmany` while another `recvmany` on the same thread waits).
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => {
            let r = f(&mut s);
            s.trim();
            r
        }
        Err(_) => f(&mut Scratch::default()),
    })
}

/// How many messages one call takes for `maxmsgs` and `bufsize`.
fn batch_count(maxmsgs: usize, bufsize: usize) -> usize {
    maxmsgs
        .min(MAX_BATCH)
        .min((SCRATCH_MAX / bufsize.max(1)).max(1))
}

/// One `recvmmsg` call as `sock_call_ex` would make it; returns the messages received.
fn recv_batch(
    py: Python<'_>,
    io: &mut Io,
    s: &mut Scratch,
    count: usize,
    bufsize: usize,
    flags: i32,
) -> PyResult<usize> {
    s.prepare(count, bufsize);
    let fd: RawFd = io.fd();
    let hdrs = SendPtr(s.hdrs.as_mut_ptr());
    io.call(
        py,
        Interest::Read,
        count * bufsize <= HELD_MAX,
        move |attempt| {
            let hdrs = hdrs;
            // Blocking: wait for the first datagram only, then take what is queued.
            let extra = match attempt {
                Attempt::NonBlocking => libc::MSG_DONTWAIT,
                Attempt::Blocking => libc::MSG_WAITFORONE,
            };
            // SAFETY: `hdrs` points to `count` prepared mmsghdrs whose iovecs and name
            // buffers live in the scratch space, which this call borrows exclusively.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    hdrs.0,
                    count as libc::c_uint,
                    flags | extra,
                    std::ptr::null_mut(),
                )
            };
            if n < 0 {
                Err(errno())
            } else {
                Ok(n as usize)
            }
        },
    )
}

/// `recvmany(maxmsgs=64, bufsize=65535, flags=0, *, with_flags=False)` on `fd`: the
/// datagrams already queued (waiting for the first one as `recvfrom` would), each as
/// `(data, address)` like `recvfrom` returns, or `(data, address, msg_flags)` with
/// `with_flags`: `msg_flags` is `recvmsg`'s, so `MSG_TRUNC` marks a datagram longer than
/// `bufsize` whose tail the kernel discarded.
#[pyfunction]
#[pyo3(signature = (sock, maxmsgs, bufsize, flags, with_flags, /))]
fn recvmany<'py>(
    py: Python<'py>,
    sock: &Bound<'py, PyAny>,
    maxmsgs: isize,
    bufsize: isize,
    flags: i32,
    with_flags: bool,
) -> PyResult<Bound<'py, PyList>> {
    let bufsize = usize::try_from(bufsize)
        .map_err(|_| PyValueError::new_err("negative buffersize in recvmany"))?;
    let maxmsgs = usize::try_from(maxmsgs)
        .ok()
        .filter(|m| *m > 0)
        .ok_or_else(|| PyValueError::new_err("maxmsgs must be at least 1"))?;
    let mut io = Io::for_socket(sock)?;
    let count = batch_count(maxmsgs, bufsize);
    with_scratch(|s| {
        let n = recv_batch(py, &mut io, s, count, bufsize, flags)?;
        // Consecutive datagrams from one peer share one address object (tuples are
        // immutable, so sharing is invisible), which saves building a str per datagram.
        let mut last: Option<(Vec<u8>, Bound<'py, PyAny>)> = None;
        // Built with the C API directly: at tens of nanoseconds per datagram, the generic
        // conversions would be a visible share of the receive.
        let width: ffi::Py_ssize_t = if with_flags { 3 } else { 2 };
        // SAFETY: PyList_New returns a new list of `n` NULL slots, or NULL with an
        // exception set (turned into Err here).
        let list =
            unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyList_New(n as ffi::Py_ssize_t))? };
        for i in 0..n {
            let h = &s.hdrs[i];
            let len = (h.msg_len as usize).min(bufsize);
            let data = PyBytes::new(py, &s.data[i * bufsize..i * bufsize + len]);
            let name = sockaddr::raw_bytes(&s.names[i], h.msg_hdr.msg_namelen);
            let addr = match &last {
                Some((raw, obj)) if raw.as_slice() == name => obj.clone(),
                _ => {
                    let obj = sockaddr::to_python(py, &s.names[i], h.msg_hdr.msg_namelen)?;
                    untrack_atomic_tuple(&obj);
                    last = Some((name.to_vec(), obj.clone()));
                    obj
                }
            };
            let flags = if with_flags {
                Some(h.msg_hdr.msg_flags.into_pyobject(py)?)
            } else {
                None
            };
            // SAFETY: PyTuple_New returns a new tuple of `width` NULL slots or NULL with an
            // exception set.
            let item = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyTuple_New(width))? };
            // SAFETY: `item` is a new tuple of `width` slots and `list` a new list of `n`
            // slots, neither visible to any other code yet; each SET_ITEM fills an empty slot
            // and steals the reference handed to it (into_ptr), as the API requires. A slot
            // left NULL by an early return is fine: both deallocators skip NULL items.
            unsafe {
                ffi::PyTuple_SET_ITEM(item.as_ptr(), 0, data.into_ptr());
                ffi::PyTuple_SET_ITEM(item.as_ptr(), 1, addr.into_ptr());
                if let Some(flags) = flags {
                    ffi::PyTuple_SET_ITEM(item.as_ptr(), 2, flags.into_ptr());
                }
            }
            untrack_atomic_tuple(&item);
            // SAFETY: as above: fills empty slot `i` of the new list, stealing `item`.
            unsafe { ffi::PyList_SET_ITEM(list.as_ptr(), i as ffi::Py_ssize_t, item.into_ptr()) };
        }
        Ok(list.cast_into::<PyList>()?)
    })
}

/// Takes a tuple of atomic values (bytes, str, int, None, or such tuples) out of the cyclic
/// garbage collector's sight: it cannot be part of a cycle. CPython's collector does the same
/// to such tuples on its first pass (`_PyTuple_MaybeUntrack`); doing it at creation spares
/// every collection until then from walking thousands of received datagrams.
fn untrack_atomic_tuple(obj: &Bound<'_, PyAny>) {
    if obj.is_exact_instance_of::<PyTuple>() {
        // SAFETY: obj is a live exact tuple, created by this module from bytes, str, int and
        // None (or tuples of them), so no reference cycle can run through it; untracking an
        // untracked object is a no-op.
        unsafe { ffi::PyObject_GC_UnTrack(obj.as_ptr().cast()) };
    }
}

/// Benchmark reference, not an API: drains every datagram queued on `fd` with
/// `recvmmsg(MSG_DONTWAIT)` as a C loop would, creating no Python objects. Returns
/// `(datagrams, bytes)`. `python -m ferrosock bench` measures `recvmany` against it.
#[pyfunction]
#[pyo3(signature = (fd, maxmsgs = 64, bufsize = 2048))]
fn _bench_recvmmsg_drain(
    py: Python<'_>,
    fd: RawFd,
    maxmsgs: usize,
    bufsize: usize,
) -> PyResult<(usize, usize)> {
    let mut io = Io::new(fd, Mode::NonBlocking)?;
    let count = batch_count(maxmsgs.max(1), bufsize);
    with_scratch(|s| {
        let (mut datagrams, mut bytes) = (0usize, 0usize);
        loop {
            match recv_batch(py, &mut io, s, count, bufsize, 0) {
                Ok(n) => {
                    datagrams += n;
                    bytes += s.hdrs[..n]
                        .iter()
                        .map(|h| (h.msg_len as usize).min(bufsize))
                        .sum::<usize>();
                }
                Err(e) if is_blocking_io_error(py, &e) => break,
                Err(e) => return Err(e),
            }
        }
        Ok((datagrams, bytes))
    })
}

/// One message of a `sendmany` call.
struct Outgoing {
    data: ByteView,
    /// Index into the call's address list; `None` sends to the connected peer.
    addr: Option<usize>,
}

/// `sendmany(messages, address=None, flags=0)` on `fd` (a socket of `family`): each item is
/// a bytes-like object (sent to `address`, or to the connected peer when it is `None`) or a
/// `(data, address)` pair, with addresses in `sendto` form. Sends with `sendmmsg` in
/// batches and returns how many messages went out: all of them, unless the socket is
/// non-blocking or its timeout expires after some were sent, in which case the count says
/// how many. An error after some were sent is raised with that count in `.sent`.
#[pyfunction]
#[pyo3(signature = (sock, family, messages, address, flags, /))]
fn sendmany(
    py: Python<'_>,
    sock: &Bound<'_, PyAny>,
    family: i32,
    messages: &Bound<'_, PyAny>,
    address: Option<&Bound<'_, PyAny>>,
    flags: i32,
) -> PyResult<usize> {
    let mut addrs: Vec<SockAddr> = Vec::new();
    let common = match address {
        Some(a) => {
            addrs.push(sockaddr::from_python(a, family, "sendmany")?);
            Some(0)
        }
        None => None,
    };
    let mut out: Vec<Outgoing> = Vec::with_capacity(messages.len().unwrap_or(0));
    // The last pair's address object and its index: a loop sending to one peer passes the
    // same tuple over and over.
    let mut last_addr: Option<(Bound<'_, PyAny>, usize)> = None;
    for (i, item) in messages.try_iter()?.enumerate() {
        let item = item?;
        let at = |e: PyErr| at_index(py, e, i);
        let msg = if let Ok(pair) = item.cast::<PyTuple>() {
            if pair.len() != 2 {
                return Err(at(PyTypeError::new_err(
                    "sendmany() items must be bytes-like objects or (data, address) pairs",
                )));
            }
            let data = ByteView::readable(&pair.get_item(0)?).map_err(at)?;
            let a = pair.get_item(1)?;
            let idx = match &last_addr {
                Some((obj, idx)) if obj.is(&a) => *idx,
                _ => {
                    addrs.push(sockaddr::from_python(&a, family, "sendmany").map_err(at)?);
                    last_addr = Some((a, addrs.len() - 1));
                    addrs.len() - 1
                }
            };
            Outgoing {
                data,
                addr: Some(idx),
            }
        } else {
            Outgoing {
                data: ByteView::readable(&item).map_err(at)?,
                addr: common,
            }
        };
        out.push(msg);
    }
    let mut io = Io::for_socket(sock)?;
    let mut iov: Vec<libc::iovec> = out
        .iter()
        .map(|m| libc::iovec {
            iov_base: m.data.as_slice().as_ptr().cast_mut().cast(),
            iov_len: m.data.len(),
        })
        .collect();
    let mut hdrs: Vec<libc::mmsghdr> = Vec::with_capacity(out.len());
    for (m, v) in out.iter().zip(iov.iter_mut()) {
        // SAFETY: mmsghdr is plain old data; zero is "no address, no control data".
        let mut h: libc::mmsghdr = unsafe { mem::zeroed() };
        if let Some(idx) = m.addr {
            h.msg_hdr.msg_name = addrs[idx].as_ptr().cast_mut().cast();
            h.msg_hdr.msg_namelen = addrs[idx].len();
        }
        h.msg_hdr.msg_iov = v;
        h.msg_hdr.msg_iovlen = 1;
        hdrs.push(h);
    }
    let fd = io.fd();
    let mut sent = 0usize;
    while sent < hdrs.len() {
        let batch = (hdrs.len() - sent).min(MAX_BATCH);
        let bytes: usize = out[sent..sent + batch].iter().map(|m| m.data.len()).sum();
        let at = SendPtr(hdrs[sent..].as_mut_ptr());
        let result = io.call(py, Interest::Write, bytes <= HELD_MAX, move |attempt| {
            let at = at;
            // SAFETY: `at` points to `batch` mmsghdrs whose iovecs, payload views and
            // addresses (`iov`, `out`, `addrs`) outlive the call and are not modified.
            let n = unsafe {
                libc::sendmmsg(fd, at.0, batch as libc::c_uint, flags | attempt.dontwait())
            };
            if n < 0 {
                Err(errno())
            } else {
                Ok(n as usize)
            }
        });
        match result {
            Ok(0) => break,
            Ok(n) => sent += n.min(batch),
            Err(e) if sent > 0 && stops_quietly(py, &e) => break,
            Err(e) => return Err(with_sent(py, e, sent)),
        }
        if sent < hdrs.len() {
            py.check_signals().map_err(|e| with_sent(py, e, sent))?;
        }
    }
    Ok(sent)
}

/// Would-block and timeout after partial progress end `sendmany` with the count, like a
/// short `send()`.
fn stops_quietly(py: Python<'_>, e: &PyErr) -> bool {
    let value = e.value(py);
    is_blocking_io_error(py, e) || value.is_instance_of::<pyo3::exceptions::PyTimeoutError>()
}

/// NOTE: tested on the value: on CPython 3.11 a normalised `OSError(EAGAIN, ...)` keeps
/// `OSError` as its recorded type while the value is a `BlockingIOError`, so
/// `PyErr::is_instance_of` would answer no.
fn is_blocking_io_error(py: Python<'_>, e: &PyErr) -> bool {
    e.value(py)
        .is_instance_of::<pyo3::exceptions::PyBlockingIOError>()
}

/// The error for item `i`: same class (and errno), " (at index i)" appended.
fn at_index(py: Python<'_>, err: PyErr, i: usize) -> PyErr {
    with_context(py, err, &format!(" (at index {i})"))
}

fn with_sent(py: Python<'_>, e: PyErr, sent: usize) -> PyErr {
    // NOTE: best effort, as for `.partial` on the receive side.
    let _ = e.value(py).setattr("sent", sent);
    e
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(recvmany, m)?)?;
    m.add_function(wrap_pyfunction!(sendmany, m)?)?;
    m.add_function(wrap_pyfunction!(_bench_recvmmsg_drain, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_sizes_stay_bounded() {
        assert_eq!(batch_count(64, 65535), 64);
        assert_eq!(batch_count(5000, 100), MAX_BATCH);
        assert_eq!(batch_count(64, 0), 64);
        assert_eq!(batch_count(64, 1 << 30), 1);
        assert!(batch_count(1024, 1 << 20) * (1 << 20) <= SCRATCH_MAX);
    }

    #[test]
    fn scratch_slots_do_not_overlap() {
        let mut s = Scratch::default();
        s.prepare(3, 10);
        assert_eq!(s.hdrs.len(), 3);
        for (i, h) in s.hdrs.iter().enumerate() {
            // SAFETY: prepare pointed every header at its own iovec.
            let v = unsafe { &*h.msg_hdr.msg_iov };
            assert_eq!(v.iov_len, 10);
            // SAFETY: both pointers are into the same Vec.
            let off = unsafe { v.iov_base.cast::<u8>().offset_from(s.data.as_ptr()) };
            assert_eq!(off, (i * 10) as isize);
        }
    }
}
