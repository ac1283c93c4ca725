//! Reading a small Python `int` without a call into libpython.
//!
//! CPython keeps an int of at most one 30-bit digit "compact", and its own C code reads such
//! values inline (`_PyLong_IsCompact`/`_PyLong_CompactValue` since 3.12, `Py_SIZE` in
//! `-1..=1` before); extensions cannot call those inline functions, so `PyLong_AsLong` costs
//! them a call, a type check and an overflow check per value. This reads the same two fields.
//! The layout differs between versions and is chosen at compile time from PyO3's interpreter
//! cfgs (build.rs); versions whose layout has not been checked here (3.14, PyPy, the limited
//! API) get `None` and take CPython's conversion.

use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::ffi;
use pyo3::prelude::*;

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

/// Whether this interpreter's int digits are 30 bits wide (`sys.int_info.bits_per_digit`, a
/// build option of CPython: 30 on every 64-bit build we know of, 15 possible), which
/// [`unsigned_value`] needs to join two digits. Set once by [`init`].
static DIGITS_ARE_30_BITS: AtomicBool = AtomicBool::new(false);

/// Reads the interpreter's digit width; until it is called, [`unsigned_value`] reads only
/// one digit.
pub fn init(py: Python<'_>) -> PyResult<()> {
    let bits: u32 = py
        .import("sys")?
        .getattr("int_info")?
        .getattr("bits_per_digit")?
        .extract()?;
    DIGITS_ARE_30_BITS.store(bits == 30, Ordering::Relaxed);
    Ok(())
}

/// The value of the int `op` when it is non-negative and below 2**60 (at most two 30-bit
/// digits), or `None` (then the caller uses CPython's conversion, which handles every other
/// value and every error). For the 32-bit arguments of `htonl`/`ntohl`, three in four of
/// which need a second digit.
///
/// # Safety
/// As for [`compact_value`].
#[cfg(not(any(Py_LIMITED_API, PyPy, GraalPy, Py_3_14)))]
#[inline(always)]
pub unsafe fn unsigned_value(op: *mut ffi::PyObject) -> Option<u64> {
    #[repr(C)]
    struct Long {
        ob_base: ffi::PyVarObject,
        digits: [u32; 2],
    }
    // SAFETY: the caller guarantees an int (`PyLong_Check`).
    if let Some(v) = unsafe { compact_value(op) } {
        return u64::try_from(v).ok();
    }
    // 3.12 and 3.13 keep the digit count above three flag bits of `lv_tag` (the field where
    // 3.11 has `ob_size`, the signed digit count), sign 0 for positive.
    #[cfg(Py_3_12)]
    let two_positive_digits = {
        // SAFETY: as above; `ob_size`'s place holds `lv_tag` on these versions.
        let tag = unsafe { (*op.cast::<Long>()).ob_base.ob_size } as usize;
        tag == 2 << 3
    };
    #[cfg(not(Py_3_12))]
    // SAFETY: as above.
    let two_positive_digits = unsafe { (*op.cast::<Long>()).ob_base.ob_size } == 2;
    if !two_positive_digits || !DIGITS_ARE_30_BITS.load(Ordering::Relaxed) {
        return None;
    }
    // SAFETY: as above; an int of two digits has both set.
    let [lo, hi] = unsafe { (*op.cast::<Long>()).digits };
    Some(u64::from(lo) | u64::from(hi) << 30)
}

/// Versions whose int layout has not been checked here: always CPython's conversion.
///
/// # Safety
/// As above.
#[cfg(any(Py_LIMITED_API, PyPy, GraalPy, Py_3_14))]
#[inline(always)]
pub unsafe fn unsigned_value(_op: *mut ffi::PyObject) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::{compact_value, unsigned_value};
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
    #[test]
    fn unsigned_ints_below_2_to_60_read_as_their_value_and_others_fall_back() {
        Python::initialize();
        Python::attach(|py| {
            super::init(py).unwrap();
            let read = |code: &str| {
                let v = py
                    .eval(&std::ffi::CString::new(code).unwrap(), None, None)
                    .unwrap();
                // SAFETY: every expression below evaluates to an int or a bool.
                unsafe { unsigned_value(v.as_ptr()) }
            };
            let fast = cfg!(not(any(Py_LIMITED_API, PyPy, GraalPy, Py_3_14)));
            for (code, value) in [
                ("0", 0u64),
                ("7", 7),
                ("True", 1),
                ("2**30 - 1", (1 << 30) - 1),
                ("2**30", 1 << 30),
                ("2**32 - 1", u64::from(u32::MAX)),
                ("0x89abcdef", 0x89ab_cdef),
                ("2**60 - 1", (1 << 60) - 1),
                ("int.__new__(type('I', (int,), {}), 2**31)", 1 << 31),
            ] {
                assert_eq!(read(code), fast.then_some(value), "{code}");
            }
            for code in ["-1", "-(2**31)", "2**60", "2**64", "-(2**100)"] {
                assert_eq!(read(code), None, "{code}");
            }
        });
    }
}
