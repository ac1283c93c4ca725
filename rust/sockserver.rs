//! The readiness wait behind `ferrosock.socketserver`: `poll(2)` on the server's socket with
//! the GIL released, plus an `eventfd(2)` doorbell so `shutdown()` ends `serve_forever()`
//! at once instead of after up to `poll_interval` seconds (the stdlib's loop can only
//! notice a shutdown request when its poll times out).
//!
//! EINTR is handled as PEP 475 and CPython's `select.poll` do: run the signal handlers
//! (an exception they raise propagates), then retry with the remaining time.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyOverflowError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::errors::os_error_from_errno;

/// A poll timeout the way `selectors.PollSelector.select` reads one: `None` waits forever,
/// zero or less does not wait, anything else is rounded up to the next millisecond.
fn deadline(timeout: Option<f64>) -> PyResult<Option<Instant>> {
    let Some(t) = timeout else { return Ok(None) };
    if t.is_nan() {
        return Err(PyValueError::new_err("cannot convert float NaN to integer"));
    }
    if t.is_infinite() && t > 0.0 {
        return Err(PyOverflowError::new_err(
            "cannot convert float infinity to integer",
        ));
    }
    let ms = (t.max(0.0) * 1e3).ceil();
    // Far-future deadlines are clamped (the stdlib raises OverflowError past ~24 days of
    // milliseconds in a C int; waiting that long in slices is the useful reading).
    let ms = ms.min(1e15);
    Ok(Some(Instant::now() + Duration::from_millis(ms as u64)))
}

fn remaining_ms(deadline: Option<Instant>) -> i32 {
    match deadline {
        None => -1,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            // Round up so a wait never returns before its deadline and spins.
            let ms = left.as_micros().div_ceil(1000);
            ms.min(i32::MAX as u128) as i32
        }
    }
}

/// `poll(2)` over `fds` until one has events or the deadline passes, with the GIL released
/// during each call. Returns the number of descriptors with events (0 on timeout).
fn poll_fds(py: Python<'_>, fds: &mut [libc::pollfd], timeout: Option<f64>) -> PyResult<usize> {
    let deadline = deadline(timeout)?;
    loop {
        let ms = remaining_ms(deadline);
        let (n, errno) = py.detach(|| {
            // SAFETY: `fds` is a live, exclusively borrowed slice of pollfd for the whole
            // call and its length is passed alongside.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
            (
                n,
                std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
            )
        });
        if n >= 0 {
            if n == 0 && deadline.is_some_and(|d| Instant::now() < d) {
                // A slice of a clamped long wait ended: keep waiting.
                continue;
            }
            return Ok(n as usize);
        }
        if errno != libc::EINTR {
            return Err(os_error_from_errno(errno));
        }
        py.check_signals()?;
    }
}

fn check_fd(fd: RawFd) -> PyResult<()> {
    if fd < 0 {
        return Err(PyValueError::new_err(format!(
            "Invalid file descriptor: {fd}"
        )));
    }
    Ok(())
}

/// Waits until `fd` is readable or `timeout` seconds pass, like registering it for
/// `EVENT_READ` in a `selectors.PollSelector` and calling `select(timeout)` (including its
/// rounding and its treating error and hang-up as readable). Returns whether it is ready.
#[pyfunction]
#[pyo3(signature = (fd, timeout=None))]
fn wait_readable(py: Python<'_>, fd: RawFd, timeout: Option<f64>) -> PyResult<bool> {
    check_fd(fd)?;
    let mut fds = [libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }];
    Ok(poll_fds(py, &mut fds, timeout)? > 0)
}

/// A readiness wait that another thread can interrupt: `serve_forever`'s loop waits on
/// the server socket and on an `eventfd` that `wake()` rings (no stdlib counterpart; the
/// stdlib polls for a shutdown request every `poll_interval` seconds instead).
///
/// A `wake()` is sticky: it makes every later `wait()` return at once until `close()`.
/// `wake()` after `close()` does nothing, and never touches a reused descriptor number.
#[pyclass(frozen, module = "ferrosock._native")]
pub struct ReadinessWaiter {
    doorbell: Mutex<Option<Arc<OwnedFd>>>,
}

/// `wait()` result bits.
const READY: u32 = 1;
const WOKEN: u32 = 2;

impl ReadinessWaiter {
    fn doorbell(&self) -> Option<Arc<OwnedFd>> {
        self.doorbell
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(Arc::clone)
    }
}

#[pymethods]
impl ReadinessWaiter {
    #[new]
    fn new() -> PyResult<Self> {
        // SAFETY: eventfd takes no pointers.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()
                .raw_os_error()
                .map_or_else(|| os_error_from_errno(libc::EIO), os_error_from_errno));
        }
        // SAFETY: `fd` is a fresh descriptor from eventfd that nothing else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self {
            doorbell: Mutex::new(Some(Arc::new(owned))),
        })
    }

    /// Waits until `fd` is readable, `wake()` was called, or `timeout` seconds pass
    /// (`None`: no limit). Returns a bit set: 1 = `fd` ready, 2 = woken, 0 = timed out.
    #[pyo3(signature = (fd, timeout=None))]
    fn wait(&self, py: Python<'_>, fd: RawFd, timeout: Option<f64>) -> PyResult<u32> {
        check_fd(fd)?;
        // Holding a reference keeps the eventfd open during the wait even if another
        // thread calls close(): its number cannot be reused under us.
        let bell = self.doorbell();
        let mut fds = [
            libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                // poll(2) ignores negative descriptors: a closed waiter just waits on `fd`.
                fd: bell.as_ref().map_or(-1, |b| b.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        poll_fds(py, &mut fds, timeout)?;
        let mut bits = 0;
        if fds[0].revents != 0 {
            bits |= READY;
        }
        if fds[1].revents != 0 {
            bits |= WOKEN;
        }
        Ok(bits)
    }

    /// Makes the current and every later `wait()` return, from any thread.
    fn wake(&self) {
        if let Some(bell) = self.doorbell() {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to an eventfd kept open by `bell`. It
            // can only fail with EAGAIN when the counter is saturated, i.e. already rung.
            let _ = unsafe {
                libc::write(
                    bell.as_raw_fd(),
                    (&one as *const u64).cast(),
                    std::mem::size_of::<u64>(),
                )
            };
        }
    }

    /// Releases the eventfd (once no `wait()` is using it). Idempotent.
    fn close(&self) {
        self.doorbell
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    /// Whether `close()` has been called.
    #[getter]
    fn closed(&self) -> bool {
        self.doorbell
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) {
        self.close();
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(wait_readable, m)?)?;
    m.add_class::<ReadinessWaiter>()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_rounds_up_and_saturates() {
        assert_eq!(remaining_ms(None), -1);
        let d = Instant::now() + Duration::from_micros(1500);
        let ms = remaining_ms(Some(d));
        assert!((1..=2).contains(&ms), "{ms}");
        assert_eq!(remaining_ms(Some(Instant::now())), 0);
        let far = Instant::now() + Duration::from_secs(100 * 86_400);
        assert_eq!(remaining_ms(Some(far)), i32::MAX);
    }
}
