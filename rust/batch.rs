//! Walking the iterables that the batch functions (`inet_aton_many`, `parse_many`,
//! `contains_many`, ...) take, with the failing item's index in any error.

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::errors::with_context;

/// Calls `f(item)` for every item of `iterable`, walking lists by index without an
/// iterator object. An error from `f` gets ` (at index N)` appended, keeping its class.
pub fn for_each_item<'py>(
    iterable: &Bound<'py, PyAny>,
    mut f: impl FnMut(&Bound<'py, PyAny>) -> PyResult<()>,
) -> PyResult<()> {
    let py = iterable.py();
    let mut index = 0usize;
    let mut call = |item: &Bound<'py, PyAny>| -> PyResult<()> {
        f(item).map_err(|e| with_context(py, e, &format!(" (at index {index})")))?;
        index += 1;
        Ok(())
    };
    if let Ok(list) = iterable.cast::<PyList>() {
        let mut i = 0;
        // The size is re-read every step, so a list shrunk by a side effect of `f` is never
        // read past its end.
        // SAFETY: `list` is a live list; PyList_GET_SIZE only reads its header.
        while i < unsafe { ffi::PyList_GET_SIZE(list.as_ptr()) } {
            // SAFETY: 0 <= i < size, so the slot holds a valid borrowed reference, which
            // from_borrowed_ptr turns into an owned one before any other code runs.
            let item =
                unsafe { Bound::from_borrowed_ptr(py, ffi::PyList_GET_ITEM(list.as_ptr(), i)) };
            call(&item)?;
            i += 1;
        }
        return Ok(());
    }
    for item in iterable.try_iter()? {
        call(&item?)?;
    }
    Ok(())
}

/// `b"".join(f(item) for item in iterable)` where every `f(item)` is `item_size` bytes:
/// `f` writes its item's bytes into the slice it is given. A list is written straight into
/// the result's buffer; other iterables are collected first. Errors as [`for_each_item`].
pub fn collect_fixed<'py>(
    iterable: &Bound<'py, PyAny>,
    item_size: usize,
    mut f: impl FnMut(&Bound<'py, PyAny>, &mut [u8]) -> PyResult<()>,
) -> PyResult<Bound<'py, PyBytes>> {
    let py = iterable.py();
    if let Ok(list) = iterable.cast::<PyList>() {
        let total = list.len().saturating_mul(item_size);
        let mut filled = 0usize;
        let bytes = PyBytes::new_with(py, total, |buf| {
            for_each_item(iterable, |item| {
                // A list that grew since its size was read (only a `str` subclass's Python
                // code could do that) would not fit: refuse rather than drop items.
                let slot = buf
                    .get_mut(filled..filled + item_size)
                    .ok_or_else(|| PyRuntimeError::new_err("list changed size during iteration"))?;
                f(item, slot)?;
                filled += item_size;
                Ok(())
            })
        })?;
        if filled != total {
            return Err(PyRuntimeError::new_err(
                "list changed size during iteration",
            ));
        }
        return Ok(bytes);
    }
    let mut out = Vec::with_capacity(iterable.len().unwrap_or(0).saturating_mul(item_size));
    let mut slot = vec![0u8; item_size];
    for_each_item(iterable, |item| {
        f(item, &mut slot)?;
        out.extend_from_slice(&slot);
        Ok(())
    })?;
    Ok(PyBytes::new(py, &out))
}

/// A new `list` of the items `items` yields, built in place (no growth, no append calls);
/// the first error stops it and is returned.
pub fn new_list<'py>(
    py: Python<'py>,
    items: impl ExactSizeIterator<Item = PyResult<Bound<'py, PyAny>>>,
) -> PyResult<Bound<'py, PyList>> {
    let n = items.len();
    // SAFETY: PyList_New returns a new list of `n` NULL slots, or NULL with an exception
    // set (turned into Err).
    let list = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyList_New(n as ffi::Py_ssize_t))? };
    // While slots are still NULL the list must not be reachable from Python code, which a
    // collection started by an item's allocation could run (finalizers, gc callbacks):
    // it stays untracked until full. A list with NULL slots is freed safely on error.
    // SAFETY: the list is fresh and GC-tracked; untracking it is always allowed.
    unsafe { ffi::PyObject_GC_UnTrack(list.as_ptr().cast()) };
    let mut filled = 0usize;
    for item in items.take(n) {
        // SAFETY: filled < n and the slot is NULL; SET_ITEM steals the new reference.
        unsafe { ffi::PyList_SET_ITEM(list.as_ptr(), filled as ffi::Py_ssize_t, item?.into_ptr()) };
        filled += 1;
    }
    if filled != n {
        // An ExactSizeIterator that yields fewer items than its len() is a bug, but must
        // not hand out a list with NULL slots.
        return Err(PyRuntimeError::new_err(
            "internal error: fewer items than expected",
        ));
    }
    // SAFETY: every slot now holds a valid reference; tracking a full list is always
    // allowed and undoes the untrack above.
    unsafe { ffi::PyObject_GC_Track(list.as_ptr().cast()) };
    // SAFETY: PyList_New made it a list.
    Ok(unsafe { list.cast_into_unchecked() })
}
