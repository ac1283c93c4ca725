//! The behaviour the six classes share, written once over [`Ip`]: the stdlib's `__eq__`
//! and `__lt__` of each class with `functools.total_ordering`'s derivations, its hashes,
//! `__format__`, integer arithmetic and the string-derived properties.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::types::{PyBool, PyInt, PyString, PyTuple};

use super::conv::{
    self, addr_text, classify, display, hash_hex, hash_int, hash_none, hash_tuple, repr_bytes,
    scope_eq, Ip, Kind,
};
use super::core::{self, Net};
use super::rules::{v6props, Rules};
use super::slots::{new_addr, new_iface};

/// The receiver seen as data (always one of ferrosock's classes).
pub fn view<'a>(slf: &'a Bound<'_, PyAny>) -> PyResult<Ip<'a>> {
    classify(slf).ok_or_else(|| PyTypeError::new_err("not a ferrosock.ipaddress object"))
}

fn addr_eq(py: Python<'_>, a: &Ip<'_>, b: &Ip<'_>) -> bool {
    a.ip == b.ip && a.v6 == b.v6 && (!a.v6 || scope_eq(py, a.scope, b.scope))
}

fn net_eq(
    py: Python<'_>,
    a: Net,
    sa: Option<&Py<PyString>>,
    b: Net,
    sb: Option<&Py<PyString>>,
) -> bool {
    a == b && scope_eq(py, sa, sb)
}

/// `_BaseNetwork.__lt__` between same-version networks.
fn net_lt(
    py: Python<'_>,
    a: Net,
    sa: Option<&Py<PyString>>,
    b: Net,
    sb: Option<&Py<PyString>>,
) -> bool {
    if a.0 != b.0 || !scope_eq(py, sa, sb) {
        a.0 < b.0
    } else {
        a.1 < b.1
    }
}

/// `type(a).__eq__(a, b)`; `None` is `NotImplemented`.
pub fn eq(py: Python<'_>, a: &Ip<'_>, b: Option<&Ip<'_>>) -> Option<bool> {
    let b = b?;
    match a.kind {
        Kind::Addr => (b.kind != Kind::Net).then(|| addr_eq(py, a, b)),
        Kind::Iface => {
            if b.kind == Kind::Net {
                return None;
            }
            if !addr_eq(py, a, b) || b.kind != Kind::Iface {
                return Some(false);
            }
            let (na, sa) = a.network();
            let (nb, sb) = b.network();
            Some(net_eq(py, na, sa, nb, sb))
        }
        Kind::Net => {
            if a.v6 != b.v6 {
                Some(false)
            } else if b.kind != Kind::Net {
                None
            } else {
                Some(net_eq(
                    py,
                    (a.ip, a.prefix),
                    a.scope,
                    (b.ip, b.prefix),
                    b.scope,
                ))
            }
        }
    }
}

fn version_error(slf: &Bound<'_, PyAny>, other: &Bound<'_, PyAny>) -> PyErr {
    match (display(slf), display(other)) {
        (Ok(a), Ok(b)) => PyTypeError::new_err(format!("{a} and {b} are not of the same version")),
        (Err(e), _) | (_, Err(e)) => e,
    }
}

/// `type(a).__lt__(a, b)`; `Ok(None)` is `NotImplemented`.
pub fn lt(
    slf: &Bound<'_, PyAny>,
    a: &Ip<'_>,
    other: &Bound<'_, PyAny>,
    b: Option<&Ip<'_>>,
) -> PyResult<Option<bool>> {
    let py = slf.py();
    let Some(b) = b else { return Ok(None) };
    match a.kind {
        Kind::Addr | Kind::Iface => {
            if b.kind == Kind::Net {
                return Ok(None);
            }
            if a.v6 != b.v6 {
                return Err(version_error(slf, other));
            }
            let address_less = a.ip < b.ip;
            if a.kind == Kind::Addr {
                return Ok(Some(address_less));
            }
            // An interface is never less than a bare address (AttributeError -> False).
            if b.kind != Kind::Iface {
                return Ok(Some(false));
            }
            let (na, sa) = a.network();
            let (nb, sb) = b.network();
            Ok(Some(
                net_lt(py, na, sa, nb, sb) || (net_eq(py, na, sa, nb, sb) && address_less),
            ))
        }
        Kind::Net => {
            if b.kind != Kind::Net {
                return Ok(None);
            }
            if a.v6 != b.v6 {
                return Err(version_error(slf, other));
            }
            Ok(Some(net_lt(
                py,
                (a.ip, a.prefix),
                a.scope,
                (b.ip, b.prefix),
                b.scope,
            )))
        }
    }
}

/// `self == other` / `self != other` as the operator evaluates them (reflection included),
/// short-cut when both have the same class.
fn full_eq(
    slf: &Bound<'_, PyAny>,
    a: &Ip<'_>,
    other: &Bound<'_, PyAny>,
    b: Option<&Ip<'_>>,
) -> PyResult<bool> {
    if slf.get_type().is(other.get_type()) {
        if let Some(v) = eq(slf.py(), a, b) {
            return Ok(v);
        }
    }
    slf.eq(other)
}

/// `__richcmp__` of every class: `__eq__`, `__lt__`, and the rest as
/// `functools.total_ordering` derives them from `__lt__` (`a > b` is
/// `not a < b and a != b`, `a <= b` is `a < b or a == b`, `a >= b` is `not a < b`).
pub fn richcmp(
    slf: &Bound<'_, PyAny>,
    other: &Bound<'_, PyAny>,
    op: CompareOp,
) -> PyResult<Py<PyAny>> {
    let py = slf.py();
    let a = view(slf)?;
    let b = classify(other);
    let res = match op {
        CompareOp::Eq => eq(py, &a, b.as_ref()),
        CompareOp::Ne => eq(py, &a, b.as_ref()).map(|v| !v),
        CompareOp::Lt => lt(slf, &a, other, b.as_ref())?,
        CompareOp::Ge => lt(slf, &a, other, b.as_ref())?.map(|v| !v),
        CompareOp::Gt => match lt(slf, &a, other, b.as_ref())? {
            None => None,
            Some(true) => Some(false),
            Some(false) => Some(!full_eq(slf, &a, other, b.as_ref())?),
        },
        CompareOp::Le => match lt(slf, &a, other, b.as_ref())? {
            None => None,
            Some(true) => Some(true),
            Some(false) => Some(full_eq(slf, &a, other, b.as_ref())?),
        },
    };
    Ok(match res {
        None => py.NotImplemented(),
        Some(v) => PyBool::new(py, v).to_owned().into_any().unbind(),
    })
}

/// `__hash__` of every class, equal to the stdlib's.
pub fn hash(py: Python<'_>, a: &Ip<'_>) -> PyResult<isize> {
    Ok(match a.kind {
        Kind::Addr if !a.v6 => hash_hex(a.ip),
        Kind::Addr => {
            let scope = match a.scope {
                Some(s) => s.bind(py).hash()?,
                None => hash_none(py),
            };
            hash_tuple(&[hash_int(a.ip), scope])
        }
        Kind::Iface => {
            let (net, _) = a.network();
            hash_tuple(&[
                hash_int(a.ip),
                hash_int(u128::from(a.prefix)),
                hash_int(net.0),
            ])
        }
        Kind::Net => hash_int(a.ip ^ core::netmask(a.prefix, a.bits())),
    })
}

/// `'%s(%r)' % (self.__class__.__name__, str(self))`.
pub fn repr(slf: &Bound<'_, PyAny>) -> PyResult<String> {
    let name = slf.get_type().name()?;
    let text = conv::display_py(slf)?;
    let quoted = match text.to_str() {
        Ok(t) => repr_bytes(slf.py(), t.as_bytes()),
        Err(_) => text.repr()?.to_string_lossy().into_owned(),
    };
    Ok(format!("{name}({quoted})"))
}

/// `__reduce__`: addresses rebuild from their int (IPv4) or text (IPv6); networks and
/// interfaces from their text.
pub fn reduce<'py>(slf: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
    let py = slf.py();
    let a = view(slf)?;
    let arg = if a.kind == Kind::Addr && !a.v6 {
        a.ip.into_pyobject(py)?.into_any()
    } else {
        conv::display_py(slf)?.into_any()
    };
    PyTuple::new(
        py,
        [
            slf.get_type().into_any(),
            PyTuple::new(py, [arg])?.into_any(),
        ],
    )
}

/// `_BaseAddress.__format__`.
pub fn format(slf: &Bound<'_, PyAny>, spec: &str) -> PyResult<Py<PyAny>> {
    let py = slf.py();
    if spec.is_empty() || spec.ends_with('s') {
        let text = conv::display_py(slf)?;
        if spec.is_empty() {
            return Ok(text.into_any().unbind());
        }
        return Ok(text.call_method1("__format__", (spec,))?.unbind());
    }
    let a = view(slf)?;
    match core::format_int_spec(spec.as_bytes(), a.ip, a.bits()) {
        Some(s) => Ok(PyString::new(py, &s).into_any().unbind()),
        None => Err(PyTypeError::new_err(format!(
            "unsupported format string passed to {}.__format__",
            slf.get_type().name()?
        ))),
    }
}

/// `self.__class__(int(self) + other)` (or `-`); `NotImplemented` for a non-int.
pub fn arith(slf: &Bound<'_, PyAny>, other: &Bound<'_, PyAny>, sub: bool) -> PyResult<Py<PyAny>> {
    let py = slf.py();
    if !other.is_instance_of::<PyInt>() {
        return Ok(py.NotImplemented());
    }
    let a = view(slf)?;
    if a.exact {
        if let Ok(d) = other.extract::<i64>() {
            let d = if sub { -i128::from(d) } else { i128::from(d) };
            let r = a.ip.checked_add_signed(d);
            if let Some(r) = r.filter(|r| *r <= core::all_ones(a.bits())) {
                return Ok(match a.kind {
                    Kind::Iface => new_iface(py, a.v6, r, a.bits(), None)?,
                    _ => new_addr(py, a.v6, r)?,
                }
                .unbind());
            }
        }
    }
    let me = a.ip.into_pyobject(py)?;
    let result = if sub { me.sub(other)? } else { me.add(other)? };
    Ok(slf.get_type().call1((result,))?.unbind())
}

/// `exploded` of any object. Under [`Rules::mapped_dotted`] an IPv4-mapped address or
/// interface keeps the first six groups and writes its IPv4 address dotted, and the
/// interface loses its `/prefix` (CPython 3.13's `IPv6Address._explode_shorthand_ip_string`
/// cuts the hextet form of the whole object at 30 characters).
pub fn exploded(slf: &Bound<'_, PyAny>) -> PyResult<String> {
    let a = view(slf)?;
    let mut out = exploded_hextets(slf)?;
    if a.v6 && a.kind != Kind::Net && Rules::current().mapped_dotted {
        if let Some(v4) = v6props::ipv4_mapped(a.ip) {
            out.truncate(core::V6_MAPPED_HEAD);
            out.push_str(&addr_text(false, u128::from(v4)));
        }
    }
    Ok(out)
}

/// `_BaseV6._explode_shorthand_ip_string`: the hextet form of any object (the text of an
/// IPv4 object).
fn exploded_hextets(slf: &Bound<'_, PyAny>) -> PyResult<String> {
    let py = slf.py();
    let a = view(slf)?;
    if !a.v6 {
        return display(slf);
    }
    // _explode_shorthand_ip_string re-parses str() of the address part, so a scope id
    // makes it fail exactly as the stdlib does.
    let ip = match a.kind {
        Kind::Iface => a.ip,
        Kind::Addr if a.scope.is_none() && a.exact => a.ip,
        Kind::Net if a.scope.is_none() => a.ip,
        _ => {
            let text = match (a.kind, a.scope) {
                (Kind::Net, Some(scope)) => {
                    let mut head = addr_text(true, a.ip);
                    head.push('%');
                    conv::with_scope(py, &head, scope, "")?
                }
                (Kind::Net, None) => PyString::new(py, &addr_text(true, a.ip)),
                _ => conv::display_py(slf)?,
            };
            let bytes = conv::str_bytes(&text)?;
            core::parse_v6(&bytes).map_err(|e| {
                let mut r = |b: &[u8]| repr_bytes(py, b);
                conv::address_error(e.message(&bytes, &mut r))
            })?
        }
    };
    let mut out = String::from_utf8_lossy(&core::explode_v6(ip)).into_owned();
    if a.kind != Kind::Addr {
        out.push('/');
        out.push_str(&a.prefix.to_string());
    }
    Ok(out)
}

/// `reverse_pointer` of any object.
pub fn reverse_pointer(slf: &Bound<'_, PyAny>) -> PyResult<String> {
    let a = view(slf)?;
    if a.v6 {
        let mut text = exploded_hextets(slf)?;
        if a.kind != Kind::Net
            && Rules::current().mapped_dotted
            && v6props::ipv4_mapped(a.ip).is_some()
        {
            // CPython 3.13 reverses the address's 32 hex digits, so an IPv4-mapped
            // interface loses its `/prefix`.
            text.truncate(core::V6_MAX_LEN);
        }
        Ok(core::reverse_pointer_v6(&text))
    } else {
        Ok(core::reverse_pointer_v4(&display(slf)?))
    }
}

/// `ValueError` with the message of a `subnets()`/`supernet()` argument error.
pub fn prefix_arg_error(slf: &Bound<'_, PyAny>, e: &core::PrefixArgError) -> PyResult<PyErr> {
    Ok(PyValueError::new_err(e.message(&display(slf)?)))
}
