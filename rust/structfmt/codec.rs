//! Packing and unpacking of single values, code by code, with CPython 3.11's value
//! semantics: `__index__` for integer codes, `PyFloat_AsDouble` for float codes, truthiness
//! for `?`, and the exception classes and messages `Modules/_struct.c` raises.
//!
//! The numeric encodings (binary16, checked binary32, fixed-width integers in either byte
//! order) are plain Rust at the top of the file; the functions below them convert Python
//! objects and call into the C API only for what the C API defines (integer conversion,
//! truthiness, object creation), so the semantics stay CPython's own.

use std::ffi::{c_int, c_long, c_ulong};
use std::mem::size_of;

use pyo3::exceptions::{PyOverflowError, PySystemError};
use pyo3::ffi;
use pyo3::prelude::*;

use super::format::{Code, Op, Program};

// ---------------------------------------------------------------------------------------
// Pure numeric encodings
// ---------------------------------------------------------------------------------------

/// `frexp` for a positive, finite, non-zero `x`: `(m, e)` with `x == m * 2**e`, `m` in [0.5, 1).
fn frexp(x: f64) -> (f64, i32) {
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale into the normal range first (exact, a power of two).
        let (m, e) = frexp(x * pow2(54));
        return (m, e - 54);
    }
    let m = f64::from_bits((bits & !(0x7ff_u64 << 52)) | (1022_u64 << 52));
    (m, exp - 1022)
}

/// `2.0**e` for `e` in the normal exponent range, exactly.
fn pow2(e: i32) -> f64 {
    f64::from_bits(((1023 + e) as u64) << 52)
}

/// IEEE 754 binary16 bits for `x`, rounding half to even, as CPython's `PyFloat_Pack2`
/// (3.11) computes them: NaNs become the quiet NaN of the same sign, values that round past
/// 65504 are an overflow (`None`).
pub fn half_from_f64(x: f64) -> Option<u16> {
    let (sign, e, bits): (u16, i32, u16);
    if x == 0.0 {
        sign = u16::from(x.is_sign_negative());
        e = 0;
        bits = 0;
    } else if x.is_infinite() {
        sign = u16::from(x < 0.0);
        e = 0x1f;
        bits = 0;
    } else if x.is_nan() {
        sign = u16::from(x.is_sign_negative());
        e = 0x1f;
        bits = 512;
    } else {
        sign = u16::from(x < 0.0);
        let (mut f, mut ex) = frexp(x.abs());
        // Normalise f to [1.0, 2.0).
        f *= 2.0;
        ex -= 1;
        if ex >= 16 {
            return None;
        } else if ex < -25 {
            // |x| < 2**-25: underflow to zero.
            f = 0.0;
            ex = 0;
        } else if ex < -14 {
            // |x| < 2**-14: gradual underflow.
            f *= pow2(14 + ex);
            ex = 0;
        } else {
            ex += 15;
            f -= 1.0;
        }
        f *= 1024.0;
        let mut b = f as u16; // truncation, as the C cast
        let rest = f - f64::from(b);
        if rest > 0.5 || (rest == 0.5 && b % 2 == 1) {
            b += 1;
            if b == 1024 {
                // The carry propagated out of 1023 one bits.
                b = 0;
                ex += 1;
                if ex == 31 {
                    return None;
                }
            }
        }
        e = ex;
        bits = b;
    }
    Some(bits | ((e as u16) << 10) | (sign << 15))
}

/// The value of binary16 `h`, as CPython's `PyFloat_Unpack2` (3.11) returns it: exact for
/// finite values; a NaN loses its payload and keeps its sign.
pub fn half_to_f64(h: u16) -> f64 {
    let negative = h & 0x8000 != 0;
    let e = i32::from((h >> 10) & 0x1f);
    let f = h & 0x3ff;
    let x = if e == 0x1f {
        if f == 0 {
            f64::INFINITY
        } else {
            f64::NAN
        }
    } else if e == 0 {
        f64::from(f) / 1024.0 * pow2(-14)
    } else {
        (f64::from(f) / 1024.0 + 1.0) * pow2(e - 15)
    };
    if negative {
        -x
    } else {
        x
    }
}

/// `x` rounded to binary32, or `None` where the rounding overflows to an infinity that `x`
/// was not (what `PyFloat_Pack4` reports as "float too large to pack with f format").
pub fn f32_checked(x: f64) -> Option<f32> {
    let y = x as f32;
    if y.is_infinite() && !x.is_infinite() {
        None
    } else {
        Some(y)
    }
}

/// Writes the low `dst.len()` bytes (1, 2, 4 or 8) of `v` in the given byte order.
#[inline(always)]
pub fn put_uint(dst: &mut [u8], v: u64, big_endian: bool) {
    match dst.len() {
        1 => dst[0] = v as u8,
        2 => dst.copy_from_slice(&if big_endian {
            (v as u16).to_be_bytes()
        } else {
            (v as u16).to_le_bytes()
        }),
        4 => dst.copy_from_slice(&if big_endian {
            (v as u32).to_be_bytes()
        } else {
            (v as u32).to_le_bytes()
        }),
        8 => dst.copy_from_slice(&if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }),
        n => unreachable!("integer field of {n} bytes"),
    }
}

/// Reads `src` (1, 2, 4 or 8 bytes) as an unsigned integer in the given byte order.
#[inline(always)]
pub fn get_uint(src: &[u8], big_endian: bool) -> u64 {
    match *src {
        [a] => u64::from(a),
        [a, b] => u64::from(if big_endian {
            u16::from_be_bytes([a, b])
        } else {
            u16::from_le_bytes([a, b])
        }),
        [a, b, c, d] => u64::from(if big_endian {
            u32::from_be_bytes([a, b, c, d])
        } else {
            u32::from_le_bytes([a, b, c, d])
        }),
        [a, b, c, d, e, f, g, h] => {
            let bytes = [a, b, c, d, e, f, g, h];
            if big_endian {
                u64::from_be_bytes(bytes)
            } else {
                u64::from_le_bytes(bytes)
            }
        }
        _ => unreachable!("integer field of {} bytes", src.len()),
    }
}

/// Sign-extends the low `size` bytes of `v`.
#[inline(always)]
pub fn sign_extend(v: u64, size: usize) -> i64 {
    let shift = 64 - 8 * size as u32;
    ((v << shift) as i64) >> shift
}

/// The range message `_range_error` builds for an item of `size` bytes.
fn range_message(ch: u8, size: usize, unsigned: bool) -> String {
    let ulargest: u64 = u64::MAX >> (64 - 8 * size as u32);
    let ch = char::from(ch);
    if unsigned {
        format!("'{ch}' format requires 0 <= number <= {ulargest}")
    } else {
        let largest = (ulargest >> 1) as i64;
        format!("'{ch}' format requires {} <= number <= {largest}", !largest)
    }
}

// ---------------------------------------------------------------------------------------
// Python conversions
// ---------------------------------------------------------------------------------------

mod exc {
    // `struct` is a Rust keyword, so the class is imported from `_struct`, where the
    // stdlib's `struct.error` is defined: it is the very same class object.
    pyo3::import_exception!(_struct, error);
}

/// The stdlib's `struct.error` with `msg`.
pub fn struct_error(msg: impl Into<String>) -> PyErr {
    exc::error::new_err(msg.into())
}

/// The pending Python exception after a C API call reported failure.
#[inline]
fn fetch(py: Python<'_>) -> PyErr {
    PyErr::take(py).unwrap_or_else(|| PySystemError::new_err("error return without exception set"))
}

/// `PyLong_Check`: int and its subclasses (bool included).
#[inline(always)]
fn is_int(v: &Bound<'_, PyAny>) -> bool {
    // SAFETY: v is a live object; PyLong_Check only reads its type flags.
    unsafe { ffi::PyLong_Check(v.as_ptr()) != 0 }
}

/// `get_pylong`: the int itself, or the result of `__index__`, or struct.error.
#[inline]
fn as_pylong<'py>(v: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if is_int(v) {
        return Ok(v.clone());
    }
    // SAFETY: v is a live object; PyIndex_Check only reads its type slots.
    if unsafe { ffi::PyIndex_Check(v.as_ptr()) } != 0 {
        // SAFETY: v is live; PyNumber_Index returns a new reference or NULL with an error.
        unsafe { Bound::from_owned_ptr_or_err(v.py(), ffi::PyNumber_Index(v.as_ptr())) }
    } else {
        Err(struct_error("required argument is not an integer"))
    }
}

/// Calls a `PyLong_As*` conversion on `v` (after `get_pylong`), turning `OverflowError`
/// into struct.error("argument out of range") as `get_long` and friends do.
#[inline(always)]
fn convert<T: Copy + PartialEq>(
    v: &Bound<'_, PyAny>,
    conv: unsafe extern "C" fn(*mut ffi::PyObject) -> T,
    failed: T,
) -> PyResult<T> {
    let py = v.py();
    if is_int(v) {
        // SAFETY: v is a live int; the conversion returns `failed` with an error set on failure.
        let x = unsafe { conv(v.as_ptr()) };
        // SAFETY: only reads the thread's error indicator.
        if x != failed || unsafe { ffi::PyErr_Occurred() }.is_null() {
            return Ok(x);
        }
        return Err(out_of_range(py));
    }
    let n = as_pylong(v)?;
    // SAFETY: n is a live int.
    let x = unsafe { conv(n.as_ptr()) };
    // SAFETY: only reads the thread's error indicator.
    if x == failed && !unsafe { ffi::PyErr_Occurred() }.is_null() {
        return Err(out_of_range(py));
    }
    Ok(x)
}

fn out_of_range(py: Python<'_>) -> PyErr {
    let err = fetch(py);
    if err.is_instance_of::<PyOverflowError>(py) {
        struct_error("argument out of range")
    } else {
        err
    }
}

#[inline]
#[allow(clippy::useless_conversion)] // NOTE: c_long is i32 on other targets
fn get_long(v: &Bound<'_, PyAny>) -> PyResult<i64> {
    convert(v, ffi::PyLong_AsLong, -1).map(i64::from)
}

#[inline]
#[allow(clippy::useless_conversion)] // NOTE: c_ulong is u32 on other targets
fn get_ulong(v: &Bound<'_, PyAny>) -> PyResult<u64> {
    convert(v, ffi::PyLong_AsUnsignedLong, c_ulong::MAX).map(u64::from)
}

/// `PyFloat_AsDouble`, with any failure reported as struct.error, as `_struct.c` does.
#[inline]
fn get_double(v: &Bound<'_, PyAny>) -> PyResult<f64> {
    let p = v.as_ptr();
    // SAFETY: p is a live object; PyFloat_CheckExact reads its type.
    if unsafe { ffi::PyFloat_CheckExact(p) } != 0 {
        // SAFETY: p is an exact float.
        return Ok(unsafe { ffi::PyFloat_AS_DOUBLE(p) });
    }
    // SAFETY: p is a live object; returns -1.0 with an error set on failure.
    let x = unsafe { ffi::PyFloat_AsDouble(p) };
    // SAFETY: only reads the thread's error indicator.
    if x == -1.0 && !unsafe { ffi::PyErr_Occurred() }.is_null() {
        drop(fetch(v.py()));
        return Err(struct_error("required argument is not a float"));
    }
    Ok(x)
}

/// Bytes of a `bytes` or `bytearray` (subclasses included), the only types `s` and `p` take.
///
/// The slice borrows the object's storage: the caller copies it out before running any
/// Python code.
#[inline]
fn bytes_like<'a>(v: &'a Bound<'_, PyAny>, ch: u8) -> PyResult<&'a [u8]> {
    let p = v.as_ptr();
    // SAFETY: p is a live object; the checks read its type, the accessors its storage,
    // which `v` keeps alive for 'a and which cannot change without running Python code.
    unsafe {
        if ffi::PyBytes_Check(p) != 0 {
            let data = ffi::PyBytes_AsString(p).cast::<u8>();
            let n = ffi::Py_SIZE(p) as usize;
            Ok(std::slice::from_raw_parts(data, n))
        } else if ffi::PyByteArray_Check(p) != 0 {
            let n = ffi::PyByteArray_Size(p) as usize;
            if n == 0 {
                return Ok(&[]);
            }
            let data = ffi::PyByteArray_AsString(p).cast::<u8>();
            Ok(std::slice::from_raw_parts(data, n))
        } else {
            Err(struct_error(format!(
                "argument for '{}' must be a bytes object",
                char::from(ch)
            )))
        }
    }
}

/// Packs one value `v` for `code` into `dst`, the item's bytes (zeroed beforehand).
///
/// `s_pack_internal` turns an `OverflowError` raised for an `int` argument into
/// struct.error("int too large to convert"); [`pack_item`] applies that rule.
#[inline(always)]
fn pack_value(code: &Code, v: &Bound<'_, PyAny>, dst: &mut [u8]) -> PyResult<()> {
    let be = code.big_endian;
    match code.op {
        Op::Char => {
            let p = v.as_ptr();
            // SAFETY: p is live; PyBytes_Check reads its type, PyBytes_AsString its storage.
            unsafe {
                if ffi::PyBytes_Check(p) != 0 && ffi::Py_SIZE(p) == 1 {
                    dst[0] = *ffi::PyBytes_AsString(p).cast::<u8>();
                    return Ok(());
                }
            }
            Err(struct_error(
                "char format requires a bytes object of length 1",
            ))
        }
        Op::Str => {
            let data = bytes_like(v, b's')?;
            let n = data.len().min(dst.len());
            dst[..n].copy_from_slice(&data[..n]);
            Ok(())
        }
        Op::Pascal => {
            let data = bytes_like(v, b'p')?;
            if dst.is_empty() {
                // `0p`: CPython stores a length byte of 0xff at the field's offset even
                // though the field is empty; `pack_values` reproduces that within the struct.
                return Ok(());
            }
            let n = data.len().min(dst.len() - 1);
            dst[1..1 + n].copy_from_slice(&data[..n]);
            dst[0] = n.min(255) as u8;
            Ok(())
        }
        Op::Bool => {
            // SAFETY: v is live; returns -1 with an error set on failure.
            let t = unsafe { ffi::PyObject_IsTrue(v.as_ptr()) };
            if t < 0 {
                return Err(fetch(v.py()));
            }
            dst[0] = t as u8;
            Ok(())
        }
        Op::Byte => {
            let x = get_long(v)?;
            if !(-128..=127).contains(&x) {
                return Err(struct_error("byte format requires -128 <= number <= 127"));
            }
            dst[0] = x as u8;
            Ok(())
        }
        Op::UByte => {
            let x = get_long(v)?;
            if !(0..=255).contains(&x) {
                return Err(struct_error("ubyte format requires 0 <= number <= 255"));
            }
            dst[0] = x as u8;
            Ok(())
        }
        Op::Short => {
            let x = get_long(v)?;
            if !(-32768..=32767).contains(&x) {
                return Err(struct_error(
                    "short format requires -32768 <= number <= 32767",
                ));
            }
            put_uint(dst, x as u64, be);
            Ok(())
        }
        Op::UShort => {
            let x = get_long(v)?;
            if !(0..=65535).contains(&x) {
                return Err(struct_error("ushort format requires 0 <= number <= 65535"));
            }
            put_uint(dst, x as u64, be);
            Ok(())
        }
        Op::Int => {
            let x = get_long(v)?;
            if size_of::<c_long>() > size_of::<c_int>()
                && (x < i64::from(c_int::MIN) || x > i64::from(c_int::MAX))
            {
                return Err(struct_error(range_message(code.ch, code.size, false)));
            }
            put_uint(dst, x as u64, be);
            Ok(())
        }
        Op::UInt => {
            let x = get_ulong(v)?;
            if x > u64::from(u32::MAX) && size_of::<c_long>() > size_of::<c_int>() {
                return Err(struct_error(range_message(code.ch, code.size, true)));
            }
            put_uint(dst, x, be);
            Ok(())
        }
        Op::Long => {
            put_uint(dst, get_long(v)? as u64, be);
            Ok(())
        }
        Op::ULong => {
            put_uint(dst, get_ulong(v)?, be);
            Ok(())
        }
        Op::SSize => {
            let x = convert(v, ffi::PyLong_AsSsize_t, -1)?;
            put_uint(dst, x as u64, be);
            Ok(())
        }
        Op::Size => {
            let x = convert(v, ffi::PyLong_AsSize_t, usize::MAX)?;
            put_uint(dst, x as u64, be);
            Ok(())
        }
        Op::LongLong => {
            let x = convert(v, ffi::PyLong_AsLongLong, -1)?;
            put_uint(dst, x as u64, be);
            Ok(())
        }
        Op::ULongLong => {
            let x = convert(v, ffi::PyLong_AsUnsignedLongLong, u64::MAX)?;
            put_uint(dst, x, be);
            Ok(())
        }
        Op::VoidP => {
            let n = as_pylong(v)?;
            // SAFETY: n is a live int; returns NULL with an error set on failure.
            let x = unsafe { ffi::PyLong_AsVoidPtr(n.as_ptr()) };
            // SAFETY: only reads the thread's error indicator.
            if x.is_null() && !unsafe { ffi::PyErr_Occurred() }.is_null() {
                return Err(fetch(v.py()));
            }
            put_uint(dst, x as usize as u64, be);
            Ok(())
        }
        Op::StdInt => {
            let x = get_long(v)?;
            let out = match code.size {
                2 => !(-32768..=32767).contains(&x),
                4 => size_of::<c_long>() != 4 && !(-2147483648..=2147483647).contains(&x),
                _ => false,
            };
            if out {
                return Err(struct_error(range_message(code.ch, code.size, false)));
            }
            put_uint(dst, x as u64, be);
            Ok(())
        }
        Op::StdUInt => {
            let x = get_ulong(v)?;
            if code.size < size_of::<c_long>() && x >> (8 * code.size) != 0 {
                return Err(struct_error(range_message(code.ch, code.size, true)));
            }
            put_uint(dst, x, be);
            Ok(())
        }
        Op::StdLongLong | Op::StdULongLong => {
            // `_PyLong_AsByteArray` semantics: its OverflowError ("int too big to convert",
            // "can't convert negative int to unsigned") propagates unchanged, which is what
            // PyLong_AsLongLong / PyLong_AsUnsignedLongLong raise too.
            let n = as_pylong(v)?;
            let py = v.py();
            let x = if code.op == Op::StdLongLong {
                // SAFETY: n is a live int.
                let x = unsafe { ffi::PyLong_AsLongLong(n.as_ptr()) };
                // SAFETY: only reads the thread's error indicator.
                if x == -1 && !unsafe { ffi::PyErr_Occurred() }.is_null() {
                    return Err(fetch(py));
                }
                x as u64
            } else {
                // SAFETY: n is a live int.
                let x = unsafe { ffi::PyLong_AsUnsignedLongLong(n.as_ptr()) };
                // SAFETY: only reads the thread's error indicator.
                if x == u64::MAX && !unsafe { ffi::PyErr_Occurred() }.is_null() {
                    return Err(fetch(py));
                }
                x
            };
            put_uint(dst, x, be);
            Ok(())
        }
        Op::Half => {
            let h = half_from_f64(get_double(v)?)
                .ok_or_else(|| PyOverflowError::new_err("float too large to pack with e format"))?;
            put_uint(dst, u64::from(h), be);
            Ok(())
        }
        Op::NativeFloat => {
            let y = get_double(v)? as f32;
            dst.copy_from_slice(&y.to_ne_bytes());
            Ok(())
        }
        Op::StdFloat => {
            let y = f32_checked(get_double(v)?)
                .ok_or_else(|| PyOverflowError::new_err("float too large to pack with f format"))?;
            put_uint(dst, u64::from(y.to_bits()), be);
            Ok(())
        }
        Op::Double => {
            put_uint(dst, get_double(v)?.to_bits(), be);
            Ok(())
        }
    }
}

/// Packs one value, applying `s_pack_internal`'s rule for an `OverflowError` on an int.
#[inline(always)]
fn pack_item(code: &Code, v: &Bound<'_, PyAny>, dst: &mut [u8]) -> PyResult<()> {
    pack_value(code, v, dst).map_err(|err| {
        if is_int(v) && err.is_instance_of::<PyOverflowError>(v.py()) {
            struct_error("int too large to convert")
        } else {
            err
        }
    })
}

/// Packs `args` (exactly `prog.len` values) into `dst` (exactly `prog.size` zeroed bytes),
/// code by code. On error, `dst` holds what was packed before the failing value, as
/// CPython's buffer does.
pub fn pack_values(prog: &Program, args: &[Bound<'_, PyAny>], dst: &mut [u8]) -> PyResult<()> {
    debug_assert_eq!(args.len(), prog.len);
    debug_assert_eq!(dst.len(), prog.size);
    let mut args = args.iter();
    for code in &prog.codes {
        let mut at = code.offset;
        for _ in 0..code.repeat {
            let Some(v) = args.next() else {
                unreachable!("argument count checked by the caller")
            };
            pack_item(code, v, &mut dst[at..at + code.size])?;
            at += code.size;
        }
        if code.op == Op::Pascal && code.size == 0 && code.offset < dst.len() {
            // CPython writes the length byte of an empty `0p` field (0xff) at the field's
            // offset; later items may overwrite it. Past the struct's end it writes out of
            // bounds, which is not reproduced.
            dst[code.offset] = 0xff;
        }
    }
    Ok(())
}

/// Unpacks one value for `code` from `src`, the item's bytes; a new reference.
#[inline(always)]
fn unpack_value(py: Python<'_>, code: &Code, src: &[u8]) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: in every arm the constructors are given valid data and return a new reference
    // or NULL with an error set, which is checked below.
    let obj = unsafe {
        match code.op {
            Op::Char | Op::Str => {
                ffi::PyBytes_FromStringAndSize(src.as_ptr().cast(), src.len() as ffi::Py_ssize_t)
            }
            Op::Pascal => {
                if src.is_empty() {
                    // `0p`: CPython asks PyBytes_FromStringAndSize for -1 bytes.
                    return Err(PySystemError::new_err(
                        "Negative size passed to PyBytes_FromStringAndSize",
                    ));
                }
                let n = usize::from(src[0]).min(src.len() - 1);
                ffi::PyBytes_FromStringAndSize(src[1..].as_ptr().cast(), n as ffi::Py_ssize_t)
            }
            Op::Bool => ffi::PyBool_FromLong(c_long::from(src[0] != 0)),
            Op::Half => ffi::PyFloat_FromDouble(half_to_f64(get_uint(src, code.big_endian) as u16)),
            Op::NativeFloat | Op::StdFloat => {
                let bits = get_uint(src, code.big_endian) as u32;
                ffi::PyFloat_FromDouble(f64::from(f32::from_bits(bits)))
            }
            Op::Double => ffi::PyFloat_FromDouble(f64::from_bits(get_uint(src, code.big_endian))),
            op => {
                let raw = get_uint(src, code.big_endian);
                if op.is_signed() {
                    let x = sign_extend(raw, src.len());
                    ffi::PyLong_FromLongLong(x)
                } else {
                    ffi::PyLong_FromUnsignedLongLong(raw)
                }
            }
        }
    };
    if obj.is_null() {
        Err(fetch(py))
    } else {
        Ok(obj)
    }
}

/// Fills `tuple` (a fresh tuple of `prog.len` empty slots) with the values in `src`
/// (exactly `prog.size` bytes).
///
/// # Safety
/// `tuple` must be a new tuple of `prog.len` items that nothing else references yet. The
/// memory behind `src` must not change during the call: nothing here runs Python code (only
/// ints, floats, bytes and bools are created, none of which can trigger the collector).
pub unsafe fn unpack_values(
    py: Python<'_>,
    prog: &Program,
    src: &[u8],
    tuple: *mut ffi::PyObject,
) -> PyResult<()> {
    debug_assert_eq!(src.len(), prog.size);
    let mut i: ffi::Py_ssize_t = 0;
    for code in &prog.codes {
        let mut at = code.offset;
        for _ in 0..code.repeat {
            let v = unpack_value(py, code, &src[at..at + code.size])?;
            // SAFETY: i < prog.len, the tuple's length; the slot is empty; the tuple steals v.
            unsafe { ffi::PyTuple_SET_ITEM(tuple, i, v) };
            i += 1;
            at += code.size;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_round_trips_every_finite_value() {
        for h in 0..=u16::MAX {
            let x = half_to_f64(h);
            if x.is_nan() {
                assert_eq!(half_from_f64(x), Some((h & 0x8000) | 0x7e00));
            } else {
                assert_eq!(half_from_f64(x), Some(h), "{h:#06x} {x}");
            }
        }
    }

    #[test]
    fn half_rounds_half_to_even_and_overflows() {
        assert_eq!(half_from_f64(65504.0), Some(0x7bff));
        assert_eq!(half_from_f64(65519.99), Some(0x7bff));
        assert_eq!(half_from_f64(65520.0), None);
        assert_eq!(half_from_f64(1e300), None);
        assert_eq!(half_from_f64(-65520.0), None);
        assert_eq!(half_from_f64(f64::INFINITY), Some(0x7c00));
        assert_eq!(half_from_f64(f64::NEG_INFINITY), Some(0xfc00));
        assert_eq!(half_from_f64(-0.0), Some(0x8000));
        // 1 + 2**-11 is halfway between 1 and the next half; ties go to even (1.0).
        assert_eq!(half_from_f64(1.0 + pow2(-11)), Some(0x3c00));
        assert_eq!(half_from_f64(1.0 + 3.0 * pow2(-11)), Some(0x3c02));
        // Subnormals: 2**-25 ties to 0, 1.5 * 2**-24 and 2.5 * 2**-24 tie to 2 * 2**-24.
        assert_eq!(half_from_f64(pow2(-25)), Some(0));
        assert_eq!(half_from_f64(1.5 * pow2(-24)), Some(2));
        assert_eq!(half_from_f64(2.5 * pow2(-24)), Some(2));
        assert_eq!(half_from_f64(1e-8), Some(0));
        assert_eq!(half_from_f64(5e-324), Some(0));
        assert_eq!(half_from_f64(-f64::NAN), Some(0xfe00));
    }

    #[test]
    fn half_nan_keeps_sign_only() {
        assert_eq!(half_to_f64(0x7e01).to_bits(), f64::NAN.to_bits());
        assert_eq!(half_to_f64(0xfe01).to_bits(), (-f64::NAN).to_bits());
        assert_eq!(half_to_f64(0x0001), pow2(-24));
    }

    #[test]
    fn f32_overflow_follows_rounding() {
        assert_eq!(f32_checked(3.4028235677973362e38), Some(f32::MAX));
        assert_eq!(f32_checked(3.4028235677973366e38), None);
        assert_eq!(f32_checked(1e300), None);
        assert_eq!(f32_checked(f64::INFINITY), Some(f32::INFINITY));
        assert!(f32_checked(f64::NAN).is_some_and(f32::is_nan));
    }

    #[test]
    fn integers_in_both_orders() {
        let mut b = [0u8; 4];
        put_uint(&mut b, 0x0102_0304, true);
        assert_eq!(b, [1, 2, 3, 4]);
        assert_eq!(get_uint(&b, true), 0x0102_0304);
        put_uint(&mut b, (-2i64) as u64, false);
        assert_eq!(b, [0xfe, 0xff, 0xff, 0xff]);
        assert_eq!(sign_extend(get_uint(&b, false), 4), -2);
        assert_eq!(sign_extend(0x80, 1), -128);
        assert_eq!(sign_extend(u64::MAX, 8), -1);
    }

    #[test]
    fn range_messages_match_cpython() {
        assert_eq!(
            range_message(b'i', 4, false),
            "'i' format requires -2147483648 <= number <= 2147483647"
        );
        assert_eq!(
            range_message(b'H', 2, true),
            "'H' format requires 0 <= number <= 65535"
        );
        assert_eq!(
            range_message(b'L', 4, true),
            "'L' format requires 0 <= number <= 4294967295"
        );
    }
}
