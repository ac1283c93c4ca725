//! Byte views of Python objects through the buffer protocol, as CPython's `y*` and `w*`
//! argument formats see them: any C-contiguous exporter, whatever its item format
//! (`pyo3::buffer::PyBuffer<u8>` would refuse an `array('i')`, which the stdlib accepts).

use pyo3::exceptions::{PyBufferError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use std::mem::MaybeUninit;

/// A held `Py_buffer` over an object's bytes; released on drop.
pub struct ByteView {
    view: Box<ffi::Py_buffer>,
}

impl ByteView {
    /// Read-only view, like the `y*` format: bytes, bytearray, memoryview, array, mmap, ...
    /// Errors are the buffer protocol's own, as with `y*`: `TypeError("a bytes-like object
    /// is required, not 'str'")`, `BufferError` for a non-contiguous memoryview.
    pub fn readable(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        Self::get(obj, ffi::PyBUF_SIMPLE)
    }

    /// Writable view, like the `w*` format: bytearray, memoryview of one, array, ...
    /// Any failure becomes the `TypeError` `w*` raises: `"{arg} must be read-write
    /// bytes-like object, not bytes"`, where `arg` is e.g. `"recv_into() argument 1"`
    /// (`PyArg_ParseTuple` wording) or `"argument"` (Argument Clinic wording).
    pub fn writable(obj: &Bound<'_, PyAny>, arg: &str) -> PyResult<Self> {
        Self::get(obj, ffi::PyBUF_WRITABLE).map_err(|_| {
            PyTypeError::new_err(format!(
                "{arg} must be read-write bytes-like object, not {}",
                crate::errors::arg_type_name(obj)
            ))
        })
    }

    fn get(obj: &Bound<'_, PyAny>, flags: std::os::raw::c_int) -> PyResult<Self> {
        let mut view: Box<MaybeUninit<ffi::Py_buffer>> = Box::new(MaybeUninit::uninit());
        // SAFETY: obj is a live object (we hold the GIL through `Bound`), and `view` points to
        // writable storage for a Py_buffer that PyObject_GetBuffer fills in on success.
        let rc = unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), view.as_mut_ptr(), flags) };
        if rc != 0 {
            return Err(PyErr::take(obj.py())
                .unwrap_or_else(|| PyBufferError::new_err("the object refused a buffer")));
        }
        // SAFETY: PyObject_GetBuffer returned 0, so the Py_buffer is fully initialised.
        let view = unsafe { Box::from_raw(Box::into_raw(view).cast::<ffi::Py_buffer>()) };
        Ok(Self { view })
    }

    pub fn len(&self) -> usize {
        usize::try_from(self.view.len).unwrap_or(0)
    }

    /// The exported bytes. Valid while `self` lives; the exporter cannot resize while a
    /// buffer is held (bytearray raises `BufferError` on resize).
    pub fn as_slice(&self) -> &[u8] {
        if self.view.buf.is_null() || self.len() == 0 {
            return &[];
        }
        // SAFETY: a successful PyBUF_SIMPLE/PyBUF_WRITABLE request yields `len` contiguous
        // bytes at `buf`, kept alive and unmoved until PyBuffer_Release in Drop.
        unsafe { std::slice::from_raw_parts(self.view.buf.cast::<u8>(), self.len()) }
    }

    /// The exported bytes, writable. Only for views made by [`ByteView::writable`].
    ///
    /// Takes `&mut self` so no other slice of this view is alive at the same time.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        debug_assert!(self.view.readonly == 0);
        if self.view.buf.is_null() || self.len() == 0 {
            return &mut [];
        }
        // SAFETY: the view was requested with PyBUF_WRITABLE, so the exporter granted write
        // access to `len` contiguous bytes at `buf`, alive until PyBuffer_Release.
        unsafe { std::slice::from_raw_parts_mut(self.view.buf.cast::<u8>(), self.len()) }
    }

    /// Raw pointer and length, for system calls made with the GIL released (the view,
    /// and so the memory, outlives the call because `self` does).
    #[allow(dead_code)] // NOTE: used by pack_into and the recv_into loops
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.view.buf.cast::<u8>()
    }
}

impl Drop for ByteView {
    fn drop(&mut self) {
        // PyBuffer_Release must run with the GIL held.
        Python::attach(|_py| {
            // SAFETY: the view was filled by a successful PyObject_GetBuffer and is
            // released exactly once, here.
            unsafe { ffi::PyBuffer_Release(&mut *self.view) };
        });
    }
}

// SAFETY: the buffer's memory stays valid and pinned until release, which happens under the
// GIL in Drop; moving the handle to a thread that runs with the GIL released (py.detach) is
// how the socket loops use it, exactly as CPython's own recv_into does with its Py_buffer.
unsafe impl Send for ByteView {}

/// The UTF-8 bytes of a `str`, borrowed from the object: compact ASCII strings (nearly
/// every address, format or header string) are read in place without a call into
/// libpython; others go through `PyUnicode_AsUTF8AndSize`, whose cached UTF-8 form lives as
/// long as the string. Lone surrogates raise `UnicodeEncodeError`, as the `s` format does.
/// Embedded NULs are *not* checked here (callers that need C-string rules check them).
pub fn str_bytes<'a>(s: &'a Bound<'_, pyo3::types::PyString>) -> PyResult<&'a [u8]> {
    let ptr = s.as_ptr();
    // NOTE: CPython 3.14 no longer exposes the str header's bit fields to extensions (pyo3-ffi
    // drops these macros there), so 3.14 builds take `PyUnicode_AsUTF8AndSize`, which hands
    // back the same in-place ASCII data through one call.
    #[cfg(not(Py_3_14))]
    // SAFETY: `ptr` is a live str (the borrow of `s` keeps it alive); the macros only read
    // its header fields.
    if unsafe { ffi::PyUnicode_IS_COMPACT_ASCII(ptr) } != 0 {
        // SAFETY: for a compact ASCII str, DATA points to GET_LENGTH one-byte characters,
        // which are valid UTF-8 and owned by the object for its whole (immutable) life.
        return Ok(unsafe {
            std::slice::from_raw_parts(
                ffi::PyUnicode_DATA(ptr).cast::<u8>(),
                ffi::PyUnicode_GET_LENGTH(ptr) as usize,
            )
        });
    }
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: `ptr` is a live str; on success the returned UTF-8 buffer is cached in and
    // owned by the str object, valid for as long as the borrow of `s`.
    let data = unsafe { ffi::PyUnicode_AsUTF8AndSize(ptr, &mut size) };
    if data.is_null() {
        return Err(PyErr::fetch(s.py()));
    }
    // SAFETY: on success `data` points to `size` initialised bytes.
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), size as usize) })
}

/// A new `str` from bytes the caller knows are ASCII (formatted numbers, addresses):
/// allocated as a compact ASCII string and filled in place, skipping the UTF-8 decoder that
/// `PyString::new` runs.
pub fn ascii_str<'py>(
    py: Python<'py>,
    ascii: &[u8],
) -> PyResult<Bound<'py, pyo3::types::PyString>> {
    debug_assert!(ascii.is_ascii());
    // SAFETY: PyUnicode_New with maxchar 127 returns a new compact ASCII str of `len`
    // characters (or NULL + exception); its one-byte data area has room for exactly `len`
    // bytes, which we fill completely before anyone else can see the object.
    unsafe {
        let obj = ffi::PyUnicode_New(ascii.len() as ffi::Py_ssize_t, 127);
        if obj.is_null() {
            return Err(PyErr::fetch(py));
        }
        std::ptr::copy_nonoverlapping(
            ascii.as_ptr(),
            ffi::PyUnicode_DATA(obj).cast::<u8>(),
            ascii.len(),
        );
        Ok(Bound::from_owned_ptr(py, obj).cast_into_unchecked())
    }
}
