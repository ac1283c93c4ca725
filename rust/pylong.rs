//! Reading a small Python `int` without a call into libpython.
//!
//! CPython keeps an int of at most one 30-bit digit "compact", and its own C code reads such
//! values inline (`_PyLong_IsCompact`/`_PyLong_CompactValue` since 3.12, `Py_SIZE` in
//! `-1..=1` before); extensions cannot call those inline functions, so `PyLong_AsLong` costs
//! them a call, a type check and an overflow check per value. This reads the same two fields.
//! The layout differs between versions and is chosen at compile time from PyO3's interpreter
//! cfgs (build.rs); versions whose layout has not been checked here (3.14, PyPy, the limited
//! API) get `None` and take CPython's conversion.

use pyo3::ffi;

/// The value of the int `op` when it has at most one digit, or `None` (then the caller uses
/// CPython's general conversion, which also handles every error case).
///
/// # Safety
/// `op` must point to a live object whose type passes `PyLong_Check` (int, bool, or a
/// subclass: they share the int layout).
#[cfg(all(Py_3_12, not(any(Py_LIMITED_API, PyPy, GraalPy, Py_3_14))))]
#[inline(always)]
pub unsafe fn compact_value(op: *mut ffi::PyObject) -> Option<i64> {
    // Include/cpython/longintrepr.h (3.12, 3.13): `lv_tag` holds the digit count above three
    // flag bits, and the sign (0 positive, 1 zero, 2 negative) in the low two.
    #[repr(C)]
    struct Long {
        ob_base: ffi::PyObject,
        lv_tag: usize,
        digit0: u32,
    }
    const NON_SIZE_BITS: u32 = 3;
    // SAFETY: the caller guarantees an int, whose layout is `Long` on these versions.
    let tag = unsafe { (*op.cast::<Long>()).lv_tag };
    if tag >= 2 << NON_SIZE_BITS {
        return None;
    }
    match tag & 3 {
        1 => Some(0),
        // SAFETY: as above; a non-zero compact int has its one digit set.
        sign => Some((1 - sign as i64) * i64::from(unsafe { (*op.cast::<Long>()).digit0 })),
    }
}

/// 3.11: see the 3.12 form above.
///
/// # Safety
/// As above.
#[cfg(not(any(Py_3_12, Py_LIMITED_API, PyPy, GraalPy)))]
#[inline(always)]
pub unsafe fn compact_value(op: *mut ffi::PyObject) -> Option<i64> {
    // A variable-size object whose `ob_size` is the signed digit count.
    #[repr(C)]
    struct Long {
        ob_base: ffi::PyVarObject,
        digit0: u32,
    }
    // SAFETY: the caller guarantees an int, whose layout is `Long` on this version.
    let size = unsafe { (*op.cast::<Long>()).ob_base.ob_size };
    match size {
        0 => Some(0),
        // SAFETY: as above; an int of one digit has that digit set.
        -1 | 1 => Some(size as i64 * i64::from(unsafe { (*op.cast::<Long>()).digit0 })),
        _ => None,
    }
}

/// Versions whose int layout has not been checked here: always CPython's conversion.
///
/// # Safety
/// As above.
#[cfg(any(Py_3_14, Py_LIMITED_API, PyPy, GraalPy))]
#[inline(always)]
pub unsafe fn compact_value(_op: *mut ffi::PyObject) -> Option<i64> {
    None
}

#[cfg(test)]
mod tests {
    use super::compact_value;
    use pyo3::prelude::*;

    #[test]
    fn compact_ints_read_as_their_value_and_others_fall_back() {
        Python::initialize();
        Python::attach(|py| {
            let read = |code: &str| {
                let v = py
                    .eval(&std::ffi::CString::new(code).unwrap(), None, None)
                    .unwrap();
                // SAFETY: every expression below evaluates to an int or a bool.
                unsafe { compact_value(v.as_ptr()) }
            };
            let fast = cfg!(not(any(Py_LIMITED_API, PyPy, GraalPy, Py_3_14)));
            for (code, value) in [
                ("0", 0),
                ("5", 5),
                ("-5", -5),
                ("2**30 - 1", (1 << 30) - 1),
                ("-(2**30 - 1)", -((1 << 30) - 1)),
                ("True", 1),
                ("False", 0),
                ("int.__new__(type('I', (int,), {}), 7)", 7),
                ("1 - 1", 0),
            ] {
                assert_eq!(read(code), fast.then_some(value), "{code}");
            }
            for code in ["2**30", "-(2**30)", "2**64", "-(2**100)"] {
                assert_eq!(read(code), None, "{code}");
            }
        });
    }
}
