//! Address packing: `inet_aton`, `inet_ntoa`, `inet_pton`, `inet_ntop`, `hton*`/`ntoh*`
//! and their batch forms. The parsers and formatters are plain Rust that follow glibc's
//! `inet_aton(3)`, `inet_pton(3)` and `inet_ntop(3)` to the letter, because the stdlib
//! calls those and they are the specification; the `#[pyfunction]` layer only converts
//! arguments and raises the exceptions `Modules/socketmodule.c` raises.

use pyo3::exceptions::{PyOSError, PyOverflowError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

use crate::batch::{collect_fixed, new_list};
use crate::buffer::{ascii_str, str_bytes, ByteView};
use crate::errors::{arg_type_error, os_error_from_errno, type_name, with_context};

mod rules;
pub(crate) mod v6scan;

use rules::{int_range_error, rules, sole_str_arg_error};

const AF_INET: i32 = libc::AF_INET;
const AF_INET6: i32 = libc::AF_INET6;

// ---------------------------------------------------------------------------------------
// Pure logic
// ---------------------------------------------------------------------------------------

/// glibc `inet_aton`: one to four parts separated by dots, each a C integer literal
/// (`0x` hex, leading `0` octal, else decimal); the last part fills the remaining bytes
/// (`127.1` is 127.0.0.1). Parsing stops at the first ASCII whitespace character, and
/// whatever follows it is ignored (`"1.2.3.4 junk"` is accepted).
///
/// Returns the address and how many bytes it took (less than `s.len()` when a whitespace
/// character ended it).
pub fn parse_inet_aton_prefix(s: &[u8]) -> Option<([u8; 4], usize)> {
    const MAX_LAST: [u64; 4] = [0xffff_ffff, 0x00ff_ffff, 0xffff, 0xff];
    let mut parts = [0u8; 4];
    let mut nparts = 0usize;
    let mut i = 0usize;
    let val = loop {
        // Every part must start with a digit (glibc checks `isdigit` before `strtoul`, so
        // signs and leading spaces, which strtoul would accept, are refused).
        if !s.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let (val, used) = strtoul_base0(&s[i..]);
        i += used;
        let val = val?;
        if s.get(i) == Some(&b'.') {
            if nparts > 2 || val > 0xff {
                return None;
            }
            parts[nparts] = val as u8;
            nparts += 1;
            i += 1;
        } else {
            break val;
        }
    };
    match s.get(i) {
        None => {}
        Some(c) if is_c_space(*c) => {}
        Some(_) => return None,
    }
    if val > MAX_LAST[nparts] {
        return None;
    }
    let word = u32::from_be_bytes(parts) | (val as u32);
    Some((word.to_be_bytes(), i))
}

/// `isspace` in the C locale.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `strtoul(s, &end, 0)` for a string that starts with a digit: returns the value (None
/// past 32 bits, which glibc's caller rejects anyway) and the bytes consumed. `"0x"` not
/// followed by a hex digit parses as `0`, leaving the `x` unconsumed, as in C.
fn strtoul_base0(s: &[u8]) -> (Option<u64>, usize) {
    // Accumulate in u64 and saturate just above u32::MAX: no overflow checks per digit.
    const CAP: u64 = 1 << 33;
    let mut v: u64 = 0;
    let mut i;
    if s[0] != b'0' {
        i = 0;
        while let Some(&c) = s.get(i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            v = (v * 10 + u64::from(d)).min(CAP);
            i += 1;
        }
    } else if s.len() >= 3 && (s[1] | 0x20) == b'x' && s[2].is_ascii_hexdigit() {
        i = 2;
        while let Some(&c) = s.get(i) {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => break,
            };
            v = ((v << 4) | u64::from(d)).min(CAP);
            i += 1;
        }
    } else {
        i = 0;
        while let Some(&c) = s.get(i) {
            let d = c.wrapping_sub(b'0');
            if d > 7 {
                break;
            }
            v = ((v << 3) | u64::from(d)).min(CAP);
            i += 1;
        }
    }
    ((v <= 0xffff_ffff).then_some(v), i)
}

/// `s` (4 to 16 bytes) followed by NULs up to 16 bytes, from two overlapping loads: a
/// `copy_from_slice` of a variable length calls `memcpy`, which cost as much as the parse
/// of a dotted quad (callgrind: ~60 of ~230 instructions an address in `inet_aton_many`).
#[inline(always)]
fn nul_padded_16(s: &[u8]) -> [u8; 16] {
    let n = s.len();
    debug_assert!((4..=16).contains(&n));
    let word = |at: usize| u64::from_le_bytes(s[at..at + 8].try_into().unwrap_or_default());
    let half = |at: usize| {
        u64::from(u32::from_le_bytes(
            s[at..at + 4].try_into().unwrap_or_default(),
        ))
    };
    let (lo, hi) = if n >= 8 {
        // The last 8 bytes end at n; their top n - 8 bytes are bytes 8..n.
        let tail = word(n - 8);
        (word(0), if n == 8 { 0 } else { tail >> ((16 - n) * 8) })
    } else {
        // The last 4 bytes end at n; their top n - 4 bytes are bytes 4..n.
        let tail = half(n - 4);
        (half(0) | ((tail >> ((8 - n) * 8)) << 32), 0)
    };
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&lo.to_le_bytes());
    out[8..].copy_from_slice(&hi.to_le_bytes());
    out
}

/// glibc `inet_pton(AF_INET)`: exactly four decimal parts, each at most 255, without
/// leading zeros, and nothing else.
#[inline]
pub fn parse_inet_pton4(s: &[u8]) -> Option<[u8; 4]> {
    // "0.0.0.0" to "255.255.255.255".
    if !(7..=15).contains(&s.len()) {
        return None;
    }
    // A NUL-padded copy: NUL is neither a digit nor a dot, so each part's digits can be
    // read four at a time without bounds tests (`& 15` keeps the indexes provably in
    // range; no valid part starts past byte 12), and a NUL inside `s` stops a part as
    // any other byte does. Part by part, at most three digits each: no running overflow
    // check, and few branches in the common case.
    let text = nul_padded_16(s);
    let digit = |i: usize| u32::from(text[i & 15].wrapping_sub(b'0'));
    let mut out = [0u8; 4];
    let mut i = 0usize;
    for (k, octet) in out.iter_mut().enumerate() {
        if k > 0 {
            if text[i & 15] != b'.' {
                return None;
            }
            i += 1;
        }
        let (d0, d1, d2) = (digit(i), digit(i + 1), digit(i + 2));
        let (value, len) = match (d0 < 10, d1 < 10, d2 < 10) {
            (false, _, _) => return None,
            (true, false, _) => (d0, 1),
            // glibc refuses a leading zero ("01"), and a fourth digit is never <= 255.
            _ if d0 == 0 => return None,
            (true, true, false) => (d0 * 10 + d1, 2),
            (true, true, true) if digit(i + 3) >= 10 => (d0 * 100 + d1 * 10 + d2, 3),
            (true, true, true) => return None,
        };
        *octet = u8::try_from(value).ok()?;
        i += len;
    }
    (i == s.len()).then_some(out)
}

const NOT_HEX: u8 = 0xff;

/// Hex digit values by byte, `NOT_HEX` for the rest: one load instead of three range tests.
static HEX_VALUE: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// glibc `inet_pton(AF_INET6)`: up to eight groups of at most four hex digits, one `::`,
/// and an optional trailing dotted-quad IPv4 part.
pub fn parse_inet_pton6(s: &[u8]) -> Option<[u8; 16]> {
    if let Some(value) = v6scan::parse(s) {
        return Some(value.to_be_bytes());
    }
    parse_inet_pton6_bytewise(s)
}

/// [`parse_inet_pton6`] as glibc writes it, a byte at a time: the reference for
/// `v6scan`, and the parser of the texts it leaves (dotted quads, and all invalid text).
pub fn parse_inet_pton6_bytewise(s: &[u8]) -> Option<[u8; 16]> {
    // The longest text glibc accepts is 45 bytes: six 4-digit groups and a dotted quad.
    if s.is_empty() || s.len() > MAX_IPV6_TEXT {
        return None;
    }
    // A NUL-padded copy: NUL is neither a hex digit, a colon nor a dot, so every scan stops
    // at the end of the text without a bounds test per byte (`& 63` keeps indexes provably
    // in range; no valid scan reaches past byte 49).
    let mut text = [0u8; 64];
    text[..s.len()].copy_from_slice(s);
    let hex = |k: usize| HEX_VALUE[text[k & 63] as usize];

    // Groups accumulate into two 128-bit integers, before and after `::`; the address is
    // `before` shifted past the zero run, or'ed with `after` (glibc moves bytes instead; the
    // result is the same).
    let mut before: u128 = 0;
    let mut after: u128 = 0;
    let mut nwords = 0usize;
    let mut gap: Option<usize> = None;
    let mut push = |w: u128, gap: Option<usize>, nwords: &mut usize| -> Option<()> {
        if *nwords == 8 {
            return None;
        }
        if gap.is_some() {
            after = (after << 16) | w;
        } else {
            before = (before << 16) | w;
        }
        *nwords += 1;
        Some(())
    };
    let mut i = 0usize;
    if s[0] == b':' {
        if s.get(1) != Some(&b':') {
            return None;
        }
        i = 1;
    }
    loop {
        let curtok = i;
        let mut val = 0u16;
        let mut ndigits = 0usize;
        while ndigits < 4 {
            let d = hex(i + ndigits);
            if d == NOT_HEX {
                break;
            }
            val = (val << 4) | u16::from(d);
            ndigits += 1;
        }
        i += ndigits;
        if ndigits == 4 && hex(i) != NOT_HEX {
            return None;
        }
        match text[i & 63] {
            0 if i == s.len() => {
                if ndigits > 0 {
                    push(u128::from(val), gap, &mut nwords)?;
                }
                break;
            }
            b':' => {
                i += 1;
                if ndigits == 0 {
                    if gap.is_some() {
                        return None;
                    }
                    gap = Some(nwords);
                    continue;
                }
                if i == s.len() {
                    return None;
                }
                push(u128::from(val), gap, &mut nwords)?;
            }
            b'.' if nwords <= 6 => {
                let v4 = parse_inet_pton4(&s[curtok..])?;
                push(
                    u128::from(u16::from_be_bytes([v4[0], v4[1]])),
                    gap,
                    &mut nwords,
                )?;
                push(
                    u128::from(u16::from_be_bytes([v4[2], v4[3]])),
                    gap,
                    &mut nwords,
                )?;
                break;
            }
            _ => return None,
        }
    }
    let value = match gap {
        // `::` must stand for at least one zero group.
        Some(_) if nwords == 8 => return None,
        Some(g) => before.checked_shl(16 * (8 - g) as u32).unwrap_or(0) | after,
        None if nwords == 8 => before,
        None => return None,
    };
    Some(value.to_be_bytes())
}

/// `"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".len()`
const MAX_IPV6_TEXT: usize = 45;

/// The decimal digits of every octet value, then a `.`: `DECIMAL_DOT[v][..len(v) + 1]`.
static DECIMAL_DOT: [([u8; 4], u8); 256] = {
    let mut t = [([0u8; 4], 0u8); 256];
    let mut v = 0;
    while v < 256 {
        let (d, n) = if v >= 100 {
            (
                [
                    b'0' + (v / 100) as u8,
                    b'0' + (v / 10 % 10) as u8,
                    b'0' + (v % 10) as u8,
                ],
                3,
            )
        } else if v >= 10 {
            ([b'0' + (v / 10) as u8, b'0' + (v % 10) as u8, b'.'], 2)
        } else {
            ([b'0' + v as u8, b'.', b'.'], 1)
        };
        t[v] = ([d[0], d[1], d[2], b'.'], n);
        v += 1;
    }
    t
};

/// `"255.255.255.255".len()`, plus the scratch byte [`ipv4_text`] writes past the end.
const IPV4_TEXT_BUF: usize = 16;

/// `inet_ntoa`/`inet_ntop(AF_INET)`, `"%u.%u.%u.%u"`: the text in a buffer, and its length.
/// Each octet is written as four bytes from a table (digits and a dot) with no branch on
/// its number of digits.
pub fn ipv4_text(a: &[u8; 4]) -> ([u8; IPV4_TEXT_BUF], usize) {
    let mut out = [0u8; IPV4_TEXT_BUF];
    let mut len = 0usize;
    for &octet in a {
        let (chars, n) = DECIMAL_DOT[usize::from(octet)];
        // len <= 12 here, so the four bytes fit.
        out[len..len + 4].copy_from_slice(&chars);
        len += usize::from(n) + 1;
    }
    // The last octet's dot is not part of the text.
    (out, len - 1)
}

/// [`ipv4_text`], appended to `out`.
pub fn format_ipv4(a: &[u8; 4], out: &mut String) {
    let (text, len) = ipv4_text(a);
    out.extend(text[..len].iter().map(|&b| char::from(b)));
}

/// glibc `inet_ntop(AF_INET6)`: lowercase hex groups without leading zeros; the first
/// longest run of two or more zero groups becomes `::`; an address whose first 80 bits are
/// zero and next 16 are zero (IPv4-compatible, `::1.2.3.4`) or 0xffff (IPv4-mapped,
/// `::ffff:1.2.3.4`) prints its last 32 bits as a dotted quad, unless that run is longer
/// (so `::1` stays `::1`).
pub fn format_ipv6(a: &[u8; 16], out: &mut String) {
    let (text, len) = ipv6_text(a);
    out.extend(text[..len].iter().map(|&b| char::from(b)));
}

/// `"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".len()`, and room for the fixed-size
/// writes of [`ipv6_text`] past the text's end.
const IPV6_TEXT_BUF: usize = 64;

/// [`format_ipv6`]'s text in a buffer, and its length.
pub fn ipv6_text(a: &[u8; 16]) -> ([u8; IPV6_TEXT_BUF], usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut words = [0u16; 8];
    for (i, w) in words.iter_mut().enumerate() {
        *w = u16::from_be_bytes([a[2 * i], a[2 * i + 1]]);
    }
    let (mut best_base, mut best_len) = (None::<usize>, 0usize);
    let (mut cur_base, mut cur_len) = (None::<usize>, 0usize);
    for (i, w) in words.iter().enumerate() {
        if *w == 0 {
            if cur_base.is_none() {
                cur_base = Some(i);
                cur_len = 1;
            } else {
                cur_len += 1;
            }
        } else if let Some(cb) = cur_base.take() {
            if best_base.is_none() || cur_len > best_len {
                best_base = Some(cb);
                best_len = cur_len;
            }
        }
    }
    if let Some(cb) = cur_base {
        if best_base.is_none() || cur_len > best_len {
            best_base = Some(cb);
            best_len = cur_len;
        }
    }
    if best_len < 2 {
        best_base = None;
    }
    let mut out = [0u8; IPV6_TEXT_BUF];
    // The writes below are a colon and four digits per group, of which only the
    // significant digits are kept (len <= 35 before the last group), and the dotted
    // quad's 16 bytes after at most "::ffff:": all inside the buffer.
    let mut len = 0usize;
    let mut i = 0usize;
    while i < 8 {
        if let Some(bb) = best_base {
            if i >= bb && i < bb + best_len {
                if i == bb {
                    out[len] = b':';
                    len += 1;
                }
                i += 1;
                continue;
            }
        }
        if i != 0 {
            out[len] = b':';
            len += 1;
        }
        if i == 6
            && best_base == Some(0)
            && (best_len == 6 || (best_len == 5 && words[5] == 0xffff))
        {
            let (quad, quad_len) = ipv4_text(&[a[12], a[13], a[14], a[15]]);
            out[len..len + IPV4_TEXT_BUF].copy_from_slice(&quad);
            return (out, len + quad_len);
        }
        // Lowercase hex without leading zeros, "0" for zero: the top `digits` nibbles of
        // the word shifted to the top.
        let w = words[i];
        let digits = (16 - (w | 1).leading_zeros()).div_ceil(4) as usize;
        let top = w << (4 * (4 - digits));
        out[len..len + 4].copy_from_slice(&[
            HEX[usize::from(top >> 12)],
            HEX[usize::from((top >> 8) & 0xf)],
            HEX[usize::from((top >> 4) & 0xf)],
            HEX[usize::from(top & 0xf)],
        ]);
        len += digits;
        i += 1;
    }
    if let Some(bb) = best_base {
        if bb + best_len == 8 {
            out[len] = b':';
            len += 1;
        }
    }
    (out, len)
}

// ---------------------------------------------------------------------------------------
// Python layer
// ---------------------------------------------------------------------------------------

/// The UTF-8 bytes of a `str` argument, as the `s` format of `PyArg_ParseTuple` gives them
/// (a `TypeError` for other types). The embedded-NUL `ValueError` of that format is raised
/// by [`nul_error_or`], which callers run only when parsing did not accept the whole
/// string: the parsers accept no NUL, so a fully accepted string has none.
fn c_string_arg<'a>(obj: &'a Bound<'_, PyAny>, func: &str, pos: usize) -> PyResult<&'a [u8]> {
    let s = obj
        .cast::<PyString>()
        .map_err(|_| arg_type_error(func, pos, "str", obj))?;
    str_bytes(s)
}

/// [`c_string_arg`] for `inet_aton`, whose only argument's `TypeError` follows the
/// interpreter's rules ([`rules`]).
#[inline]
fn aton_string_arg<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<&'a [u8]> {
    match obj.cast::<PyString>() {
        Ok(s) => str_bytes(s),
        Err(_) => Err(sole_str_arg_error(rules().aton_str, "inet_aton", obj)),
    }
}

/// `ValueError("embedded null character")` if `s` has a NUL (CPython checks that before
/// parsing, so it wins over a parse error), else `err`.
fn nul_error_or(s: &[u8], err: PyErr) -> PyErr {
    if s.contains(&0) {
        PyValueError::new_err("embedded null character")
    } else {
        err
    }
}

/// The bytes of a bytes-like argument (`y*`), without the buffer protocol for `bytes`.
fn with_bytes_arg<R>(obj: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> PyResult<R>) -> PyResult<R> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return f(b.as_bytes());
    }
    let view = ByteView::readable(obj)?;
    f(view.as_slice())
}

/// The `int` argument of the `i` format: `__index__` honoured, C `int` range enforced.
fn c_int_arg(obj: &Bound<'_, PyAny>) -> PyResult<i32> {
    if obj.is_instance_of::<pyo3::types::PyFloat>() {
        return Err(PyTypeError::new_err(
            "'float' object cannot be interpreted as an integer",
        ));
    }
    let v: i64 = obj.extract::<i64>().map_err(|e: PyErr| {
        if e.is_instance_of::<PyTypeError>(obj.py()) {
            PyTypeError::new_err(format!(
                "'{}' object cannot be interpreted as an integer",
                type_name(obj)
            ))
        } else {
            e
        }
    })?;
    if v > i64::from(i32::MAX) {
        return Err(PyOverflowError::new_err(
            "signed integer is greater than maximum",
        ));
    }
    if v < i64::from(i32::MIN) {
        return Err(PyOverflowError::new_err(
            "signed integer is less than minimum",
        ));
    }
    Ok(v as i32)
}

/// `inet_aton` of a `str` argument's bytes, with CPython's error precedence.
#[inline]
fn aton_checked(s: &[u8]) -> PyResult<[u8; 4]> {
    // Plain dotted decimal (what nearly every caller passes) means the same to both parsers,
    // and inet_pton's is the cheaper one.
    match parse_inet_pton4(s) {
        Some(a) => Ok(a),
        None => aton_other_forms(s),
    }
}

/// [`aton_checked`] of what is not a plain dotted quad: the other `inet_aton` forms, errors.
#[cold]
fn aton_other_forms(s: &[u8]) -> PyResult<[u8; 4]> {
    match parse_inet_aton_prefix(s) {
        // Whatever follows the terminating whitespace was not looked at: it may hold a NUL.
        Some((a, used)) if used == s.len() || !s[used..].contains(&0) => Ok(a),
        _ => Err(nul_error_or(
            s,
            PyOSError::new_err("illegal IP address string passed to inet_aton"),
        )),
    }
}

fn pton_error(s: &[u8]) -> PyErr {
    nul_error_or(
        s,
        PyOSError::new_err("illegal IP address string passed to inet_pton"),
    )
}

/// Mirrors `socket.inet_aton(ip_string)`.
#[pyfunction]
#[pyo3(signature = (ip_string, /))]
fn inet_aton<'py>(ip_string: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let s = aton_string_arg(ip_string)?;
    let packed = aton_checked(s)?;
    Ok(PyBytes::new(ip_string.py(), &packed))
}

/// Mirrors `socket.inet_ntoa(packed_ip)`.
#[pyfunction]
#[pyo3(signature = (packed_ip, /))]
fn inet_ntoa<'py>(packed_ip: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
    let py = packed_ip.py();
    with_bytes_arg(packed_ip, |b| {
        let a: [u8; 4] = b
            .try_into()
            .map_err(|_| PyOSError::new_err("packed IP wrong length for inet_ntoa"))?;
        let (text, len) = ipv4_text(&a);
        ascii_str(py, &text[..len])
    })
}

/// Parses one `inet_pton` string for an already validated family into `out`, which is
/// the family's address size.
fn pton_into(af: i32, s: &[u8], out: &mut [u8]) -> PyResult<()> {
    if af == AF_INET {
        out.copy_from_slice(&parse_inet_pton4(s).ok_or_else(|| pton_error(s))?);
    } else {
        out.copy_from_slice(&parse_inet_pton6(s).ok_or_else(|| pton_error(s))?);
    }
    Ok(())
}

/// The packed size of an `inet_pton` family, or `OSError(EAFNOSUPPORT)` for another one.
fn pton_size(af: i32) -> PyResult<usize> {
    match af {
        AF_INET => Ok(4),
        AF_INET6 => Ok(16),
        _ => Err(os_error_from_errno(libc::EAFNOSUPPORT)),
    }
}

/// Mirrors `socket.inet_pton(address_family, ip_string)`.
#[pyfunction]
#[pyo3(signature = (address_family, ip_string, /))]
fn inet_pton<'py>(
    address_family: &Bound<'py, PyAny>,
    ip_string: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let af = c_int_arg(address_family)?;
    let s = c_string_arg(ip_string, "inet_pton", 2)?;
    let size = pton_size(af).map_err(|e| nul_error_or(s, e))?;
    let mut out = [0u8; 16];
    pton_into(af, s, &mut out[..size])?;
    Ok(PyBytes::new(ip_string.py(), &out[..size]))
}

/// Address size for `inet_ntop`, or the stdlib's `ValueError` for an unknown family.
fn ntop_size(af: i32) -> PyResult<usize> {
    match af {
        AF_INET => Ok(4),
        AF_INET6 => Ok(16),
        _ => Err(PyValueError::new_err(format!(
            "unknown address family {af}"
        ))),
    }
}

/// The `str` `inet_ntop` makes of a 4- or 16-byte packed address.
fn ntop_ascii<'py>(py: Python<'py>, a: &[u8]) -> PyResult<Bound<'py, PyString>> {
    if let Ok(a4) = <&[u8; 4]>::try_from(a) {
        let (text, len) = ipv4_text(a4);
        ascii_str(py, &text[..len])
    } else if let Ok(a16) = <&[u8; 16]>::try_from(a) {
        let (text, len) = ipv6_text(a16);
        ascii_str(py, &text[..len])
    } else {
        Err(PyValueError::new_err(
            "invalid length of packed IP address string",
        ))
    }
}

/// Mirrors `socket.inet_ntop(address_family, packed_ip)`.
#[pyfunction]
#[pyo3(signature = (address_family, packed_ip, /))]
fn inet_ntop<'py>(
    address_family: &Bound<'py, PyAny>,
    packed_ip: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyString>> {
    let py = packed_ip.py();
    let af = c_int_arg(address_family)?;
    with_bytes_arg(packed_ip, |b| {
        let size = ntop_size(af)?;
        if b.len() != size {
            return Err(PyValueError::new_err(
                "invalid length of packed IP address string",
            ));
        }
        ntop_ascii(py, b)
    })
}

/// The `htons`/`ntohs` error for an argument `PyLong_AsLongAndOverflow` turned into `v`
/// and `overflow`: the C `int` conversion's error, which follows the interpreter's rules
/// ([`rules`]), then the 16-bit range check of `socketmodule.c`.
#[cold]
#[inline(never)]
fn short_arg_error(py: Python<'_>, v: libc::c_long, overflow: libc::c_int, func: &str) -> PyErr {
    let parser = rules().short_int;
    if overflow != 0 {
        return int_range_error(parser, false, overflow < 0);
    }
    if v == -1 {
        // A TypeError (no `__index__`) or whatever `__index__` raised.
        if let Some(err) = PyErr::take(py) {
            return err;
        }
    }
    if libc::c_int::try_from(v).is_err() {
        return int_range_error(parser, true, v < 0);
    }
    if v < 0 {
        PyOverflowError::new_err(format!(
            "{func}: can't convert negative Python int to C 16-bit unsigned integer"
        ))
    } else {
        PyOverflowError::new_err(format!(
            "{func}: Python int too large to convert to C 16-bit unsigned integer"
        ))
    }
}

/// `htons`/`ntohs` (the same byte swap both ways) as `METH_O` C functions, like the
/// stdlib's since 3.13 and like `htonl` here: through `#[pyfunction]`'s fastcall argument
/// parsing they took 1.5x the stdlib's time on 3.13. The conversion is one C call
/// (`PyLong_AsLongAndOverflow`, which `PyLong_AsLong` and the stdlib's `PyLong_AsInt`
/// both wrap), and every error is built off the hot path.
///
/// # Safety
/// Called by CPython with the GIL held and `arg` a valid object. Nothing here can panic
/// (integer arithmetic, C API calls, and exception construction), so no unwinding can
/// reach C.
#[inline(always)]
unsafe fn swap16_arg(arg: *mut ffi::PyObject, func: &str) -> *mut ffi::PyObject {
    let mut overflow: libc::c_int = 0;
    // SAFETY: the caller guarantees the GIL and a valid `arg`; `overflow` is a live int.
    // The function takes any object (honouring `__index__`) and reports failure as -1,
    // with an exception set, or with `overflow` set for an int beyond a C long.
    let v = unsafe { ffi::PyLong_AsLongAndOverflow(arg, &mut overflow) };
    if let Ok(x) = u16::try_from(v) {
        // `to_be` is `from_be`: one swap (or none on big-endian machines) either way.
        // SAFETY: the GIL is held; PyLong_FromLong returns a new reference or NULL + error.
        return unsafe { ffi::PyLong_FromLong(libc::c_long::from(x.to_be())) };
    }
    // SAFETY: CPython holds the GIL for the whole call, for as long as `py` is used.
    let py = unsafe { Python::assume_attached() };
    short_arg_error(py, v, overflow, func).restore(py);
    std::ptr::null_mut()
}

/// Mirrors `socket.htons(x)`.
///
/// # Safety
/// Only CPython calls it, through its `METH_O` definition: GIL held, `arg` a valid object.
unsafe extern "C" fn htons_o(
    _m: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls METH_O functions with the GIL held and a valid argument.
    unsafe { swap16_arg(arg, "htons") }
}

/// Mirrors `socket.ntohs(x)`.
///
/// # Safety
/// Only CPython calls it, through its `METH_O` definition: GIL held, `arg` a valid object.
unsafe extern "C" fn ntohs_o(
    _m: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls METH_O functions with the GIL held and a valid argument.
    unsafe { swap16_arg(arg, "ntohs") }
}

/// `htonl`/`ntohl` as `METH_O` C functions, like the stdlib's. Through `#[pyfunction]`'s
/// fastcall argument parsing they measured about 1.5x the stdlib's time (the whole call is
/// ~30 ns, so the parsing is most of it); a one-argument C entry point is at parity.
///
/// The argument rules are CPython's: an `int` (no `__index__`), `OverflowError` for a
/// negative value or one wider than 32 bits.
///
/// # Safety
/// Called by CPython with the GIL held and `arg` a valid object. Nothing here can panic
/// (integer arithmetic and C API calls only), so no unwinding can reach C.
#[inline(always)]
unsafe fn swap32_arg(arg: *mut ffi::PyObject, to_be: bool) -> *mut ffi::PyObject {
    // SAFETY: the caller guarantees the GIL and a valid `arg`.
    unsafe {
        if ffi::PyLong_Check(arg) == 0 {
            ffi::PyErr_Format(
                ffi::PyExc_TypeError,
                c"expected int, %s found".as_ptr(),
                (*ffi::Py_TYPE(arg)).tp_name,
            );
            return std::ptr::null_mut();
        }
        // Read in place when the int is small and non-negative (the common case; CPython's
        // own conversion is a call, then the same checks): parity became 1.1x or better.
        let v = match crate::pylong::unsigned_value(arg) {
            Some(v) => v,
            None => {
                let v = ffi::PyLong_AsUnsignedLong(arg);
                if v == libc::c_ulong::MAX && !ffi::PyErr_Occurred().is_null() {
                    return std::ptr::null_mut();
                }
                // c_ulong is u64 here, u32 on some platforms.
                #[allow(clippy::useless_conversion)]
                let v = u64::from(v);
                v
            }
        };
        let Ok(v) = u32::try_from(v) else {
            ffi::PyErr_SetString(
                ffi::PyExc_OverflowError,
                c"int larger than 32 bits".as_ptr(),
            );
            return std::ptr::null_mut();
        };
        let swapped = if to_be { v.to_be() } else { u32::from_be(v) };
        ffi::PyLong_FromUnsignedLong(libc::c_ulong::from(swapped))
    }
}

/// Mirrors `socket.htonl(x)`.
///
/// # Safety
/// Only CPython calls it, through its `METH_O` definition: GIL held, `arg` a valid object.
unsafe extern "C" fn htonl_o(
    _m: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls METH_O functions with the GIL held and a valid argument.
    unsafe { swap32_arg(arg, true) }
}

/// Mirrors `socket.ntohl(x)`.
///
/// # Safety
/// Only CPython calls it, through its `METH_O` definition: GIL held, `arg` a valid object.
unsafe extern "C" fn ntohl_o(
    _m: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls METH_O functions with the GIL held and a valid argument.
    unsafe { swap32_arg(arg, false) }
}

/// Adds a `METH_O` builtin function to the module.
fn add_meth_o(
    m: &Bound<'_, PyModule>,
    name: &'static std::ffi::CStr,
    doc: &'static std::ffi::CStr,
    f: ffi::PyCFunction,
) -> PyResult<()> {
    // CPython keeps a pointer to the definition for the function's lifetime, which is the
    // interpreter's: leaking one small struct per function is the usual way to get that.
    let def: &'static mut ffi::PyMethodDef = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunction: f },
        ml_flags: ffi::METH_O,
        ml_doc: doc.as_ptr(),
    }));
    let module_name = m.name()?;
    // SAFETY: `def` is 'static and fully initialised; `module_name` is a live str, used as
    // the function's __module__. PyCFunction_NewEx returns a new reference or NULL + error.
    let func = unsafe {
        Bound::from_owned_ptr_or_err(
            m.py(),
            ffi::PyCFunction_NewEx(def, std::ptr::null_mut(), module_name.as_ptr()),
        )?
    };
    m.add(name.to_str().unwrap_or_default(), func)
}

/// `b"".join(inet_aton(s) for s in ip_strings)`, in one call.
#[pyfunction]
#[pyo3(signature = (ip_strings, /))]
fn inet_aton_many<'py>(ip_strings: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    if let Ok(list) = ip_strings.cast::<PyList>() {
        return aton_list(list);
    }
    collect_fixed(ip_strings, 4, |item, out| {
        let s = aton_string_arg(item)?;
        out.copy_from_slice(&aton_checked(s)?);
        Ok(())
    })
}

/// [`inet_aton_many`] of a list, the common case, without the general walk's per-item
/// reference counting and size re-reads: the items are read as borrowed pointers
/// straight into the result. That is sound because no Python code can run inside the
/// loop, so nothing can change the list: reading a `str`'s bytes and parsing them call
/// none, and the first error (whose construction could) ends the loop. Callgrind, 3.13,
/// 100,000 addresses: 277 instructions per address through the general walk, 224 here.
fn aton_list<'py>(list: &Bound<'py, PyList>) -> PyResult<Bound<'py, PyBytes>> {
    let py = list.py();
    let n = list.len();
    PyBytes::new_with(py, n.saturating_mul(4), |buf| {
        for (i, slot) in buf.chunks_exact_mut(4).enumerate() {
            // SAFETY: i < n, the list's size, which cannot change while this loop runs (see
            // above), so the slot holds a valid reference that the list keeps alive.
            let item = unsafe {
                pyo3::Borrowed::from_ptr(
                    py,
                    ffi::PyList_GET_ITEM(list.as_ptr(), i as ffi::Py_ssize_t),
                )
            };
            let packed = aton_string_arg(&item)
                .and_then(aton_checked)
                .map_err(|e| with_context(py, e, &format!(" (at index {i})")))?;
            slot.copy_from_slice(&packed);
        }
        Ok(())
    })
}

/// `b"".join(inet_pton(af, s) for s in ip_strings)`, in one call.
#[pyfunction]
#[pyo3(signature = (address_family, ip_strings, /))]
fn inet_pton_many<'py>(
    address_family: &Bound<'py, PyAny>,
    ip_strings: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let af = c_int_arg(address_family)?;
    let size = pton_size(af)?;
    collect_fixed(ip_strings, size, |item, out| {
        let s = c_string_arg(item, "inet_pton", 2)?;
        pton_into(af, s, out)
    })
}

/// Splits `packed` into `size`-byte addresses and formats each; a ragged buffer is a
/// `ValueError` before any string is made.
fn format_many<'py>(
    py: Python<'py>,
    packed: &[u8],
    size: usize,
    func: &str,
) -> PyResult<Bound<'py, PyList>> {
    if packed.len() % size != 0 {
        return Err(PyValueError::new_err(format!(
            "{func}: buffer length {} is not a multiple of the address size {size}",
            packed.len()
        )));
    }
    let texts = packed
        .chunks_exact(size)
        .map(|a| ntop_ascii(py, a).map(Bound::into_any));
    new_list(py, texts)
}

/// `[inet_ntoa(packed[i:i+4]) for i in range(0, len(packed), 4)]`, in one call.
#[pyfunction]
#[pyo3(signature = (packed, /))]
fn inet_ntoa_many<'py>(packed: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    with_bytes_arg(packed, |b| format_many(packed.py(), b, 4, "inet_ntoa_many"))
}

/// `[inet_ntop(af, chunk) for chunk in ...]` over a buffer of packed addresses.
#[pyfunction]
#[pyo3(signature = (address_family, packed, /))]
fn inet_ntop_many<'py>(
    address_family: &Bound<'py, PyAny>,
    packed: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let af = c_int_arg(address_family)?;
    let size = ntop_size(af)?;
    with_bytes_arg(packed, |b| {
        format_many(packed.py(), b, size, "inet_ntop_many")
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(inet_aton, m)?)?;
    m.add_function(wrap_pyfunction!(inet_ntoa, m)?)?;
    m.add_function(wrap_pyfunction!(inet_pton, m)?)?;
    m.add_function(wrap_pyfunction!(inet_ntop, m)?)?;
    rules::register(m)?;
    add_meth_o(
        m,
        c"htons",
        c"htons(x, /)\n--\n\nConvert a 16-bit unsigned integer from host to network byte order.",
        htons_o,
    )?;
    add_meth_o(
        m,
        c"ntohs",
        c"ntohs(x, /)\n--\n\nConvert a 16-bit unsigned integer from network to host byte order.",
        ntohs_o,
    )?;
    add_meth_o(
        m,
        c"htonl",
        c"htonl(integer, /)\n--\n\nConvert a 32-bit integer from host to network byte order.",
        htonl_o,
    )?;
    add_meth_o(
        m,
        c"ntohl",
        c"ntohl(integer, /)\n--\n\nConvert a 32-bit integer from network to host byte order.",
        ntohl_o,
    )?;
    m.add_function(wrap_pyfunction!(inet_aton_many, m)?)?;
    m.add_function(wrap_pyfunction!(inet_ntoa_many, m)?)?;
    m.add_function(wrap_pyfunction!(inet_pton_many, m)?)?;
    m.add_function(wrap_pyfunction!(inet_ntop_many, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aton(s: &str) -> Option<[u8; 4]> {
        parse_inet_aton_prefix(s.as_bytes()).map(|(a, _)| a)
    }

    #[test]
    fn nul_padded_16_is_the_text_then_nuls_for_every_length() {
        let text: Vec<u8> = (1..=16).collect();
        for n in 4..=16 {
            let mut want = [0u8; 16];
            want[..n].copy_from_slice(&text[..n]);
            assert_eq!(super::nul_padded_16(&text[..n]), want, "length {n}");
        }
    }

    #[test]
    fn aton_glibc_forms() {
        assert_eq!(aton("127.0.0.1"), Some([127, 0, 0, 1]));
        assert_eq!(aton("127.1"), Some([127, 0, 0, 1]));
        assert_eq!(aton("0x7f.1"), Some([127, 0, 0, 1]));
        assert_eq!(aton("0177.0.0.1"), Some([127, 0, 0, 1]));
        assert_eq!(aton("1.2.65535"), Some([1, 2, 255, 255]));
        assert_eq!(aton("4294967295"), Some([255; 4]));
        assert_eq!(aton("1.2.3.4 junk"), Some([1, 2, 3, 4]));
        assert_eq!(aton("1.2.3.4\tx"), Some([1, 2, 3, 4]));
        assert_eq!(aton("08.0.0.1"), None);
        assert_eq!(aton("0x"), None);
        assert_eq!(aton("4294967296"), None);
        assert_eq!(aton("1.2.3.256"), None);
        assert_eq!(aton("1.2.3.4."), None);
        assert_eq!(aton(" 1.2.3.4"), None);
        assert_eq!(aton("1.2.3.4.5"), None);
        assert_eq!(aton(""), None);
        assert_eq!(aton("99999999999999999999999"), None);
    }

    #[test]
    fn pton_strictness() {
        assert_eq!(parse_inet_pton4(b"1.2.3.4"), Some([1, 2, 3, 4]));
        assert_eq!(parse_inet_pton4(b"01.2.3.4"), None);
        assert_eq!(parse_inet_pton4(b"1.2.3"), None);
        assert_eq!(parse_inet_pton4(b"1.2.3.4."), None);
        assert_eq!(parse_inet_pton6(b"::"), Some([0; 16]));
        let mut one = [0u8; 16];
        one[15] = 1;
        assert_eq!(parse_inet_pton6(b"::1"), Some(one));
        assert_eq!(parse_inet_pton6(b":::"), None);
        assert_eq!(parse_inet_pton6(b"1:"), None);
        assert_eq!(parse_inet_pton6(b"1::2::3"), None);
        assert_eq!(parse_inet_pton6(b"1:2:3:4:5:6:7:8::"), None);
        assert!(parse_inet_pton6(b"::ffff:1.2.3.4").is_some());
        assert_eq!(parse_inet_pton6(b"12345::"), None);
        assert!(parse_inet_pton6(b"0000:0000:0000:0000:0000:0000:255.255.255.255").is_some());
        assert_eq!(
            parse_inet_pton6(b"0000:0000:0000:0000:0000:0000:255.255.255.255 "),
            None
        );
        assert_eq!(parse_inet_pton6(b"1:2\x003:4:5:6:7:8"), None);
    }

    unsafe extern "C" {
        /// `inet_pton(3)`; the `libc` crate does not bind it.
        fn inet_pton(
            af: libc::c_int,
            src: *const libc::c_char,
            dst: *mut libc::c_void,
        ) -> libc::c_int;
    }

    /// glibc's own `inet_pton(AF_INET)`, the specification.
    fn libc_pton4(s: &[u8]) -> Option<[u8; 4]> {
        let text = std::ffi::CString::new(s).ok()?;
        let mut out = [0u8; 4];
        // SAFETY: `text` is NUL-terminated and `out` has room for an IPv4 address.
        let ok = unsafe { inet_pton(libc::AF_INET, text.as_ptr(), out.as_mut_ptr().cast()) };
        (ok == 1).then_some(out)
    }

    #[test]
    fn pton4_agrees_with_glibc() {
        let parts = [
            "0", "00", "01", "1", "9", "10", "09", "99", "100", "199", "255", "256", "260", "999",
            "1000", "0255", "", "a", " 1", "1 ", "+1",
        ];
        let mut text = Vec::new();
        for a in parts {
            for b in parts {
                for c in ["0", "01", "255", "256", ""] {
                    for d in parts {
                        for tail in ["", ".", ".1", "\0", "x"] {
                            text.clear();
                            text.extend_from_slice(format!("{a}.{b}.{c}.{d}{tail}").as_bytes());
                            let expected = if text.contains(&0) {
                                None
                            } else {
                                libc_pton4(&text)
                            };
                            assert_eq!(parse_inet_pton4(&text), expected, "{text:?}");
                        }
                    }
                }
            }
        }
        for s in [
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "",
            "1.2.3.4444",
            "255.255.255.2555",
        ] {
            assert_eq!(
                parse_inet_pton4(s.as_bytes()),
                libc_pton4(s.as_bytes()),
                "{s}"
            );
        }
    }

    #[test]
    fn ipv4_text_every_octet() {
        for v in 0..=255u8 {
            for a in [[v, 0, 255, v], [9, v, 10, 100], [v; 4]] {
                let (text, len) = ipv4_text(&a);
                let expected = format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3]);
                assert_eq!(&text[..len], expected.as_bytes());
            }
        }
    }

    fn ntop6(s: &str) -> String {
        let a = parse_inet_pton6(s.as_bytes()).expect("valid");
        let mut out = String::new();
        format_ipv6(&a, &mut out);
        out
    }

    #[test]
    fn ntop6_glibc_forms() {
        assert_eq!(ntop6("::"), "::");
        assert_eq!(ntop6("::1"), "::1");
        assert_eq!(ntop6("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
        assert_eq!(ntop6("::1.2.3.4"), "::1.2.3.4");
        assert_eq!(ntop6("1:0:0:1:0:0:0:1"), "1:0:0:1::1");
        assert_eq!(ntop6("1:0:0:2:0:0:3:4"), "1::2:0:0:3:4");
        assert_eq!(ntop6("1:2:3:4:5:6:7:0"), "1:2:3:4:5:6:7:0");
        assert_eq!(ntop6("fe80::"), "fe80::");
        assert_eq!(ntop6("::ffff:0:0"), "::ffff:0.0.0.0");
    }
}
