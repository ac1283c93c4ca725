//! The per-message call into Python, the hot path of `framing='frame'` and `'line'`: one
//! `handler(conn, message)` call per message.
//!
//! Measured with callgrind (`benches/server_instructions.py`): the call itself is most of
//! a message's cost, and almost all of that is CPython's (frame set-up, the handler's
//! bytecode). What is ours is kept to the minimum here.

use std::ptr;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// A callable ready to be called with two positional arguments, many times in a row.
pub struct Caller<'a, 'py> {
    callable: &'a Bound<'py, PyAny>,
    /// The vectorcall entry point of a plain Python function.
    direct: Option<ffi::vectorcallfunc>,
}

impl<'a, 'py> Caller<'a, 'py> {
    pub fn new(callable: &'a Bound<'py, PyAny>) -> Self {
        let p = callable.as_ptr();
        // SAFETY: `p` is a live object (borrowed from `callable`) and the GIL is held;
        // PyVectorcall_Function only reads its type's flags and its vectorcall slot.
        let direct = unsafe {
            if ffi::PyFunction_Check(p) != 0 {
                ffi::PyVectorcall_Function(p)
            } else {
                None
            }
        };
        Self { callable, direct }
    }

    /// `callable(a, b)`.
    // NOTE: for a Python function this jumps straight to its vectorcall slot, skipping
    // `PyObject_Vectorcall`'s lookup of that slot and `_Py_CheckFunctionResult` (~30
    // instructions a call). The check only catches C callables that return a result with
    // an exception set (or NULL without one); CPython's eval loop never does. Anything else
    // goes through `PyObject_Vectorcall` as before.
    #[inline(always)]
    pub fn call2(
        &self,
        a: &Bound<'py, PyAny>,
        b: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = self.callable.py();
        // Slot 0 is scratch space the callee may use (PY_VECTORCALL_ARGUMENTS_OFFSET).
        let mut args = [ptr::null_mut(), a.as_ptr(), b.as_ptr()];
        let nargsf = 2 | ffi::PY_VECTORCALL_ARGUMENTS_OFFSET;
        // SAFETY: `args[1..]` are two live objects borrowed for the duration of the call,
        // preceded by one writable slot as PY_VECTORCALL_ARGUMENTS_OFFSET allows the callee
        // to use; no keyword names; the GIL is held. `direct` was read from this very
        // callable, which `self` keeps alive.
        let res = unsafe {
            let argv = args.as_mut_ptr().add(1);
            match self.direct {
                Some(f) => f(self.callable.as_ptr(), argv, nargsf, ptr::null_mut()),
                None => {
                    ffi::PyObject_Vectorcall(self.callable.as_ptr(), argv, nargsf, ptr::null_mut())
                }
            }
        };
        // SAFETY: a vectorcall returns a new reference, or NULL with an exception set.
        unsafe { Bound::from_owned_ptr_or_err(py, res) }
    }
}

/// Makes the `bytes` object each message is handed to the handler in.
///
/// NOTE: when nothing but this holds the previous message's object any more (the handler
/// kept no reference to it, which is the common case) and the next message has the same
/// length, the object is refilled in place instead of being freed and the next one
/// allocated: ~110 of the ~1,100 instructions a message cost (allocation, deallocation).
/// It is the refcount-1 reuse CPython's own `zip()`, `enumerate()` and dict iterators
/// apply to their result tuples: an object only we reference cannot be observed by
/// anyone, so once its cached hash is reset it is indistinguishable from a new one.
/// Messages of another length get a new object, as do 0- and 1-byte ones (CPython shares
/// those).
#[derive(Default)]
pub struct MessageBytes {
    spare: Option<Py<PyBytes>>,
}

impl MessageBytes {
    /// A `bytes` object holding `data`.
    #[inline(always)]
    pub fn make<'py>(&mut self, py: Python<'py>, data: &[u8]) -> Bound<'py, PyBytes> {
        if let Some(spare) = self.spare.take() {
            let b = spare.into_bound(py);
            let p = b.as_ptr();
            // SAFETY: `p` is a live bytes object we hold a reference to; the GIL is held.
            let (refs, len) = unsafe { (ffi::Py_REFCNT(p), ffi::Py_SIZE(p)) };
            if refs == 1 && data.len() > 1 && len as usize == data.len() {
                // SAFETY: the object is an exact `bytes` (only `recycle` fills `spare`, with
                // objects `make` returned) of `data.len()` bytes that nothing else
                // references: writing its payload and resetting its cached hash (-1 =
                // not computed, as `_PyBytes_Resize` does) is invisible to everyone.
                // `data` is a Rust slice, so it cannot overlap a Python object's storage.
                unsafe {
                    let dst = ffi::PyBytes_AS_STRING(p).cast_mut().cast::<u8>();
                    ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len());
                    #[allow(deprecated)] // still the hash cache `bytes.__hash__` reads
                    {
                        (*p.cast::<ffi::PyBytesObject>()).ob_shash = -1;
                    }
                }
                return b;
            }
        }
        PyBytes::new(py, data)
    }

    /// Takes back an object `make` returned, once its handler call is over.
    #[inline(always)]
    pub fn recycle(&mut self, b: Bound<'_, PyBytes>) {
        self.spare = Some(b.unbind());
    }
}
