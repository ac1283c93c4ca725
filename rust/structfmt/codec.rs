//! Packing and unpacking of single values, code by code, with CPython's value semantics:
//! `__index__` for integer codes, `PyFloat_AsDouble` for float codes, truthiness for `?`,
//! and the exception classes and messages `Modules/_struct.c` raises. Where releases differ
//! (integer range errors, empty `0p` fields) the error paths ask `rules.rs`.
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

use super::format::{Code, Op, Program, Read, Step};
use super::rules;

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

/// Sign-extends the low `size` bytes of `v`.
#[inline(always)]
pub fn sign_extend(v: u64, size: usize) -> i64 {
    let shift = 64 - 8 * size as u32;
    ((v << shift) as i64) >> shift
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

/// The value of `v` when it is an int of one digit, read without a call into libpython
/// (`crate::pylong`); `None` sends the caller down CPython's conversion.
#[inline(always)]
fn compact(v: &Bound<'_, PyAny>) -> Option<i64> {
    // SAFETY: v is a live object, checked to be an int first.
    is_int(v).then(|| unsafe { crate::pylong::compact_value(v.as_ptr()) })?
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

/// Calls a `PyLong_As*` conversion on `v` (after `get_pylong`), reporting an
/// `OverflowError` for `code` as the rules in force say (`get_long` and friends).
/// `conv` must be one of CPython's `PyLong_As*` functions (see the SAFETY note at the call).
#[inline(always)]
fn convert<T: Copy + PartialEq>(
    v: &Bound<'_, PyAny>,
    code: &Code,
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
        return Err(overflow_error(py, fetch(py), code));
    }
    let n = as_pylong(v)?;
    // SAFETY: n is a live int.
    let x = unsafe { conv(n.as_ptr()) };
    // SAFETY: only reads the thread's error indicator.
    if x == failed && !unsafe { ffi::PyErr_Occurred() }.is_null() {
        return Err(overflow_error(py, fetch(py), code));
    }
    Ok(x)
}

/// `err`, raised converting an int for `code`, as the rules in force report it: an
/// `OverflowError` becomes struct.error with the rules' message (or stays, if they say so).
#[cold]
fn overflow_error(py: Python<'_>, err: PyErr, code: &Code) -> PyErr {
    if !err.is_instance_of::<PyOverflowError>(py) {
        return err;
    }
    match rules::current().overflow_message(code) {
        Some(msg) => struct_error(msg),
        None => err,
    }
}

#[inline]
#[allow(clippy::useless_conversion)] // NOTE: c_long is i32 on other targets
fn get_long(v: &Bound<'_, PyAny>, code: &Code) -> PyResult<i64> {
    if let Some(x) = compact(v) {
        return Ok(x);
    }
    convert(v, code, ffi::PyLong_AsLong, -1).map(i64::from)
}

#[inline]
#[allow(clippy::useless_conversion)] // NOTE: c_ulong is u32 on other targets
fn get_ulong(v: &Bound<'_, PyAny>, code: &Code) -> PyResult<u64> {
    // A negative value takes CPython's path, which raises.
    if let Some(x @ 0..) = compact(v) {
        return Ok(x as u64);
    }
    convert(v, code, ffi::PyLong_AsUnsignedLong, c_ulong::MAX).map(u64::from)
}

/// `PyFloat_AsDouble`, with any failure reported as struct.error, as `_struct.c` does.
#[inline(always)]
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
#[inline(always)]
fn bytes_like<'a>(v: &'a Bound<'_, PyAny>, ch: u8) -> PyResult<&'a [u8]> {
    let p = v.as_ptr();
    // SAFETY: p is a live object; the checks read its type, the accessors its storage,
    // which `v` keeps alive for 'a and which cannot change without running Python code.
    unsafe {
        if ffi::PyBytes_Check(p) != 0 {
            let data = ffi::PyBytes_AS_STRING(p).cast::<u8>();
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

/// Stores the low `N` bytes of `v` into `c` (`N` bytes) in the given byte order.
#[inline(always)]
fn store<const N: usize>(c: &mut [u8], v: u64, big_endian: bool) {
    if big_endian {
        c.copy_from_slice(&v.to_be_bytes()[8 - N..]);
    } else {
        c.copy_from_slice(&v.to_le_bytes()[..N]);
    }
}

/// Loads `c` (`N` bytes) as an unsigned integer in the given byte order.
#[inline(always)]
fn load<const N: usize>(c: &[u8], big_endian: bool) -> u64 {
    let mut b = [0u8; 8];
    if big_endian {
        b[8 - N..].copy_from_slice(c);
        u64::from_be_bytes(b)
    } else {
        b[..N].copy_from_slice(c);
        u64::from_le_bytes(b)
    }
}

/// `s_pack_internal`'s rule: an `OverflowError` raised while packing an `int` argument is
/// reported as struct.error("int too large to convert").
#[cold]
fn overflow_rule(v: &Bound<'_, PyAny>, err: PyErr) -> PyErr {
    if is_int(v) && err.is_instance_of::<PyOverflowError>(v.py()) {
        struct_error("int too large to convert")
    } else {
        err
    }
}

/// Packs `args`, one per `N`-byte item of `field`, with `conv` giving each item's bits.
#[inline(always)]
fn pack_ints<const N: usize>(
    field: &mut [u8],
    args: &[Bound<'_, PyAny>],
    big_endian: bool,
    conv: impl Fn(&Bound<'_, PyAny>) -> PyResult<u64>,
) -> PyResult<()> {
    for (c, v) in field.chunks_exact_mut(N).zip(args) {
        let x = conv(v).map_err(|e| overflow_rule(v, e))?;
        store::<N>(c, x, big_endian);
    }
    Ok(())
}

/// struct.error for a value of `code` outside its range, worded as the rules in force say.
#[cold]
fn range_error(code: &Code) -> PyErr {
    struct_error(rules::current().range_message(code))
}

/// `np_char`: a bytes object (or subclass) of length 1.
#[inline(always)]
fn char_value(v: &Bound<'_, PyAny>) -> PyResult<u8> {
    let p = v.as_ptr();
    // SAFETY: p is live; PyBytes_Check reads its type, PyBytes_AS_STRING its storage.
    unsafe {
        if ffi::PyBytes_Check(p) != 0 && ffi::Py_SIZE(p) == 1 {
            return Ok(*ffi::PyBytes_AS_STRING(p).cast::<u8>());
        }
    }
    Err(struct_error(
        "char format requires a bytes object of length 1",
    ))
}

/// Packs the values of one code: `args` are its `repeat` values (one for `s`/`p`), `field`
/// its bytes (zeroed beforehand).
#[inline(always)]
fn pack_code(code: &Code, args: &[Bound<'_, PyAny>], field: &mut [u8]) -> PyResult<()> {
    const LONG: usize = size_of::<c_long>();
    const LONGLONG: usize = size_of::<i64>();
    let be = code.big_endian;
    match code.op {
        Op::Char => {
            for (c, v) in field.iter_mut().zip(args) {
                *c = char_value(v)?;
            }
            Ok(())
        }
        Op::Str => {
            let data = bytes_like(&args[0], b's')?;
            let n = data.len().min(field.len());
            field[..n].copy_from_slice(&data[..n]);
            Ok(())
        }
        Op::Pascal => {
            let data = bytes_like(&args[0], b'p')?;
            if let Some((len, rest)) = field.split_first_mut() {
                let n = data.len().min(rest.len());
                rest[..n].copy_from_slice(&data[..n]);
                *len = n.min(255) as u8;
            }
            Ok(())
        }
        Op::Bool => pack_ints::<1>(field, args, be, |v| {
            // SAFETY: v is live; returns -1 with an error set on failure.
            let t = unsafe { ffi::PyObject_IsTrue(v.as_ptr()) };
            if t < 0 {
                return Err(fetch(v.py()));
            }
            Ok(t as u64)
        }),
        Op::Byte => pack_ints::<1>(field, args, be, |v| {
            let x = get_long(v, code)?;
            if !(-128..=127).contains(&x) {
                return Err(range_error(code));
            }
            Ok(x as u64)
        }),
        Op::UByte => pack_ints::<1>(field, args, be, |v| {
            let x = get_long(v, code)?;
            if !(0..=255).contains(&x) {
                return Err(range_error(code));
            }
            Ok(x as u64)
        }),
        Op::Short => pack_ints::<2>(field, args, be, |v| {
            let x = get_long(v, code)?;
            if !(-32768..=32767).contains(&x) {
                return Err(range_error(code));
            }
            Ok(x as u64)
        }),
        Op::UShort => pack_ints::<2>(field, args, be, |v| {
            let x = get_long(v, code)?;
            if !(0..=65535).contains(&x) {
                return Err(range_error(code));
            }
            Ok(x as u64)
        }),
        Op::Int => pack_ints::<4>(field, args, be, |v| {
            let x = get_long(v, code)?;
            if LONG > size_of::<c_int>() && i32::try_from(x).is_err() {
                return Err(range_error(code));
            }
            Ok(x as u64)
        }),
        Op::UInt => pack_ints::<4>(field, args, be, |v| {
            let x = get_ulong(v, code)?;
            if LONG > size_of::<c_int>() && x > u64::from(u32::MAX) {
                return Err(range_error(code));
            }
            Ok(x)
        }),
        Op::Long => pack_ints::<LONG>(field, args, be, |v| Ok(get_long(v, code)? as u64)),
        Op::ULong => pack_ints::<LONG>(field, args, be, |v| get_ulong(v, code)),
        Op::SSize => pack_ints::<{ size_of::<isize>() }>(field, args, be, |v| {
            if let Some(x) = compact(v) {
                return Ok(x as u64);
            }
            Ok(convert(v, code, ffi::PyLong_AsSsize_t, -1)? as u64)
        }),
        Op::Size => pack_ints::<{ size_of::<usize>() }>(field, args, be, |v| {
            if let Some(x @ 0..) = compact(v) {
                return Ok(x as u64);
            }
            Ok(convert(v, code, ffi::PyLong_AsSize_t, usize::MAX)? as u64)
        }),
        Op::LongLong => pack_ints::<LONGLONG>(field, args, be, |v| {
            if let Some(x) = compact(v) {
                return Ok(x as u64);
            }
            Ok(convert(v, code, ffi::PyLong_AsLongLong, -1)? as u64)
        }),
        Op::ULongLong => pack_ints::<LONGLONG>(field, args, be, |v| {
            if let Some(x @ 0..) = compact(v) {
                return Ok(x as u64);
            }
            convert(v, code, ffi::PyLong_AsUnsignedLongLong, u64::MAX)
        }),
        Op::VoidP => pack_ints::<{ size_of::<usize>() }>(field, args, be, |v| {
            let n = as_pylong(v)?;
            // SAFETY: n is a live int; returns NULL with an error set on failure.
            let x = unsafe { ffi::PyLong_AsVoidPtr(n.as_ptr()) };
            // SAFETY: only reads the thread's error indicator.
            if x.is_null() && !unsafe { ffi::PyErr_Occurred() }.is_null() {
                return Err(fetch(v.py()));
            }
            Ok(x as usize as u64)
        }),
        Op::StdInt => {
            // lp_int / bp_int: 2-byte items are range checked, 4-byte ones only where a C
            // long is wider than 4 bytes.
            let conv = |v: &Bound<'_, PyAny>| {
                let x = get_long(v, code)?;
                let out = match code.size {
                    2 => i16::try_from(x).is_err(),
                    _ => LONG != 4 && i32::try_from(x).is_err(),
                };
                if out {
                    return Err(range_error(code));
                }
                Ok(x as u64)
            };
            match code.size {
                2 => pack_ints::<2>(field, args, be, conv),
                _ => pack_ints::<4>(field, args, be, conv),
            }
        }
        Op::StdUInt => {
            let conv = |v: &Bound<'_, PyAny>| {
                let x = get_ulong(v, code)?;
                if code.size < LONG && x >> (8 * code.size) != 0 {
                    return Err(range_error(code));
                }
                Ok(x)
            };
            match code.size {
                2 => pack_ints::<2>(field, args, be, conv),
                _ => pack_ints::<4>(field, args, be, conv),
            }
        }
        // `_PyLong_AsByteArray` semantics: its OverflowError ("int too big to convert",
        // "can't convert negative int to unsigned", which PyLong_AsLongLong and
        // PyLong_AsUnsignedLongLong raise too) propagates or becomes a range error, as the
        // rules say.
        Op::StdLongLong => pack_ints::<8>(field, args, be, |v| {
            if let Some(x) = compact(v) {
                return Ok(x as u64);
            }
            let n = as_pylong(v)?;
            // SAFETY: n is a live int; returns -1 with an error set on failure.
            let x = unsafe { ffi::PyLong_AsLongLong(n.as_ptr()) };
            // SAFETY: only reads the thread's error indicator.
            if x == -1 && !unsafe { ffi::PyErr_Occurred() }.is_null() {
                return Err(overflow_error(v.py(), fetch(v.py()), code));
            }
            Ok(x as u64)
        }),
        Op::StdULongLong => pack_ints::<8>(field, args, be, |v| {
            if let Some(x @ 0..) = compact(v) {
                return Ok(x as u64);
            }
            let n = as_pylong(v)?;
            // SAFETY: n is a live int; returns -1 with an error set on failure.
            let x = unsafe { ffi::PyLong_AsUnsignedLongLong(n.as_ptr()) };
            // SAFETY: only reads the thread's error indicator.
            if x == u64::MAX && !unsafe { ffi::PyErr_Occurred() }.is_null() {
                return Err(overflow_error(v.py(), fetch(v.py()), code));
            }
            Ok(x)
        }),
        Op::Half => pack_ints::<2>(field, args, be, |v| {
            let h = half_from_f64(get_double(v)?)
                .ok_or_else(|| PyOverflowError::new_err("float too large to pack with e format"))?;
            Ok(u64::from(h))
        }),
        Op::NativeFloat => pack_ints::<4>(field, args, be, |v| {
            // np_float: a plain C cast, no overflow check.
            Ok(u64::from((get_double(v)? as f32).to_bits()))
        }),
        Op::StdFloat => pack_ints::<4>(field, args, be, |v| {
            let y = f32_checked(get_double(v)?)
                .ok_or_else(|| PyOverflowError::new_err("float too large to pack with f format"))?;
            Ok(u64::from(y.to_bits()))
        }),
        Op::Double => pack_ints::<8>(field, args, be, |v| Ok(get_double(v)?.to_bits())),
    }
}

#[cold]
fn internal_error() -> PyErr {
    PySystemError::new_err("struct program does not match its buffer")
}

/// Packs `args` (exactly `prog.len` values) into `dst` (exactly `prog.size` zeroed bytes),
/// code by code. On error, `dst` holds what was packed before the failing value, as
/// CPython's buffer does.
pub fn pack_values(prog: &Program, args: &[Bound<'_, PyAny>], dst: &mut [u8]) -> PyResult<()> {
    if args.len() != prog.len || dst.len() != prog.size {
        return Err(internal_error());
    }
    let mut i = 0;
    for code in &prog.codes {
        let field = dst
            .get_mut(code.offset..code.offset + code.size * code.repeat)
            .ok_or_else(internal_error)?;
        let vals = args.get(i..i + code.repeat).ok_or_else(internal_error)?;
        pack_code(code, vals, field)?;
        i += code.repeat;
        if code.op == Op::Pascal && code.size == 0 && code.offset < dst.len() {
            // CPython writes the length byte of an empty `0p` field (0xff, or 0 from 3.13:
            // see `Rules`) at the field's offset; later items may overwrite it. Past the
            // struct's end it writes out of bounds, which is not reproduced.
            dst[code.offset] = rules::empty_pascal_length();
        }
    }
    Ok(())
}

/// Creates one object per `N`-byte item of `field` with `make` into `out`.
#[inline(always)]
fn unpack_ints<const N: usize>(
    py: Python<'_>,
    field: &[u8],
    out: &mut [*mut ffi::PyObject],
    big_endian: bool,
    make: impl Fn(u64) -> *mut ffi::PyObject,
) -> PyResult<()> {
    for (slot, c) in out.iter_mut().zip(field.chunks_exact(N)) {
        let v = make(load::<N>(c, big_endian));
        if v.is_null() {
            return Err(fetch(py));
        }
        *slot = v;
    }
    Ok(())
}

/// New int objects for signed or unsigned raw values (no Python code runs).
///
/// `PyLong_FromLong` is CPython's fastest constructor (small-int cache, then a one-digit
/// path); the wider ones are for values a C long cannot hold.
#[inline(always)]
fn signed<const N: usize>(raw: u64) -> *mut ffi::PyObject {
    let x = sign_extend(raw, N);
    // SAFETY: both create a new int, or return NULL with MemoryError set.
    unsafe {
        match c_long::try_from(x) {
            Ok(x) => ffi::PyLong_FromLong(x),
            Err(_) => ffi::PyLong_FromLongLong(x),
        }
    }
}

#[inline(always)]
fn unsigned(raw: u64) -> *mut ffi::PyObject {
    // SAFETY: both create a new int, or return NULL with MemoryError set.
    unsafe {
        match c_long::try_from(raw) {
            Ok(x) => ffi::PyLong_FromLong(x),
            Err(_) => ffi::PyLong_FromUnsignedLongLong(raw),
        }
    }
}

#[inline(always)]
fn float(x: f64) -> *mut ffi::PyObject {
    // SAFETY: creates a new float, or returns NULL with MemoryError set.
    unsafe { ffi::PyFloat_FromDouble(x) }
}

#[inline(always)]
fn bytes(data: &[u8]) -> *mut ffi::PyObject {
    // SAFETY: data is valid for its length; returns a new bytes object or NULL with an error.
    unsafe { ffi::PyBytes_FromStringAndSize(data.as_ptr().cast(), data.len() as ffi::Py_ssize_t) }
}

/// The value of an empty `0p` field: `b''`, or (up to 3.12, see `Rules`) the SystemError of
/// CPython asking `PyBytes_FromStringAndSize` for -1 bytes.
#[cold]
fn empty_pascal(py: Python<'_>) -> PyResult<*mut ffi::PyObject> {
    if !rules::empty_pascal_unpacks() {
        return Err(PySystemError::new_err(
            "Negative size passed to PyBytes_FromStringAndSize",
        ));
    }
    let v = bytes(&[]);
    if v.is_null() {
        return Err(fetch(py));
    }
    Ok(v)
}

/// Unpacks the values of one code from `field` into `out` (its `repeat` slots, one for
/// `s`/`p`).
#[inline(always)]
fn unpack_code(
    py: Python<'_>,
    code: &Code,
    field: &[u8],
    out: &mut [*mut ffi::PyObject],
) -> PyResult<()> {
    const LONG: usize = size_of::<c_long>();
    let be = code.big_endian;
    match code.op {
        Op::Char => unpack_ints::<1>(py, field, out, be, |b| bytes(&[b as u8])),
        Op::Str => {
            let v = bytes(field);
            if v.is_null() {
                return Err(fetch(py));
            }
            out[0] = v;
            Ok(())
        }
        Op::Pascal => {
            let Some((&len, rest)) = field.split_first() else {
                out[0] = empty_pascal(py)?;
                return Ok(());
            };
            let v = bytes(&rest[..usize::from(len).min(rest.len())]);
            if v.is_null() {
                return Err(fetch(py));
            }
            out[0] = v;
            Ok(())
        }
        Op::Bool => unpack_ints::<1>(py, field, out, be, |b| {
            // SAFETY: returns a new reference to True or False.
            unsafe { ffi::PyBool_FromLong(c_long::from(b != 0)) }
        }),
        Op::Byte => unpack_ints::<1>(py, field, out, be, signed::<1>),
        Op::UByte => unpack_ints::<1>(py, field, out, be, unsigned),
        Op::Short => unpack_ints::<2>(py, field, out, be, signed::<2>),
        Op::UShort => unpack_ints::<2>(py, field, out, be, unsigned),
        Op::Int => unpack_ints::<4>(py, field, out, be, signed::<4>),
        Op::UInt => unpack_ints::<4>(py, field, out, be, unsigned),
        Op::Long => unpack_ints::<LONG>(py, field, out, be, signed::<LONG>),
        Op::ULong => unpack_ints::<LONG>(py, field, out, be, unsigned),
        Op::SSize => unpack_ints::<{ size_of::<isize>() }>(
            py,
            field,
            out,
            be,
            signed::<{ size_of::<isize>() }>,
        ),
        Op::Size | Op::VoidP => unpack_ints::<{ size_of::<usize>() }>(py, field, out, be, unsigned),
        Op::LongLong | Op::StdLongLong => unpack_ints::<8>(py, field, out, be, signed::<8>),
        Op::ULongLong | Op::StdULongLong => unpack_ints::<8>(py, field, out, be, unsigned),
        Op::StdInt => match code.size {
            2 => unpack_ints::<2>(py, field, out, be, signed::<2>),
            _ => unpack_ints::<4>(py, field, out, be, signed::<4>),
        },
        Op::StdUInt => match code.size {
            2 => unpack_ints::<2>(py, field, out, be, unsigned),
            _ => unpack_ints::<4>(py, field, out, be, unsigned),
        },
        Op::Half => unpack_ints::<2>(py, field, out, be, |h| float(half_to_f64(h as u16))),
        Op::NativeFloat | Op::StdFloat => unpack_ints::<4>(py, field, out, be, |b| {
            float(f64::from(f32::from_bits(b as u32)))
        }),
        Op::Double => unpack_ints::<8>(py, field, out, be, |b| float(f64::from_bits(b))),
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
    // SAFETY: tuple is a tuple (caller contract), so its size field is readable.
    if src.len() != prog.size || unsafe { ffi::PyTuple_GET_SIZE(tuple) } as usize != prog.len {
        return Err(internal_error());
    }
    if prog.len == 0 {
        return Ok(());
    }
    // SAFETY: a tuple's items are an inline array of its length; the tuple is fresh and
    // unshared (caller contract), so this is the only reference to its slots.
    let items = unsafe {
        let ob_item = (*tuple.cast::<ffi::PyTupleObject>()).ob_item.as_mut_ptr();
        std::slice::from_raw_parts_mut(ob_item, prog.len)
    };
    if let Some(steps) = &prog.steps {
        return unpack_steps(py, steps, src, items);
    }
    let mut i = 0;
    for code in &prog.codes {
        let field = src
            .get(code.offset..code.offset + code.size * code.repeat)
            .ok_or_else(internal_error)?;
        let out = items
            .get_mut(i..i + code.repeat)
            .ok_or_else(internal_error)?;
        unpack_code(py, code, field, out)?;
        i += code.repeat;
    }
    Ok(())
}

/// `N` bytes at `at` of `src` as an unsigned integer in the given byte order.
#[inline(always)]
fn load_at<const N: usize>(src: &[u8], at: usize, big_endian: bool) -> PyResult<u64> {
    let c = src.get(at..at + N).ok_or_else(internal_error)?;
    Ok(load::<N>(c, big_endian))
}

/// Unpacks a short format value by value (one dispatch per value, no per-code loops).
#[inline(always)]
fn unpack_steps(
    py: Python<'_>,
    steps: &[Step],
    src: &[u8],
    items: &mut [*mut ffi::PyObject],
) -> PyResult<()> {
    if steps.len() != items.len() {
        return Err(internal_error());
    }
    for (slot, st) in items.iter_mut().zip(steps) {
        let (at, be) = (st.offset, st.big_endian);
        let v = match st.read {
            Read::Bytes => bytes(src.get(at..at + st.len).ok_or_else(internal_error)?),
            Read::Pascal => {
                let field = src.get(at..at + st.len).ok_or_else(internal_error)?;
                let Some((&len, rest)) = field.split_first() else {
                    *slot = empty_pascal(py)?;
                    continue;
                };
                bytes(&rest[..usize::from(len).min(rest.len())])
            }
            // SAFETY: returns a new reference to True or False.
            Read::Bool => unsafe {
                ffi::PyBool_FromLong(c_long::from(load_at::<1>(src, at, be)? != 0))
            },
            Read::I8 => signed::<1>(load_at::<1>(src, at, be)?),
            Read::U8 => unsigned(load_at::<1>(src, at, be)?),
            Read::I16 => signed::<2>(load_at::<2>(src, at, be)?),
            Read::U16 => unsigned(load_at::<2>(src, at, be)?),
            Read::I32 => signed::<4>(load_at::<4>(src, at, be)?),
            Read::U32 => unsigned(load_at::<4>(src, at, be)?),
            Read::I64 => signed::<8>(load_at::<8>(src, at, be)?),
            Read::U64 => unsigned(load_at::<8>(src, at, be)?),
            Read::F16 => float(half_to_f64(load_at::<2>(src, at, be)? as u16)),
            Read::F32 => float(f64::from(f32::from_bits(load_at::<4>(src, at, be)? as u32))),
            Read::F64 => float(f64::from_bits(load_at::<8>(src, at, be)?)),
        };
        if v.is_null() {
            return Err(fetch(py));
        }
        *slot = v;
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
        store::<4>(&mut b, 0x0102_0304, true);
        assert_eq!(b, [1, 2, 3, 4]);
        assert_eq!(load::<4>(&b, true), 0x0102_0304);
        assert_eq!(load::<4>(&b, false), 0x0403_0201);
        store::<4>(&mut b, (-2i64) as u64, false);
        assert_eq!(b, [0xfe, 0xff, 0xff, 0xff]);
        assert_eq!(sign_extend(load::<4>(&b, false), 4), -2);
        let mut h = [0u8; 2];
        store::<2>(&mut h, 0xabcd, false);
        assert_eq!(h, [0xcd, 0xab]);
        assert_eq!(sign_extend(0x80, 1), -128);
        assert_eq!(sign_extend(u64::MAX, 8), -1);
    }
}
