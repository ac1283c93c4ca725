//! Conversions between Python objects and the core: reading the constructors' arguments the
//! way `ipaddress.py` reads them (int, bytes, str, tuple, else `str(obj)`), classifying
//! ferrosock objects, building the stdlib's exceptions with its messages, and CPython's
//! hash functions (so hashes equal the stdlib's).

use std::borrow::Cow;
use std::sync::OnceLock;

use pyo3::exceptions::{PyAttributeError, PyIndexError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyInt, PyString, PyTuple};
use pyo3::PyTypeInfo;

use super::core::{self, AddrStrError, Repr, V4_BITS, V6_BITS};
use super::rules::{v6props, Rules};
use super::types::{
    IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface, IPv6Network,
};
use crate::errors::type_name;

pyo3::import_exception!(ipaddress, AddressValueError);
pyo3::import_exception!(ipaddress, NetmaskValueError);

// ---------------------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------------------

/// The UTF-8 bytes of a `str`; a string with lone surrogates (which UTF-8 cannot carry) is
/// encoded with `surrogatepass`, so its bytes are non-ASCII and refused like any other
/// non-ASCII character, and its pieces decode back to the original characters.
pub fn str_bytes<'a>(s: &'a Bound<'_, PyString>) -> PyResult<Cow<'a, [u8]>> {
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live str; PyUnicode_AsUTF8AndSize returns a pointer to its cached
    // UTF-8 form (owned by the str, valid while the borrow `'a` of it lasts) or NULL with an
    // exception set.
    let ptr = unsafe { ffi::PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size) };
    if ptr.is_null() {
        drop(PyErr::fetch(s.py()));
        let b = s.call_method1("encode", ("utf-8", "surrogatepass"))?;
        let b = b.cast_into::<PyBytes>().map_err(PyErr::from)?;
        return Ok(Cow::Owned(b.as_bytes().to_vec()));
    }
    // SAFETY: on success `ptr` points to `size` initialised bytes owned by the str.
    Ok(Cow::Borrowed(unsafe {
        std::slice::from_raw_parts(ptr.cast::<u8>(), size as usize)
    }))
}

/// A piece of user input back as a Python `str` (inverse of [`str_bytes`]).
pub fn decode<'py>(py: Python<'py>, b: &[u8]) -> PyResult<Bound<'py, PyString>> {
    if let Ok(s) = std::str::from_utf8(b) {
        return Ok(PyString::new(py, s));
    }
    PyBytes::new(py, b)
        .call_method1("decode", ("utf-8", "surrogatepass"))?
        .cast_into::<PyString>()
        .map_err(PyErr::from)
}

/// `%r` of a piece of user input.
pub fn repr_bytes(py: Python<'_>, b: &[u8]) -> String {
    if let Some(r) = core::ascii_repr(b) {
        return r;
    }
    decode(py, b)
        .and_then(|s| s.repr())
        .map(|r| r.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `%r` of any object.
pub fn repr_obj(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = obj.cast::<PyString>() {
        if let Ok(b) = str_bytes(s) {
            return Ok(repr_bytes(obj.py(), &b));
        }
    }
    Ok(obj.repr()?.to_string_lossy().into_owned())
}

/// `%s` of any object, as Rust text for messages: ferrosock's own objects natively, the
/// rest through `str()` (a lone surrogate in a scope id shows as U+FFFD here).
pub fn display(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Some(ip) = classify(obj) {
        if ip.exact {
            return Ok(ip.text(obj.py()));
        }
    }
    Ok(obj.str()?.to_string_lossy().into_owned())
}

/// `str(obj)` as a Python string (exact for any scope id).
pub fn display_py<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
    if let Some(ip) = classify(obj) {
        if ip.exact {
            return ip.text_py(obj.py());
        }
    }
    obj.str()
}

/// `head + scope + tail` as a Python string (the scope id may hold any code point).
pub fn with_scope<'py>(
    py: Python<'py>,
    head: &str,
    scope: &Py<PyString>,
    tail: &str,
) -> PyResult<Bound<'py, PyString>> {
    let s = PyString::new(py, head).add(scope.bind(py))?;
    let s = if tail.is_empty() { s } else { s.add(tail)? };
    s.cast_into::<PyString>().map_err(PyErr::from)
}

struct PyRepr<'py>(Python<'py>);

impl Repr for PyRepr<'_> {
    fn repr(&mut self, s: &[u8]) -> String {
        repr_bytes(self.0, s)
    }
}

/// A new `str` from ASCII text the core formatted.
pub fn ascii_str<'py>(py: Python<'py>, b: &[u8]) -> Bound<'py, PyString> {
    // The core only formats ASCII; from_utf8 cannot fail on it.
    PyString::new(py, std::str::from_utf8(b).unwrap_or_default())
}

// ---------------------------------------------------------------------------------------
// Hashes (CPython 3.11, 64-bit)
// ---------------------------------------------------------------------------------------

const HASH_MODULUS: u128 = (1 << 61) - 1;

/// `hash(n)` for a non-negative int: `n mod (2**61 - 1)`, reduced by folding 61-bit
/// chunks (the modulus is a Mersenne prime), which avoids a 128-bit division.
pub fn hash_int(v: u128) -> isize {
    let mut x = v;
    while x > HASH_MODULUS {
        x = (x & HASH_MODULUS) + (x >> 61);
    }
    if x == HASH_MODULUS {
        x = 0;
    }
    x as isize
}

/// `hash(t)` for a tuple whose items hash to `lanes` (`tuplehash`, xxHash-based).
pub fn hash_tuple(lanes: &[isize]) -> isize {
    const P1: u64 = 11_400_714_785_074_694_791;
    const P2: u64 = 14_029_467_366_897_019_727;
    const P5: u64 = 2_870_177_450_012_600_261;
    let mut acc: u64 = P5;
    for &lane in lanes {
        acc = acc.wrapping_add((lane as u64).wrapping_mul(P2));
        acc = acc.rotate_left(31);
        acc = acc.wrapping_mul(P1);
    }
    acc = acc.wrapping_add((lanes.len() as u64) ^ (P5 ^ 3_527_539));
    if acc == u64::MAX {
        return 1_546_275_796;
    }
    acc as isize
}

/// `hash(s)` for an ASCII `str` with these bytes (CPython hashes a 1-byte-kind string's
/// buffer with `_Py_HashBytes`).
pub fn hash_ascii(b: &[u8]) -> isize {
    // SAFETY: `b` is a valid slice for the duration of the call; the function only reads it.
    unsafe { ffi::compat::Py_HashBuffer(b.as_ptr().cast(), b.len() as ffi::Py_ssize_t) }
}

/// `hash(None)`: pointer-based in 3.11, constant for the process.
pub fn hash_none(py: Python<'_>) -> isize {
    static H: OnceLock<isize> = OnceLock::new();
    *H.get_or_init(|| py.None().bind(py).hash().unwrap_or(0))
}

/// `hash(hex(ip))`, `IPv4Address.__hash__`.
pub fn hash_hex(ip: u128) -> isize {
    let mut buf = [0u8; 34];
    buf[0] = b'0';
    buf[1] = b'x';
    let digits = if ip == 0 {
        1
    } else {
        (128 - ip.leading_zeros() as usize).div_ceil(4)
    };
    for i in 0..digits {
        let nib = ((ip >> (4 * (digits - 1 - i))) & 0xf) as usize;
        buf[2 + i] = b"0123456789abcdef"[nib];
    }
    hash_ascii(&buf[..2 + digits])
}

// ---------------------------------------------------------------------------------------
// Classification of ferrosock objects
// ---------------------------------------------------------------------------------------

/// What a ferrosock object is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Addr,
    Iface,
    Net,
}

/// A ferrosock address, interface or network seen as data.
#[derive(Clone, Copy)]
pub struct Ip<'a> {
    pub kind: Kind,
    pub v6: bool,
    /// The address (addresses, interfaces) or the network address (networks).
    pub ip: u128,
    /// The prefix length (interfaces, networks); the width for addresses.
    pub prefix: u8,
    /// The scope id of the address (addresses, interfaces) or of the network address.
    pub scope: Option<&'a Py<PyString>>,
    /// The object's class is one of ferrosock's own (not a Python subclass).
    pub exact: bool,
}

impl<'a> Ip<'a> {
    pub fn bits(&self) -> u8 {
        if self.v6 {
            V6_BITS
        } else {
            V4_BITS
        }
    }

    pub fn version(&self) -> u8 {
        if self.v6 {
            6
        } else {
            4
        }
    }

    /// The network of a network or interface: `(network address, prefix)` and its scope
    /// (an interface's network keeps the scope only when the address has no host bits,
    /// as `IPv6Network((addr, mask), strict=False)` does).
    pub fn network(&self) -> (core::Net, Option<&'a Py<PyString>>) {
        let bits = self.bits();
        match self.kind {
            Kind::Net => ((self.ip, self.prefix), self.scope),
            Kind::Iface | Kind::Addr => {
                let prefix = if self.kind == Kind::Addr {
                    bits
                } else {
                    self.prefix
                };
                let net = self.ip & core::netmask(prefix, bits);
                let scope = if net == self.ip { self.scope } else { None };
                ((net, prefix), scope)
            }
        }
    }

    /// `str(obj)` as the stdlib class prints it, as a Python string.
    pub fn text_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyString>> {
        let Some(scope) = self.scope else {
            return Ok(PyString::new(py, &self.text(py)));
        };
        let mut head = addr_text(self.v6, self.ip);
        head.push('%');
        let tail = if self.kind == Kind::Addr {
            String::new()
        } else {
            format!("/{}", self.prefix)
        };
        with_scope(py, &head, scope, &tail)
    }

    /// `str(obj)` as the stdlib class prints it.
    pub fn text(&self, py: Python<'_>) -> String {
        let mut s = addr_text(self.v6, self.ip);
        if let Some(scope) = self.scope {
            s.push('%');
            s.push_str(&scope.bind(py).to_string_lossy());
        }
        if self.kind != Kind::Addr {
            s.push('/');
            s.push_str(&self.prefix.to_string());
        }
        s
    }
}

/// The address text without scope: `str()` of the address (IPv4-mapped addresses dotted
/// under [`Rules::mapped_dotted`]).
pub fn addr_text(v6: bool, ip: u128) -> String {
    if v6 {
        if let Some(v4) = v6props::ipv4_mapped(ip) {
            if Rules::current().mapped_dotted {
                let mut b = [0u8; core::V6_MAX_LEN];
                let n = core::format_v6_mapped(v4, &mut b);
                return String::from_utf8_lossy(&b[..n]).into_owned();
            }
        }
    }
    hex_text(v6, ip)
}

/// `_string_from_ip_int`: the address text with every IPv6 address in hextets (what
/// `IPv6Interface.with_prefixlen` and friends print under every rule set).
pub fn hex_text(v6: bool, ip: u128) -> String {
    if v6 {
        let mut b = [0u8; core::V6_MAX_LEN];
        let n = core::format_v6(ip, &mut b);
        String::from_utf8_lossy(&b[..n]).into_owned()
    } else {
        let mut b = [0u8; core::V4_MAX_LEN];
        let n = core::format_v4(ip as u32, &mut b);
        String::from_utf8_lossy(&b[..n]).into_owned()
    }
}

/// Network text `addr[%scope]/prefix`.
pub fn net_text(py: Python<'_>, v6: bool, net: core::Net, scope: Option<&Py<PyString>>) -> String {
    Ip {
        kind: Kind::Net,
        v6,
        ip: net.0,
        prefix: net.1,
        scope,
        exact: true,
    }
    .text(py)
}

/// Sees `obj` as a ferrosock address, interface or network (`None` for anything else,
/// stdlib `ipaddress` objects included).
pub fn classify<'a>(obj: &'a Bound<'_, PyAny>) -> Option<Ip<'a>> {
    let py = obj.py();
    let ty = obj.get_type_ptr();
    if ty == IPv4Address::type_object_raw(py) {
        return Some(a4(obj.cast::<IPv4Address>().ok()?, true));
    }
    if ty == IPv4Network::type_object_raw(py) {
        return Some(n4(obj.cast::<IPv4Network>().ok()?, true));
    }
    if ty == IPv6Address::type_object_raw(py) {
        return Some(a6(obj.cast::<IPv6Address>().ok()?, true));
    }
    if ty == IPv6Network::type_object_raw(py) {
        return Some(n6(obj.cast::<IPv6Network>().ok()?, true));
    }
    if ty == IPv4Interface::type_object_raw(py) {
        return Some(i4(obj.cast::<IPv4Interface>().ok()?, true));
    }
    if ty == IPv6Interface::type_object_raw(py) {
        return Some(i6(obj.cast::<IPv6Interface>().ok()?, true));
    }
    // Python subclasses of ferrosock's classes.
    if let Ok(o) = obj.cast::<IPv4Interface>() {
        return Some(i4(o, false));
    }
    if let Ok(o) = obj.cast::<IPv6Interface>() {
        return Some(i6(o, false));
    }
    if let Ok(o) = obj.cast::<IPv4Address>() {
        return Some(a4(o, false));
    }
    if let Ok(o) = obj.cast::<IPv6Address>() {
        return Some(a6(o, false));
    }
    if let Ok(o) = obj.cast::<IPv4Network>() {
        return Some(n4(o, false));
    }
    if let Ok(o) = obj.cast::<IPv6Network>() {
        return Some(n6(o, false));
    }
    None
}

fn a4<'a>(o: &'a Bound<'_, IPv4Address>, exact: bool) -> Ip<'a> {
    Ip {
        kind: Kind::Addr,
        v6: false,
        ip: u128::from(o.get().ip),
        prefix: V4_BITS,
        scope: None,
        exact,
    }
}

fn a6<'a>(o: &'a Bound<'_, IPv6Address>, exact: bool) -> Ip<'a> {
    let a = o.get();
    Ip {
        kind: Kind::Addr,
        v6: true,
        ip: a.ip,
        prefix: V6_BITS,
        scope: a.scope.as_ref(),
        exact,
    }
}

fn i4<'a>(o: &'a Bound<'_, IPv4Interface>, exact: bool) -> Ip<'a> {
    Ip {
        kind: Kind::Iface,
        v6: false,
        ip: u128::from(o.as_super().get().ip),
        prefix: o.get().prefix,
        scope: None,
        exact,
    }
}

fn i6<'a>(o: &'a Bound<'_, IPv6Interface>, exact: bool) -> Ip<'a> {
    let a = o.as_super().get();
    Ip {
        kind: Kind::Iface,
        v6: true,
        ip: a.ip,
        prefix: o.get().prefix,
        scope: a.scope.as_ref(),
        exact,
    }
}

fn n4<'a>(o: &'a Bound<'_, IPv4Network>, exact: bool) -> Ip<'a> {
    let n = o.get();
    Ip {
        kind: Kind::Net,
        v6: false,
        ip: u128::from(n.net),
        prefix: n.prefix,
        scope: None,
        exact,
    }
}

fn n6<'a>(o: &'a Bound<'_, IPv6Network>, exact: bool) -> Ip<'a> {
    let n = o.get();
    Ip {
        kind: Kind::Net,
        v6: true,
        ip: n.net,
        prefix: n.prefix,
        scope: n.scope.as_ref(),
        exact,
    }
}

/// Two optional scope ids are the same string.
pub fn scope_eq(py: Python<'_>, a: Option<&Py<PyString>>, b: Option<&Py<PyString>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => x.is(y) || x.bind(py).as_any().eq(y.bind(py)).unwrap_or(false),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

fn stdlib_ipaddress(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static MODULE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    MODULE
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("ipaddress")?.into_any().unbind())
        })
        .map(|m| m.bind(py))
}

/// The stdlib `ipaddress` module (for `to_stdlib`).
pub fn stdlib(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    stdlib_ipaddress(py)
}

/// What the stdlib raises when it reaches for `obj.<attr>` on an object that is not one of
/// its own: `AttributeError`. A stdlib `ipaddress` object gets a `TypeError` saying the two
/// libraries' objects do not mix (the stdlib's own message would name an attribute that
/// object does have).
pub fn foreign_attr_error(obj: &Bound<'_, PyAny>, attr: &str) -> PyErr {
    let py = obj.py();
    let is_stdlib = stdlib_ipaddress(py)
        .and_then(|m| m.getattr("_IPAddressBase"))
        .and_then(|base| obj.is_instance(&base))
        .unwrap_or(false);
    if is_stdlib {
        return PyTypeError::new_err(format!(
            "ferrosock.ipaddress objects do not mix with the stdlib's ipaddress.{}; \
             convert it with ferrosock.ipaddress.from_stdlib()",
            type_name(obj)
        ));
    }
    PyAttributeError::new_err(format!(
        "'{}' object has no attribute '{attr}'",
        short_type_name(obj)
    ))
}

/// `type(obj).__name__` cut at 50 characters, as `'%.50s' object has no attribute`.
fn short_type_name(obj: &Bound<'_, PyAny>) -> String {
    type_name(obj).chars().take(50).collect()
}

/// `AttributeError` for one of ferrosock's own objects lacking a stdlib attribute.
pub fn own_attr_error(obj: &Bound<'_, PyAny>, attr: &str) -> PyErr {
    PyAttributeError::new_err(format!(
        "'{}' object has no attribute '{attr}'",
        short_type_name(obj)
    ))
}

/// The stdlib's `ipaddress.AddressValueError`.
pub fn address_error(msg: String) -> PyErr {
    AddressValueError::new_err(msg)
}

/// The stdlib's `ipaddress.NetmaskValueError`.
pub fn netmask_error(msg: String) -> PyErr {
    NetmaskValueError::new_err(msg)
}

/// `_BaseNetwork.__getitem__`'s `IndexError`.
pub fn index_error() -> PyErr {
    PyIndexError::new_err("address out of range")
}

fn addr_str_error(
    py: Python<'_>,
    err: &AddrStrError<'_>,
    whole: &[u8],
    original: &Bound<'_, PyAny>,
) -> PyErr {
    let mut r = PyRepr(py);
    let msg = match err {
        AddrStrError::Slash => format!(
            "Unexpected '/' in {}",
            repr_obj(original).unwrap_or_default()
        ),
        AddrStrError::Scope => format!("Invalid IPv6 address: \"{}\"", repr_bytes(py, whole)),
        AddrStrError::V4(e) => e.message(whole, &mut r),
        AddrStrError::V6(e, parsed) => e.message(parsed, &mut r),
    };
    address_error(msg)
}

// ---------------------------------------------------------------------------------------
// Reading constructor arguments
// ---------------------------------------------------------------------------------------

/// A parsed address: value and (IPv6) scope id.
pub type Parsed = (u128, Option<Py<PyString>>);

/// The result of an attempt the stdlib would abandon with `AddressValueError` or
/// `NetmaskValueError`: `Ok(None)` when the caller asked not to build the exception
/// (`ip_address` and friends swallow it), `Err` for that exception when it asked, and for
/// every other exception (which the stdlib lets through).
pub type Attempt<T> = PyResult<Option<T>>;

fn soft<T>(want: bool, err: impl FnOnce() -> PyErr) -> Attempt<T> {
    if want {
        Err(err())
    } else {
        Ok(None)
    }
}

/// `int(obj)` printed with `%d`.
fn int_text(obj: &Bound<'_, PyAny>) -> String {
    PyInt::type_object(obj.py())
        .call1((obj,))
        .and_then(|i| i.str().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

/// `_check_int_address` for an `int` argument.
fn addr_from_int(obj: &Bound<'_, PyAny>, v6: bool, want: bool) -> Attempt<u128> {
    let bits = if v6 { V6_BITS } else { V4_BITS };
    if let Ok(v) = obj.extract::<u64>() {
        if u128::from(v) <= core::all_ones(bits) {
            return Ok(Some(u128::from(v)));
        }
    } else if v6 {
        if let Ok(v) = obj.extract::<u128>() {
            return Ok(Some(v));
        }
    }
    let version = if v6 { 6 } else { 4 };
    soft(want, || {
        let negative = obj.lt(0).unwrap_or(false);
        let n = int_text(obj);
        if negative {
            address_error(format!(
                "{n} (< 0) is not permitted as an IPv{version} address"
            ))
        } else {
            address_error(format!(
                "{n} (>= 2**{bits}) is not permitted as an IPv{version} address"
            ))
        }
    })
}

/// `_check_packed_address` for a `bytes` argument.
fn addr_from_bytes(b: &Bound<'_, PyBytes>, v6: bool, want: bool) -> Attempt<u128> {
    let data = b.as_bytes();
    let expected = if v6 { 16 } else { 4 };
    if data.len() != expected {
        return soft(want, || {
            address_error(format!(
                "{} (len {} != {expected}) is not permitted as an IPv{} address",
                repr_obj(b.as_any()).unwrap_or_default(),
                data.len(),
                if v6 { 6 } else { 4 }
            ))
        });
    }
    Ok(Some(
        data.iter()
            .fold(0u128, |acc, &x| (acc << 8) | u128::from(x)),
    ))
}

/// `str(obj)` for the constructors' string path (the object itself when it is a `str`).
fn as_str<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
    if obj.is_exact_instance_of::<PyString>() {
        // SAFETY: just checked that `obj` is exactly a str.
        return Ok(unsafe { obj.cast_unchecked::<PyString>() }.clone());
    }
    obj.str()
}

/// Parses the string form of an address (`s` is `str(original)`).
pub fn addr_from_text(
    py: Python<'_>,
    bytes: &[u8],
    original: &Bound<'_, PyAny>,
    v6: bool,
    want: bool,
) -> Attempt<Parsed> {
    let r = if v6 {
        core::addr6_from_str(bytes)
    } else {
        core::addr4_from_str(bytes).map(|ip| (u128::from(ip), None))
    };
    match r {
        Ok((ip, None)) => Ok(Some((ip, None))),
        Ok((ip, Some(scope))) => Ok(Some((ip, Some(decode(py, scope)?.unbind())))),
        Err(e) => soft(want, || addr_str_error(py, &e, bytes, original)),
    }
}

/// `IPv4Address(obj)` / `IPv6Address(obj)`: int, bytes, else `str(obj)`.
pub fn addr_from_obj(obj: &Bound<'_, PyAny>, v6: bool, want: bool) -> Attempt<Parsed> {
    let py = obj.py();
    if obj.is_instance_of::<PyInt>() {
        return Ok(addr_from_int(obj, v6, want)?.map(|ip| (ip, None)));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(addr_from_bytes(b, v6, want)?.map(|ip| (ip, None)));
    }
    let s = as_str(obj)?;
    let bytes = str_bytes(&s)?;
    addr_from_text(py, &bytes, obj, v6, want)
}

/// `_make_netmask(arg)` for a mask given as an object (tuple form).
fn prefix_from_obj(obj: &Bound<'_, PyAny>, v6: bool, want: bool) -> Attempt<u8> {
    let bits = if v6 { V6_BITS } else { V4_BITS };
    if obj.is_instance_of::<PyInt>() {
        if let Ok(p) = obj.extract::<i64>() {
            if (0..=i64::from(bits)).contains(&p) {
                return Ok(Some(p as u8));
            }
        }
        return soft(want, || {
            netmask_error(format!(
                "{} is not a valid netmask",
                repr_obj(obj).unwrap_or_default()
            ))
        });
    }
    if let Ok(s) = obj.cast::<PyString>() {
        let b = str_bytes(s)?;
        return prefix_from_text(obj.py(), &b, v6, want);
    }
    // Anything else goes through the stdlib's duck-typed steps: `arg not in
    // cls._netmask_cache` hashes it; then `arg.isascii() and arg.isdigit()` and `int(arg)`
    // (bytes pass), else (IPv4) `arg.split('.')` as an address.
    obj.hash()?;
    let py = obj.py();
    let invalid = |want: bool| -> Attempt<u8> {
        soft(want, || {
            netmask_error(format!(
                "{} is not a valid netmask",
                repr_obj(obj).unwrap_or_default()
            ))
        })
    };
    let isascii = obj
        .getattr("isascii")
        .map_err(|_| foreign_attr_error(obj, "isascii"))?;
    if isascii.call0()?.is_truthy()? && obj.call_method0("isdigit")?.is_truthy()? {
        let Ok(p) = PyInt::type_object(py).call1((obj,)) else {
            return invalid(want);
        };
        return match p.extract::<i64>() {
            Ok(p) if (0..=i64::from(bits)).contains(&p) => Ok(Some(p as u8)),
            _ => invalid(want),
        };
    }
    if v6 || !obj.is_truthy()? {
        return invalid(want);
    }
    // `_ip_int_from_string(arg)` starts with `arg.split('.')` (a TypeError for bytes); an
    // object that splits like a str is not a mask ferrosock reads.
    obj.call_method1("split", (".",))?;
    invalid(want)
}

/// `_make_netmask(arg)` for a mask string.
pub fn prefix_from_text(py: Python<'_>, b: &[u8], v6: bool, want: bool) -> Attempt<u8> {
    let p = if v6 {
        core::prefix_from_mask_str_v6(b)
    } else {
        core::prefix_from_mask_str_v4(b)
    };
    match p {
        Some(p) => Ok(Some(p)),
        None => soft(want, || {
            netmask_error(format!("{} is not a valid netmask", repr_bytes(py, b)))
        }),
    }
}

/// A network or interface as the constructors read it: address, prefix, and the network
/// (masked when `strict` is false; host bits are an error when it is true).
pub struct NetParts {
    pub ip: u128,
    pub scope: Option<Py<PyString>>,
    pub prefix: u8,
}

/// `IPv4Network(obj, strict)` / `IPv6Network(...)` / the interfaces (with `strict=False`):
/// `_split_addr_prefix`, the address, `_make_netmask`, the host-bits check. Returns the
/// address as given (interfaces keep it); the caller masks it for networks.
pub fn net_from_obj(
    obj: &Bound<'_, PyAny>,
    v6: bool,
    strict: bool,
    want: bool,
) -> Attempt<NetParts> {
    let py = obj.py();
    let bits = if v6 { V6_BITS } else { V4_BITS };
    let parsed = if obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyBytes>() {
        addr_from_obj(obj, v6, want)?.map(|a| (a, bits))
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        match t.len() {
            0 => return Err(PyIndexError::new_err("tuple index out of range")),
            1 => addr_from_obj(&t.get_item(0)?, v6, want)?.map(|a| (a, bits)),
            2 => {
                let Some(a) = addr_from_obj(&t.get_item(0)?, v6, want)? else {
                    return Ok(None);
                };
                prefix_from_obj(&t.get_item(1)?, v6, want)?.map(|p| (a, p))
            }
            _ => {
                return Err(PyValueError::new_err(
                    "too many values to unpack (expected 2)",
                ))
            }
        }
    } else {
        let s = as_str(obj)?;
        let bytes = str_bytes(&s)?;
        let mut pieces = bytes.splitn(3, |&c| c == b'/');
        let addr = pieces.next().unwrap_or_default();
        let mask = pieces.next();
        if pieces.next().is_some() {
            return soft(want, || {
                address_error(format!(
                    "Only one '/' permitted in {}",
                    repr_obj(obj).unwrap_or_default()
                ))
            });
        }
        // The address part is a str of its own in the stdlib: errors quote it alone.
        let Some(a) = addr_from_part(py, addr, v6, want)? else {
            return Ok(None);
        };
        match mask {
            None => Some((a, bits)),
            Some(m) => prefix_from_text(py, m, v6, want)?.map(|p| (a, p)),
        }
    };
    let Some(((ip, scope), prefix)) = parsed else {
        return Ok(None);
    };
    let mask = core::netmask(prefix, bits);
    if strict && ip & mask != ip {
        let mut text = addr_text(v6, ip);
        if let Some(sc) = &scope {
            text.push('%');
            text.push_str(&sc.bind(py).to_string_lossy());
        }
        return Err(PyValueError::new_err(format!(
            "{text}/{prefix} has host bits set"
        )));
    }
    Ok(Some(NetParts { ip, scope, prefix }))
}

/// The address part of a `'addr/mask'` string.
fn addr_from_part(py: Python<'_>, addr: &[u8], v6: bool, want: bool) -> Attempt<Parsed> {
    let r = if v6 {
        core::addr6_from_str(addr)
    } else {
        core::addr4_from_str(addr).map(|ip| (u128::from(ip), None))
    };
    match r {
        Ok((ip, None)) => Ok(Some((ip, None))),
        Ok((ip, Some(scope))) => Ok(Some((ip, Some(decode(py, scope)?.unbind())))),
        Err(e) => soft(want, || {
            let original = decode(py, addr).map(|s| s.into_any());
            match original {
                Ok(o) => addr_str_error(py, &e, addr, &o),
                Err(err) => err,
            }
        }),
    }
}

/// `True` unless the object is falsy (the `strict` argument).
pub fn truthy(obj: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
    match obj {
        None => Ok(true),
        Some(o) => o.is_truthy(),
    }
}

/// The operation the stdlib first applies to a `subnets()`/`supernet()` argument, which
/// words the `TypeError` a non-int gets.
#[derive(Clone, Copy)]
pub enum ArgOp {
    Lt,
    Gt,
    Sub,
}

fn arg_type_error(o: &Bound<'_, PyAny>, op: ArgOp) -> PyErr {
    let t = type_name(o);
    PyTypeError::new_err(match op {
        ArgOp::Lt => format!("'<' not supported between instances of '{t}' and 'int'"),
        ArgOp::Gt => format!("'>' not supported between instances of '{t}' and 'int'"),
        ArgOp::Sub => format!("unsupported operand type(s) for -: 'int' and '{t}'"),
    })
}

/// An argument that may be passed as `None` and must be told apart from "not passed"
/// (`prefixlen_diff`, whose default is 1).
pub struct Given<'py>(pub Option<Bound<'py, PyAny>>);

impl<'a, 'py> FromPyObject<'a, 'py> for Given<'py> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(Given(Some(obj.to_owned())))
    }
}

/// `new_prefix`: `None` when absent or `None`; a non-int is the `TypeError` of the stdlib's
/// first comparison with it.
pub fn new_prefix_arg(obj: Option<&Bound<'_, PyAny>>, op: ArgOp) -> PyResult<Option<i128>> {
    match obj {
        Some(o) if !o.is_none() => {
            if !o.is_instance_of::<PyInt>() {
                return Err(arg_type_error(o, op));
            }
            Ok(Some(o.extract::<i128>()?))
        }
        _ => Ok(None),
    }
}

/// `prefixlen_diff`: 1 when absent; `None` for a non-int, which is an error (`op` words
/// it) unless `new_prefix` is set, where the stdlib only asks whether it is 1.
pub fn diff_arg(
    obj: Option<&Bound<'_, PyAny>>,
    new_prefix_set: bool,
    op: ArgOp,
) -> PyResult<Option<i128>> {
    match obj {
        None => Ok(Some(1)),
        Some(o) if o.is_instance_of::<PyInt>() => Ok(Some(o.extract::<i128>()?)),
        Some(_) if new_prefix_set => Ok(None),
        Some(o) => Err(arg_type_error(o, op)),
    }
}

/// The `ValueError` of `ip_address`/`ip_network`/`ip_interface` for an input that is
/// neither version.
pub fn not_an_address(original: &Bound<'_, PyAny>, what: &str) -> PyErr {
    match repr_obj(original) {
        Ok(r) => PyValueError::new_err(format!("{r} does not appear to be an IPv4 or IPv6 {what}")),
        Err(e) => e,
    }
}

/// `ip_address(s)` for a `str`: `(is_v6, value, scope)`. A string with a `:` can only be
/// IPv6 and one without only IPv4, so one parse decides.
pub fn parse_address_str(
    s: &Bound<'_, PyString>,
    original: &Bound<'_, PyAny>,
) -> PyResult<(bool, u128, Option<Py<PyString>>)> {
    let py = s.py();
    let b = str_bytes(s)?;
    if let Some((v6, ip)) = core::parse_address_fast(&b) {
        return Ok((v6, ip, None));
    }
    if b.contains(&b':') {
        if let Ok((ip, scope)) = core::addr6_from_str(&b) {
            let scope = scope.map(|sc| decode(py, sc)).transpose()?;
            return Ok((true, ip, scope.map(Bound::unbind)));
        }
    } else if let Ok(ip) = core::addr4_from_str(&b) {
        return Ok((false, u128::from(ip), None));
    }
    Err(not_an_address(original, "address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_hash_is_the_mersenne_residue() {
        for v in [
            0u128,
            1,
            HASH_MODULUS - 1,
            HASH_MODULUS,
            HASH_MODULUS + 1,
            2 * HASH_MODULUS,
            u128::from(u64::MAX),
            u128::MAX,
            u128::MAX - 1,
            0x2001_0db8_0000_0000_0000_0000_0000_0001,
        ] {
            assert_eq!(hash_int(v), (v % HASH_MODULUS) as isize, "{v}");
        }
    }

    #[test]
    fn tuple_hash_matches_cpython() {
        // hash((1, 2)) and hash(()) on 64-bit CPython 3.11.
        assert_eq!(hash_tuple(&[1, 2]), -3550055125485641917);
        assert_eq!(hash_tuple(&[]), 5740354900026072187);
    }
}
