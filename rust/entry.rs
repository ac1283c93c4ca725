//! C entry points for the per-call methods whose whole cost is tens of nanoseconds.
//!
//! PyO3's trampolines (`get_trampoline_function!`) cost about 60 instructions a call: the
//! keyword-capable fastcall wrapper, the thread's attach count, the deferred-decref pool
//! check and the result conversion. Against `Struct.pack`'s ~560 in CPython's `_struct`,
//! that alone put ferrosock's `pack` at 0.85x the stdlib on 3.12/3.13. These entries keep
//! what matters of a trampoline (no panic unwinds into C; an error becomes a raised
//! exception) and drop the rest.
//!
//! NOTE: the body runs without PyO3's attach count, which only decides what dropping a
//! `Py<T>` does: with a count of zero PyO3 defers the decref to its pool, drained at the next
//! trampoline entry. Bodies hold `Bound` references (dropped at once, attach count or not);
//! errors and panics are raised inside `Python::attach`, which counts the thread as attached,
//! so the exception objects PyO3 releases while raising are released at once too.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::ffi;
use pyo3::panic::PanicException;
use pyo3::prelude::*;

/// Runs a method body called by CPython and turns its outcome into the C convention: the
/// new reference it returns, or NULL with the error (or a `PanicException`) raised.
///
/// # Safety
/// The calling thread must be attached to the interpreter (CPython calls methods so).
#[inline(always)]
pub unsafe fn enter(
    body: impl FnOnce(Python<'_>) -> PyResult<*mut ffi::PyObject>,
) -> *mut ffi::PyObject {
    // SAFETY: the caller guarantees the thread is attached.
    let py = unsafe { Python::assume_attached() };
    match catch_unwind(AssertUnwindSafe(move || body(py))) {
        Ok(Ok(obj)) => obj,
        Ok(Err(err)) => raise(err),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic in a ferrosock method".to_owned());
            raise(PanicException::new_err(msg))
        }
    }
}

#[cold]
#[inline(never)]
fn raise(err: PyErr) -> *mut ffi::PyObject {
    Python::attach(|py| err.restore(py));
    std::ptr::null_mut()
}

/// `unsafe extern "C" fn NAME(self, args, nargs, kwnames)` for `METH_FASTCALL |
/// METH_KEYWORDS`, running `BODY(py, self, args, nargs, kwnames)` through [`enter`].
macro_rules! fastcall_entry {
    ($name:ident => $body:path) => {
        unsafe extern "C" fn $name(
            slf: *mut pyo3::ffi::PyObject,
            args: *const *mut pyo3::ffi::PyObject,
            nargs: pyo3::ffi::Py_ssize_t,
            kwnames: *mut pyo3::ffi::PyObject,
        ) -> *mut pyo3::ffi::PyObject {
            // SAFETY: CPython calls it through a METH_FASTCALL | METH_KEYWORDS definition:
            // thread attached, `args` holding `nargs` live references plus one per name in
            // `kwnames`, which is what the body requires.
            unsafe { $crate::entry::enter(move |py| $body(py, slf, args, nargs, kwnames)) }
        }
    };
}

/// `unsafe extern "C" fn NAME(self, arg)` for `METH_O` (and, with `arg` NULL,
/// `METH_NOARGS`), running `BODY(py, self, arg)` through [`enter`].
macro_rules! binary_entry {
    ($name:ident => $body:path) => {
        unsafe extern "C" fn $name(
            slf: *mut pyo3::ffi::PyObject,
            arg: *mut pyo3::ffi::PyObject,
        ) -> *mut pyo3::ffi::PyObject {
            // SAFETY: CPython calls it through a METH_O (or METH_NOARGS) definition: thread
            // attached, `slf` and `arg` live (or NULL for METH_NOARGS), as the body requires.
            unsafe { $crate::entry::enter(move |py| $body(py, slf, arg)) }
        }
    };
}

pub(crate) use {binary_entry, fastcall_entry};

#[cfg(test)]
mod tests {
    use super::enter;
    use pyo3::exceptions::PyValueError;
    use pyo3::ffi;
    use pyo3::panic::PanicException;
    use pyo3::prelude::*;

    #[test]
    fn results_errors_and_panics_follow_the_c_convention() {
        Python::initialize();
        Python::attach(|py| {
            let none = py.None();
            // SAFETY: attached; the body returns a new reference to None.
            let ok = unsafe { enter(|py| Ok(py.None().into_ptr())) };
            assert_eq!(ok, none.as_ptr());
            // SAFETY: `ok` is the new reference `enter` returned.
            drop(unsafe { Bound::from_owned_ptr(py, ok) });

            // SAFETY: attached; the body fails.
            let err = unsafe { enter(|_| Err(PyValueError::new_err("bad value"))) };
            assert!(err.is_null());
            let raised = PyErr::take(py).expect("the error is raised");
            assert!(raised.is_instance_of::<PyValueError>(py));
            assert_eq!(raised.value(py).to_string(), "bad value");

            // SAFETY: attached; the body panics, which must not unwind out of `enter`.
            let panicked = unsafe { enter(|_| panic!("boom {}", 42)) };
            assert!(panicked.is_null());
            // (`PyErr::take` would resume a PanicException as a panic: look at it in C.)
            let panic_type = py.get_type::<PanicException>();
            // SAFETY: attached; an exception is set, and cleared once checked.
            unsafe {
                assert_eq!(ffi::PyErr_ExceptionMatches(panic_type.as_ptr()), 1);
                ffi::PyErr_Clear();
            }
        });
    }
}
