//! Walking the iterables that the batch functions (`inet_aton_many`, `parse_many`,
//! `contains_many`, ...) take, with the failing item's index in any error.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyList;

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
