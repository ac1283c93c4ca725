//! Socket addresses between the kernel's `sockaddr_storage` and the Python shapes the stdlib
//! uses: `makesockaddr` (what `recvfrom`/`accept`/`getpeername` return) and `getsockaddrarg`
//! (what `sendto`/`bind`/`connect` accept) in CPython's `Modules/socketmodule.c`.
//!
//! - `AF_INET`: `(host: str, port: int)`
//! - `AF_INET6`: `(host: str, port: int, flowinfo: int, scope_id: int)`; as an argument the
//!   last two are optional
//! - `AF_UNIX`: a path `str` (decoded with the filesystem encoding, `surrogateescape`),
//!   `bytes` for Linux's abstract namespace (leading NUL), `''` for an unnamed socket, and
//!   `None` when the kernel reports no address at all (a datagram from an unbound sender)
//! - any other family is returned as CPython's fallback `(family, sa_data: bytes)`; as an
//!   argument only the three families above are supported (`OSError("<caller>(): bad family")`)

use std::ffi::CString;
use std::mem;

use pyo3::exceptions::{PyOSError, PyOverflowError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString, PyTuple};

use crate::addr::{format_ipv4, format_ipv6, parse_inet_pton4, parse_inet_pton6};
use crate::errors::{os_error_from_errno, type_name};

pyo3::import_exception!(socket, gaierror);

/// `offsetof(struct sockaddr_un, sun_path)`.
const SUN_PATH_OFFSET: usize = mem::size_of::<libc::sa_family_t>();
/// `sizeof(((struct sockaddr_un *)0)->sun_path)`: 108 on Linux.
const SUN_PATH_LEN: usize = mem::size_of::<libc::sockaddr_un>() - SUN_PATH_OFFSET;

/// A socket address as the kernel reads and writes it: storage big enough for any family,
/// plus the length in use.
#[derive(Clone)]
pub struct SockAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl Default for SockAddr {
    fn default() -> Self {
        Self::new()
    }
}

impl SockAddr {
    /// A zeroed address with the full storage available: the out-parameter of `recvfrom`,
    /// `accept` and friends (zeroed so an unnamed `AF_UNIX` peer reads as `''`).
    pub fn new() -> Self {
        // SAFETY: sockaddr_storage is plain old data; all-zero bytes are a valid value.
        let storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
        Self {
            storage,
            len: Self::capacity(),
        }
    }

    /// Bytes of storage: what to pass as `*addrlen` before a call that fills the address.
    pub const fn capacity() -> libc::socklen_t {
        mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t
    }

    // NOTE: kept for out-parameter callers (accept/recvfrom in the server branch).
    #[allow(dead_code)]
    /// A copy of `len` bytes of a kernel-filled address (`len` is clamped to the storage).
    pub fn from_raw(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Self {
        Self {
            storage: *storage,
            len: len.min(Self::capacity()),
        }
    }

    pub fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.storage as *const libc::sockaddr_storage).cast()
    }

    // NOTE: kept for out-parameter callers (accept/recvfrom in the server branch).
    #[allow(dead_code)]
    pub fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        (&mut self.storage as *mut libc::sockaddr_storage).cast()
    }

    // NOTE: kept for out-parameter callers (accept/recvfrom in the server branch).
    #[allow(dead_code)]
    pub fn storage(&self) -> &libc::sockaddr_storage {
        &self.storage
    }

    pub fn len(&self) -> libc::socklen_t {
        self.len
    }

    // NOTE: kept for out-parameter callers (accept/recvfrom in the server branch).
    #[allow(dead_code)]
    /// Sets the length the kernel reported (clamped to the storage).
    pub fn set_len(&mut self, len: libc::socklen_t) {
        self.len = len.min(Self::capacity());
    }

    // NOTE: kept for out-parameter callers (accept/recvfrom in the server branch).
    #[allow(dead_code)]
    pub fn family(&self) -> i32 {
        i32::from(self.storage.ss_family)
    }

    // NOTE: kept for out-parameter callers (accept/recvfrom in the server branch).
    #[allow(dead_code)]
    /// The bytes in use, for comparing two addresses.
    pub fn as_bytes(&self) -> &[u8] {
        raw_bytes(&self.storage, self.len)
    }

    /// The Python form of this address, as `recvfrom` returns it.
    pub fn to_python<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.storage, self.len)
    }

    fn sockaddr_in(ip: [u8; 4], port: u16) -> Self {
        let mut out = Self::new();
        // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in.
        let sin = unsafe {
            &mut *(&mut out.storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
        };
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_port = port.to_be();
        sin.sin_addr.s_addr = u32::from_ne_bytes(ip);
        out.len = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        out
    }

    fn sockaddr_in6(ip: [u8; 16], port: u16, flowinfo: u32, scope_id: u32) -> Self {
        let mut out = Self::new();
        // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in6.
        let sin6 = unsafe {
            &mut *(&mut out.storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
        };
        sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        sin6.sin6_port = port.to_be();
        sin6.sin6_flowinfo = flowinfo.to_be();
        sin6.sin6_addr.s6_addr = ip;
        sin6.sin6_scope_id = scope_id;
        out.len = mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        out
    }

    /// An `AF_UNIX` address from path bytes, with CPython's rules: an empty path or one that
    /// starts with NUL is a Linux abstract name taken as is (no terminator); any other path
    /// gets a terminating NUL. `None` when the path does not fit.
    fn sockaddr_un(path: &[u8]) -> Option<Self> {
        let abstract_name = path.first().is_none_or(|b| *b == 0);
        if path.len() > SUN_PATH_LEN || (!abstract_name && path.len() == SUN_PATH_LEN) {
            return None;
        }
        let mut out = Self::new();
        // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_un.
        let sun = unsafe {
            &mut *(&mut out.storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_un>()
        };
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (dst, src) in sun.sun_path.iter_mut().zip(path) {
            *dst = *src as libc::c_char;
        }
        let terminator = usize::from(!abstract_name);
        out.len = (SUN_PATH_OFFSET + path.len() + terminator) as libc::socklen_t;
        Some(out)
    }
}

/// The first `len` bytes of `storage` (clamped to its size).
pub fn raw_bytes(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> &[u8] {
    let len = (len as usize).min(mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: `storage` is a live sockaddr_storage of at least `len` bytes, all initialised
    // (it is plain old data).
    unsafe {
        std::slice::from_raw_parts((storage as *const libc::sockaddr_storage).cast::<u8>(), len)
    }
}

// ---------------------------------------------------------------------------------------
// Pure logic: the kernel's address as plain Rust values
// ---------------------------------------------------------------------------------------

/// A decoded address, before it becomes Python objects.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// `addrlen == 0`: no address (an unbound datagram sender).
    None,
    V4 {
        host: String,
        port: u16,
    },
    V6 {
        host: String,
        port: u16,
        flowinfo: u32,
        scope_id: u32,
    },
    /// A filesystem path (bytes before the first NUL), possibly empty (an unnamed socket).
    UnixPath(&'a [u8]),
    /// A Linux abstract name, leading NUL included.
    UnixAbstract(&'a [u8]),
    /// Another family: CPython returns `(family, sa_data)`.
    Other {
        family: i32,
        data: &'a [u8],
    },
}

/// Decodes `len` bytes of a kernel-filled address, as `makesockaddr` does.
pub fn decode(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Decoded<'_> {
    let bytes = raw_bytes(storage, len);
    if bytes.is_empty() {
        return Decoded::None;
    }
    match i32::from(storage.ss_family) {
        libc::AF_INET if bytes.len() >= mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            let sin =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let mut host = String::with_capacity(15);
            format_ipv4(&sin.sin_addr.s_addr.to_ne_bytes(), &mut host);
            Decoded::V4 {
                host,
                port: u16::from_be(sin.sin_port),
            }
        }
        libc::AF_INET6 if bytes.len() >= mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            let sin6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            let mut host = String::with_capacity(39);
            format_ipv6(&sin6.sin6_addr.s6_addr, &mut host);
            Decoded::V6 {
                host,
                port: u16::from_be(sin6.sin6_port),
                flowinfo: u32::from_be(sin6.sin6_flowinfo),
                scope_id: sin6.sin6_scope_id,
            }
        }
        libc::AF_UNIX => {
            let path = bytes.get(SUN_PATH_OFFSET..).unwrap_or_default();
            let path = &path[..path.len().min(SUN_PATH_LEN)];
            if path.first() == Some(&0) {
                Decoded::UnixAbstract(path)
            } else {
                let end = path.iter().position(|b| *b == 0).unwrap_or(path.len());
                Decoded::UnixPath(&path[..end])
            }
        }
        family => {
            // `sa_data`: the 14 bytes after the family, whatever the length in use.
            let all = raw_bytes(storage, SockAddr::capacity());
            Decoded::Other {
                family,
                data: &all[SUN_PATH_OFFSET..SUN_PATH_OFFSET + 14],
            }
        }
    }
}

/// Why a host string could not be turned into an address without asking the resolver.
#[derive(Debug, PartialEq, Eq)]
pub enum HostError {
    /// `'<broadcast>'` on an `AF_INET6` socket: `OSError("address family mismatched")`.
    FamilyMismatch,
    /// Not numeric: resolve it with `getaddrinfo`.
    NeedsLookup,
}

/// CPython's `setipaddr` up to (not including) the resolver: `''` is the wildcard,
/// `'<broadcast>'`/`'255.255.255.255'` the IPv4 broadcast address, then a numeric address
/// of the socket's family (`inet_pton`, never for an IPv6 name with a `%scope`).
pub fn numeric_host(name: &[u8], family: i32) -> Result<IpBytes, HostError> {
    if name.is_empty() {
        return Ok(if family == libc::AF_INET6 {
            IpBytes::V6([0; 16])
        } else {
            IpBytes::V4([0; 4])
        });
    }
    if name == b"255.255.255.255" || name == b"<broadcast>" {
        if family != libc::AF_INET {
            return Err(HostError::FamilyMismatch);
        }
        return Ok(IpBytes::V4([255; 4]));
    }
    if family == libc::AF_INET {
        if let Some(ip) = parse_inet_pton4(name) {
            return Ok(IpBytes::V4(ip));
        }
    }
    if family == libc::AF_INET6 && !name.contains(&b'%') {
        if let Some(ip) = parse_inet_pton6(name) {
            return Ok(IpBytes::V6(ip));
        }
    }
    Err(HostError::NeedsLookup)
}

/// An IP address in network byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpBytes {
    V4([u8; 4]),
    V6([u8; 16]),
}

// ---------------------------------------------------------------------------------------
// Python layer
// ---------------------------------------------------------------------------------------

/// `makesockaddr`: the Python form of `len` bytes of a kernel-filled address, exactly as
/// `recvfrom`, `accept` and `getpeername` return it.
pub fn to_python<'py>(
    py: Python<'py>,
    storage: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(match decode(storage, len) {
        Decoded::None => py.None().into_bound(py),
        Decoded::V4 { host, port } => (PyString::new(py, &host), port)
            .into_pyobject(py)?
            .into_any(),
        Decoded::V6 {
            host,
            port,
            flowinfo,
            scope_id,
        } => (PyString::new(py, &host), port, flowinfo, scope_id)
            .into_pyobject(py)?
            .into_any(),
        Decoded::UnixAbstract(name) => PyBytes::new(py, name).into_any(),
        Decoded::UnixPath(path) => decode_fs(py, path)?,
        Decoded::Other { family, data } => (family, PyBytes::new(py, data))
            .into_pyobject(py)?
            .into_any(),
    })
}

/// `PyUnicode_DecodeFSDefaultAndSize`: the filesystem encoding with `surrogateescape`.
fn decode_fs<'py>(py: Python<'py>, path: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: `path` is a valid slice for the duration of the call; the function copies it
    // and returns a new reference or NULL with an exception set.
    unsafe {
        let obj = ffi::PyUnicode_DecodeFSDefaultAndSize(
            path.as_ptr().cast(),
            path.len() as ffi::Py_ssize_t,
        );
        Bound::from_owned_ptr_or_err(py, obj)
    }
}

/// `getsockaddrarg`: the kernel form of `obj` for a socket of `family`, with the stdlib's
/// checks, order and messages (`caller` names the method in them, e.g. `"sendto"`).
/// Host names that are not numeric are resolved with `getaddrinfo(3)`, the GIL released, as
/// CPython's `setipaddr` does.
pub fn from_python(obj: &Bound<'_, PyAny>, family: i32, caller: &str) -> PyResult<SockAddr> {
    match family {
        libc::AF_INET | libc::AF_INET6 => inet_from_python(obj, family, caller),
        libc::AF_UNIX => unix_from_python(obj),
        _ => Err(PyOSError::new_err(format!("{caller}(): bad family"))),
    }
}

fn inet_from_python(obj: &Bound<'_, PyAny>, family: i32, caller: &str) -> PyResult<SockAddr> {
    let v6 = family == libc::AF_INET6;
    let fam = if v6 { "AF_INET6" } else { "AF_INET" };
    let tuple = obj.cast::<PyTuple>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{caller}(): {fam} address must be tuple, not {}",
            type_name(obj)
        ))
    })?;
    let arity_ok = if v6 {
        (2..=4).contains(&tuple.len())
    } else {
        tuple.len() == 2
    };
    if !arity_ok {
        return Err(PyTypeError::new_err(if v6 {
            "AF_INET6 address must be a tuple (host, port[, flowinfo[, scopeid]])"
        } else {
            "AF_INET address must be a pair (host, port)"
        }));
    }
    // PyArg_ParseTuple order: every item is converted before the host is resolved.
    let host = host_arg(&tuple.get_item(0)?)?;
    let port = port_arg(&tuple.get_item(1)?, caller)?;
    let mut flowinfo = 0u32;
    let mut scope_id = 0u32;
    if v6 {
        if tuple.len() > 2 {
            flowinfo = uint_mask_arg(&tuple.get_item(2)?)?;
        }
        if tuple.len() > 3 {
            scope_id = uint_mask_arg(&tuple.get_item(3)?)?;
        }
    }
    let ip = match numeric_host(&host, family) {
        Ok(ip) => ip,
        Err(HostError::FamilyMismatch) => {
            return Err(PyOSError::new_err("address family mismatched"));
        }
        Err(HostError::NeedsLookup) => resolve(obj.py(), &host, family)?,
    };
    let port = u16::try_from(port)
        .map_err(|_| PyOverflowError::new_err(format!("{caller}(): port must be 0-65535.")))?;
    if v6 && flowinfo > 0xfffff {
        return Err(PyOverflowError::new_err(format!(
            "{caller}(): flowinfo must be 0-1048575."
        )));
    }
    Ok(match ip {
        IpBytes::V4(ip) => SockAddr::sockaddr_in(ip, port),
        IpBytes::V6(ip) => SockAddr::sockaddr_in6(ip, port, flowinfo, scope_id),
    })
}

/// CPython's `idna_converter`: `str` (ASCII as is, otherwise IDNA-encoded), `bytes` or
/// `bytearray`, without NUL.
fn host_arg(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let bytes = if let Ok(s) = obj.cast::<PyString>() {
        match s.to_str() {
            Ok(text) if text.is_ascii() => text.as_bytes().to_vec(),
            _ => obj
                .call_method1("encode", ("idna",))
                .and_then(|b| Ok(b.cast_into::<PyBytes>()?.as_bytes().to_vec()))
                .map_err(|_| PyTypeError::new_err("encoding of hostname failed"))?,
        }
    } else if let Ok(b) = obj.cast::<PyBytes>() {
        b.as_bytes().to_vec()
    } else if let Ok(b) = obj.cast::<PyByteArray>() {
        b.to_vec()
    } else {
        return Err(PyTypeError::new_err(format!(
            "str, bytes or bytearray expected, not {}",
            type_name(obj)
        )));
    };
    if bytes.contains(&0) {
        return Err(PyTypeError::new_err(
            "host name must not contain null character",
        ));
    }
    Ok(bytes)
}

/// The `i` format (a C `int`, via `__index__`), with CPython's rewording of an overflow.
fn port_arg(obj: &Bound<'_, PyAny>, caller: &str) -> PyResult<i32> {
    let overflow = || PyOverflowError::new_err(format!("{caller}(): port must be 0-65535."));
    match obj.extract::<i64>() {
        Ok(v) => i32::try_from(v).map_err(|_| overflow()),
        Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => Err(overflow()),
        Err(e) => Err(e),
    }
}

/// The `I` format: any integer (via `__index__`) reduced modulo 2**32, no overflow check.
fn uint_mask_arg(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    // SAFETY: obj is a live object; the function returns (unsigned long)-1 with an exception
    // set on failure, which PyErr::take picks up.
    let v = unsafe { ffi::PyLong_AsUnsignedLongMask(obj.as_ptr()) };
    if v == libc::c_ulong::MAX {
        if let Some(err) = PyErr::take(obj.py()) {
            return Err(err);
        }
    }
    Ok(v as u32)
}

/// The resolver step of `setipaddr`: `getaddrinfo(name, NULL, {ai_family=family})`, first
/// result, GIL released; errors raise `socket.gaierror` (or `OSError` for `EAI_SYSTEM`).
fn resolve(py: Python<'_>, name: &[u8], family: i32) -> PyResult<IpBytes> {
    let cname = CString::new(name)
        .map_err(|_| PyTypeError::new_err("host name must not contain null character"))?;
    let result = py.detach(move || {
        // SAFETY: addrinfo is plain old data; zero is the documented "no hints" value.
        let mut hints: libc::addrinfo = unsafe { mem::zeroed() };
        hints.ai_family = family;
        let mut res: *mut libc::addrinfo = std::ptr::null_mut();
        // SAFETY: cname is a valid NUL-terminated string, hints and res are valid pointers.
        let rc = unsafe { libc::getaddrinfo(cname.as_ptr(), std::ptr::null(), &hints, &mut res) };
        if rc != 0 {
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            return Err((rc, errno));
        }
        // SAFETY: getaddrinfo succeeded, so `res` is a non-empty list we own until
        // freeaddrinfo; its ai_addr points to ai_addrlen bytes of the reported family.
        let ip = unsafe {
            let ai = &*res;
            let ip = match ai.ai_family {
                libc::AF_INET if ai.ai_addrlen as usize >= mem::size_of::<libc::sockaddr_in>() => {
                    let sin = &*ai.ai_addr.cast::<libc::sockaddr_in>();
                    Some(IpBytes::V4(sin.sin_addr.s_addr.to_ne_bytes()))
                }
                libc::AF_INET6
                    if ai.ai_addrlen as usize >= mem::size_of::<libc::sockaddr_in6>() =>
                {
                    let sin6 = &*ai.ai_addr.cast::<libc::sockaddr_in6>();
                    Some(IpBytes::V6(sin6.sin6_addr.s6_addr))
                }
                _ => None,
            };
            libc::freeaddrinfo(res);
            ip
        };
        Ok(ip)
    });
    match result {
        Ok(Some(ip)) => Ok(ip),
        Ok(None) => Err(PyOSError::new_err("unknown address family")),
        Err((libc::EAI_SYSTEM, errno)) => Err(os_error_from_errno(errno)),
        Err((rc, _)) => Err(gaierror::new_err((rc, gai_strerror(rc)))),
    }
}

/// `gai_strerror(3)`, as `socket.gaierror` carries it.
pub fn gai_strerror(rc: i32) -> String {
    // SAFETY: gai_strerror returns a pointer to a static NUL-terminated string.
    unsafe {
        let p = libc::gai_strerror(rc);
        if p.is_null() {
            return format!("Unknown error {rc}");
        }
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// `AF_UNIX`: a `str` (filesystem-encoded, `surrogateescape`) or any bytes-like object.
fn unix_from_python(obj: &Bound<'_, PyAny>) -> PyResult<SockAddr> {
    let path: Vec<u8> = if let Ok(s) = obj.cast::<PyString>() {
        // SAFETY: s is a live str; the function returns a new bytes reference or NULL with
        // an exception set.
        let encoded = unsafe {
            Bound::from_owned_ptr_or_err(obj.py(), ffi::PyUnicode_EncodeFSDefault(s.as_ptr()))?
        };
        encoded.cast_into::<PyBytes>()?.as_bytes().to_vec()
    } else {
        let view = crate::buffer::ByteView::readable(obj)?;
        view.as_slice().to_vec()
    };
    SockAddr::sockaddr_un(&path).ok_or_else(|| PyOSError::new_err("AF_UNIX path too long"))
}

/// `makesockaddr(getsockaddrarg(address))` for a socket of `family`: what the kernel would
/// see for `address`, read back the way `recvfrom` reports it. A test hook for the two
/// conversions (private: `ferrosock._native`).
#[pyfunction]
#[pyo3(signature = (family, address, caller = "sendto"))]
fn sockaddr_roundtrip<'py>(
    family: i32,
    address: &Bound<'py, PyAny>,
    caller: &str,
) -> PyResult<Bound<'py, PyAny>> {
    from_python(address, family, caller)?.to_python(address.py())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sockaddr_roundtrip, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_round_trip() {
        let a = SockAddr::sockaddr_in([127, 0, 0, 1], 8080);
        assert_eq!(a.family(), libc::AF_INET);
        assert_eq!(
            decode(a.storage(), a.len()),
            Decoded::V4 {
                host: "127.0.0.1".into(),
                port: 8080
            }
        );
    }

    #[test]
    fn v6_round_trip() {
        let mut ip = [0u8; 16];
        ip[15] = 1;
        let a = SockAddr::sockaddr_in6(ip, 53, 0xabcde, 7);
        assert_eq!(
            decode(a.storage(), a.len()),
            Decoded::V6 {
                host: "::1".into(),
                port: 53,
                flowinfo: 0xabcde,
                scope_id: 7
            }
        );
    }

    #[test]
    fn unix_shapes() {
        let a = SockAddr::sockaddr_un(b"/tmp/sock").unwrap();
        assert_eq!(a.len() as usize, SUN_PATH_OFFSET + 10);
        assert_eq!(
            decode(a.storage(), a.len()),
            Decoded::UnixPath(b"/tmp/sock")
        );
        let a = SockAddr::sockaddr_un(b"\0name").unwrap();
        assert_eq!(a.len() as usize, SUN_PATH_OFFSET + 5);
        assert_eq!(
            decode(a.storage(), a.len()),
            Decoded::UnixAbstract(b"\0name")
        );
        // Unnamed: the kernel reports only the family.
        let a = SockAddr::sockaddr_un(b"").unwrap();
        assert_eq!(a.len() as usize, SUN_PATH_OFFSET);
        assert_eq!(decode(a.storage(), a.len()), Decoded::UnixPath(b""));
        // No address at all.
        assert_eq!(decode(a.storage(), 0), Decoded::None);
        // Limits: 107 bytes + NUL fit, 108 do not; an abstract name may use all 108.
        assert!(SockAddr::sockaddr_un(&[b'a'; 107]).is_some());
        assert!(SockAddr::sockaddr_un(&[b'a'; 108]).is_none());
        let mut abs = [b'a'; 108];
        abs[0] = 0;
        assert!(SockAddr::sockaddr_un(&abs).is_some());
        let mut abs = [b'a'; 109];
        abs[0] = 0;
        assert!(SockAddr::sockaddr_un(&abs).is_none());
    }

    #[test]
    fn numeric_hosts() {
        use libc::{AF_INET, AF_INET6};
        assert_eq!(numeric_host(b"", AF_INET), Ok(IpBytes::V4([0; 4])));
        assert_eq!(numeric_host(b"", AF_INET6), Ok(IpBytes::V6([0; 16])));
        assert_eq!(
            numeric_host(b"<broadcast>", AF_INET),
            Ok(IpBytes::V4([255; 4]))
        );
        assert_eq!(
            numeric_host(b"<broadcast>", AF_INET6),
            Err(HostError::FamilyMismatch)
        );
        assert_eq!(
            numeric_host(b"10.1.2.3", AF_INET),
            Ok(IpBytes::V4([10, 1, 2, 3]))
        );
        assert_eq!(numeric_host(b"1.2.3", AF_INET), Err(HostError::NeedsLookup));
        assert_eq!(
            numeric_host(b"10.1.2.3", AF_INET6),
            Err(HostError::NeedsLookup)
        );
        assert!(matches!(numeric_host(b"::1", AF_INET6), Ok(IpBytes::V6(_))));
        assert_eq!(
            numeric_host(b"fe80::1%lo", AF_INET6),
            Err(HostError::NeedsLookup)
        );
        assert_eq!(
            numeric_host(b"localhost", AF_INET),
            Err(HostError::NeedsLookup)
        );
    }

    #[test]
    fn other_family_falls_back_to_sa_data() {
        let mut a = SockAddr::new();
        a.storage.ss_family = libc::AF_PACKET as libc::sa_family_t;
        a.set_len(20);
        match decode(a.storage(), a.len()) {
            Decoded::Other { family, data } => {
                assert_eq!(family, libc::AF_PACKET);
                assert_eq!(data.len(), 14);
            }
            other => panic!("{other:?}"),
        }
    }
}
