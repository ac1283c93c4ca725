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
    /// `func` and `pos` shape the `TypeError` the way `PyArg_ParseTuple` words it.
    pub fn readable(obj: &Bound<'_, PyAny>, func: &str, pos: usize) -> PyResult<Self> {
        Self::get(obj, ffi::PyBUF_SIMPLE, func, pos, "bytes-like object")
    }

    /// Writable view, like the `w*` format: bytearray, memoryview of one, array, ...
    #[allow(dead_code)] // NOTE: used by the recv_into loops
    pub fn writable(obj: &Bound<'_, PyAny>, func: &str, pos: usize) -> PyResult<Self> {
        Self::get(
            obj,
            ffi::PyBUF_WRITABLE,
            func,
            pos,
            "read-write bytes-like object",
        )
    }

    /// Read-only (or, with `writable`, writable) view that reports failure with the exception
    /// `PyObject_GetBuffer` itself raised ("a bytes-like object is required, not 'str'",
    /// "memoryview: underlying buffer is not C-contiguous"), for APIs such as `struct`'s
    /// whose stdlib counterparts let that exception through.
    pub fn request(obj: &Bound<'_, PyAny>, writable: bool) -> PyResult<Self> {
        let flags = if writable {
            ffi::PyBUF_WRITABLE
        } else {
            ffi::PyBUF_SIMPLE
        };
        Self::get_raw(obj, flags)
    }

    fn get(
        obj: &Bound<'_, PyAny>,
        flags: std::os::raw::c_int,
        func: &str,
        pos: usize,
        what: &str,
    ) -> PyResult<Self> {
        Self::get_raw(obj, flags).map_err(|err| {
            let py = obj.py();
            if err.is_instance_of::<PyBufferError>(py) || err.is_instance_of::<PyTypeError>(py) {
                PyTypeError::new_err(format!(
                    "{func}() argument {pos} must be {what}, not {}",
                    crate::errors::type_name(obj)
                ))
            } else {
                err
            }
        })
    }

    fn get_raw(obj: &Bound<'_, PyAny>, flags: std::os::raw::c_int) -> PyResult<Self> {
        let mut view: Box<MaybeUninit<ffi::Py_buffer>> = Box::new(MaybeUninit::uninit());
        // SAFETY: obj is a live object (we hold the GIL through `Bound`), and `view` points to
        // writable storage for a Py_buffer that PyObject_GetBuffer fills in on success.
        let rc = unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), view.as_mut_ptr(), flags) };
        if rc != 0 {
            return Err(
                PyErr::take(obj.py()).unwrap_or_else(|| PyBufferError::new_err("no buffer"))
            );
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
