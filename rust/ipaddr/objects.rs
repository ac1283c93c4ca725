//! The Python methods of the six `ipaddress` classes (their layouts are in `types`). The
//! objects keep only the numbers (and an IPv6 scope id); everything derived is computed on
//! access. `IPv4Interface` extends `IPv4Address` and `IPv6Interface` extends `IPv6Address`,
//! as in the stdlib, so the interfaces inherit the address slots, which dispatch on what
//! the object really is.

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::types::{PyBytes, PyInt, PyList, PyString, PyTuple};
use pyo3::PyClassInitializer;
use pyo3::PyTypeInfo;

use super::conv::{
    self, addr_from_obj, ascii_str, classify, display, foreign_attr_error, net_from_obj,
    own_attr_error, truthy, Given, Ip, Kind,
};
use super::core::{self, Net, V4_BITS, V6_BITS};
use super::iters::{ExcludeIterator, SubnetsIterator};
use super::ops::{self, view};
use super::rules::{v4props, v6props, Rules};
use super::slots::{new_addr, new_addr_scoped, new_net};
use super::types::{
    AddressIterator, IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface,
    IPv6Network,
};

/// The result of a comparison between two objects of the same exact class, whose
/// stdlib orderings (with `total_ordering`) are plain integer/tuple orderings.
fn fast_cmp(py: Python<'_>, ord: std::cmp::Ordering, op: CompareOp) -> Py<PyAny> {
    pyo3::types::PyBool::new(py, op.matches(ord))
        .to_owned()
        .into_any()
        .unbind()
}

fn required<T>(v: Option<T>) -> PyResult<T> {
    v.ok_or_else(|| PyTypeError::new_err("internal error: constructor declined silently"))
}

/// A network like `slf` (its class when that is a Python subclass, as
/// `self.__class__((addr, prefix))`).
pub fn net_like<'py>(slf: &Bound<'py, PyAny>, a: &Ip<'_>, net: Net) -> PyResult<Bound<'py, PyAny>> {
    if a.exact {
        new_net(slf.py(), a.v6, net, None)
    } else {
        slf.get_type().call1(((net.0, net.1),))
    }
}

fn to_stdlib<'py>(slf: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let a = view(slf)?;
    let name = match (a.kind, a.v6) {
        (Kind::Addr, false) => "IPv4Address",
        (Kind::Addr, true) => "IPv6Address",
        (Kind::Iface, false) => "IPv4Interface",
        (Kind::Iface, true) => "IPv6Interface",
        (Kind::Net, false) => "IPv4Network",
        (Kind::Net, true) => "IPv6Network",
    };
    let cls = conv::stdlib(py)?.getattr(name)?;
    if a.kind == Kind::Addr && a.scope.is_none() {
        cls.call1((a.ip,))
    } else {
        cls.call1((a.text_py(py)?,))
    }
}

fn addr_str<'py>(slf: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
    let py = slf.py();
    let a = view(slf)?;
    if a.kind == Kind::Addr && !a.v6 {
        let mut b = [0u8; core::V4_MAX_LEN];
        let n = core::format_v4(a.ip as u32, &mut b);
        return Ok(ascii_str(py, &b[..n]));
    }
    a.text_py(py)
}

// ---------------------------------------------------------------------------------------
// IPv4Address / IPv4Interface
// ---------------------------------------------------------------------------------------

#[pymethods]
impl IPv4Address {
    // NOTE: extra arguments are accepted (and left to `__init__`), as `object.__new__`
    // does for the stdlib's classes, so a subclass's `__init__` may take more.
    #[new]
    #[pyo3(signature = (address, *_args, **_kwargs), text_signature = "(address)")]
    fn new(
        address: &Bound<'_, PyAny>,
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<Self> {
        let (ip, _) = required(addr_from_obj(address, false, true)?)?;
        Ok(IPv4Address { ip: ip as u32 })
    }

    /// Construction happens in `__new__`; this takes the constructor's argument so that a
    /// Python subclass's `super().__init__(address)` works as with the stdlib's classes.
    #[pyo3(signature = (address))]
    fn __init__(&self, address: &Bound<'_, PyAny>) {
        let _ = address;
    }

    fn __str__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyString>> {
        addr_str(slf.as_any())
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        ops::repr(slf.as_any())
    }

    fn __int__(&self) -> u32 {
        self.ip
    }

    fn __hash__(slf: &Bound<'_, Self>) -> PyResult<isize> {
        if slf.is_exact_instance_of::<Self>() {
            return Ok(conv::hash_hex(u128::from(slf.get().ip)));
        }
        ops::hash(slf.py(), &view(slf.as_any())?)
    }

    fn __richcmp__(
        slf: &Bound<'_, Self>,
        other: &Bound<'_, PyAny>,
        op: CompareOp,
    ) -> PyResult<Py<PyAny>> {
        if let (true, Ok(o)) = (
            slf.is_exact_instance_of::<Self>(),
            other.cast_exact::<Self>(),
        ) {
            // Same exact class: the stdlib's orderings reduce to comparing the integers.
            return Ok(fast_cmp(slf.py(), slf.get().ip.cmp(&o.get().ip), op));
        }
        ops::richcmp(slf.as_any(), other, op)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        ops::reduce(slf.as_any())
    }

    fn __format__(slf: &Bound<'_, Self>, fmt: &str) -> PyResult<Py<PyAny>> {
        ops::format(slf.as_any(), fmt)
    }

    fn __add__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        ops::arith(slf.as_any(), other, false)
    }

    fn __sub__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        ops::arith(slf.as_any(), other, true)
    }

    #[getter]
    fn version(&self) -> u8 {
        4
    }

    #[getter]
    fn max_prefixlen(&self) -> u8 {
        V4_BITS
    }

    #[getter]
    fn packed<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.ip.to_be_bytes())
    }

    #[getter]
    fn exploded(slf: &Bound<'_, Self>) -> PyResult<String> {
        ops::exploded(slf.as_any())
    }

    #[getter]
    fn compressed<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyString>> {
        conv::display_py(slf.as_any())
    }

    #[getter]
    fn reverse_pointer(slf: &Bound<'_, Self>) -> PyResult<String> {
        ops::reverse_pointer(slf.as_any())
    }

    #[getter]
    fn is_private(&self) -> bool {
        v4props::is_private(self.ip, Rules::current())
    }

    #[getter]
    fn is_global(&self) -> bool {
        v4props::is_global(self.ip, Rules::current())
    }

    #[getter]
    fn is_reserved(&self) -> bool {
        v4props::is_reserved(self.ip)
    }

    #[getter]
    fn is_multicast(&self) -> bool {
        v4props::is_multicast(self.ip)
    }

    /// NOTE: the stdlib compares with `IPv4Address('0.0.0.0')`, which an interface never
    /// equals, so an `IPv4Interface` is never unspecified; kept for fidelity.
    #[getter]
    fn is_unspecified(slf: &Bound<'_, Self>) -> bool {
        !slf.is_instance_of::<IPv4Interface>() && v4props::is_unspecified(slf.get().ip)
    }

    #[getter]
    fn is_loopback(&self) -> bool {
        v4props::is_loopback(self.ip)
    }

    #[getter]
    fn is_link_local(&self) -> bool {
        v4props::is_link_local(self.ip)
    }

    /// `IPv4Address.ipv6_mapped` (CPython 3.13; `python/ferrosock/ipaddress.py` removes
    /// the attribute where the running stdlib lacks it): `IPv6Address(f'::ffff:{self}')`,
    /// which an `IPv4Interface` fails with `AddressValueError` (its `str()` has a `/`).
    #[getter]
    fn ipv6_mapped<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        if slf.get_type().is(py.get_type::<IPv4Address>()) {
            return new_addr(py, true, 0xffff_0000_0000 | u128::from(slf.get().ip));
        }
        let text = format!("::ffff:{}", display(slf.as_any())?);
        py.get_type::<IPv6Address>().call1((text,))
    }

    /// The equal object of the stdlib's `ipaddress` (same class name and value).
    fn to_stdlib<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        to_stdlib(slf.as_any())
    }
}

/// Shared by both interface classes.
fn iface_with(slf: &Bound<'_, PyAny>, what: u8) -> PyResult<String> {
    let py = slf.py();
    let a = view(slf)?;
    let bits = a.bits();
    // NOTE: the stdlib prints the interface's own address with `_string_from_ip_int`
    // (hextets even for an IPv4-mapped address on 3.13) but the masks with `str()`.
    let mut s = conv::hex_text(a.v6, a.ip);
    s.push('/');
    match what {
        0 => s.push_str(&a.prefix.to_string()),
        1 => s.push_str(&conv::addr_text(a.v6, core::netmask(a.prefix, bits))),
        _ => s.push_str(&conv::addr_text(a.v6, core::hostmask(a.prefix, bits))),
    }
    let _ = py;
    Ok(s)
}

fn iface_network<'py>(slf: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let a = view(slf)?;
    let (net, scope) = a.network();
    new_net(slf.py(), a.v6, net, scope)
}

/// `ipaddress.IPv4Interface`: an `IPv4Address` with the network it sits on
/// (`'192.0.2.5/24'`).

#[pymethods]
impl IPv4Interface {
    // NOTE: extra arguments are accepted (and left to `__init__`), as `object.__new__`
    // does for the stdlib's classes, so a subclass's `__init__` may take more.
    #[new]
    #[pyo3(signature = (address, *_args, **_kwargs), text_signature = "(address)")]
    fn new(
        address: &Bound<'_, PyAny>,
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let p = required(net_from_obj(address, false, false, true)?)?;
        Ok(PyClassInitializer::from(IPv4Address { ip: p.ip as u32 })
            .add_subclass(IPv4Interface { prefix: p.prefix }))
    }

    #[getter]
    fn ip<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        new_addr(slf.py(), false, u128::from(slf.as_super().get().ip))
    }

    #[getter]
    fn network<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        iface_network(slf.as_any())
    }

    #[getter]
    fn netmask<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        new_addr(slf.py(), false, core::netmask(slf.get().prefix, V4_BITS))
    }

    #[getter]
    fn hostmask<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        new_addr(slf.py(), false, core::hostmask(slf.get().prefix, V4_BITS))
    }

    #[getter]
    fn with_prefixlen(slf: &Bound<'_, Self>) -> PyResult<String> {
        iface_with(slf.as_any(), 0)
    }

    #[getter]
    fn with_netmask(slf: &Bound<'_, Self>) -> PyResult<String> {
        iface_with(slf.as_any(), 1)
    }

    #[getter]
    fn with_hostmask(slf: &Bound<'_, Self>) -> PyResult<String> {
        iface_with(slf.as_any(), 2)
    }
}

// ---------------------------------------------------------------------------------------
// IPv6Address / IPv6Interface
// ---------------------------------------------------------------------------------------

fn opt_v4(py: Python<'_>, v: Option<u32>) -> PyResult<Option<Bound<'_, PyAny>>> {
    v.map(|ip| new_addr(py, false, u128::from(ip))).transpose()
}

#[pymethods]
impl IPv6Address {
    // NOTE: extra arguments are accepted (and left to `__init__`), as `object.__new__`
    // does for the stdlib's classes, so a subclass's `__init__` may take more.
    #[new]
    #[pyo3(signature = (address, *_args, **_kwargs), text_signature = "(address)")]
    fn new(
        address: &Bound<'_, PyAny>,
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<Self> {
        let (ip, scope) = required(addr_from_obj(address, true, true)?)?;
        Ok(IPv6Address { ip, scope })
    }

    /// Construction happens in `__new__`; this takes the constructor's argument so that a
    /// Python subclass's `super().__init__(address)` works as with the stdlib's classes.
    #[pyo3(signature = (address))]
    fn __init__(&self, address: &Bound<'_, PyAny>) {
        let _ = address;
    }

    fn __str__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyString>> {
        addr_str(slf.as_any())
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        ops::repr(slf.as_any())
    }

    fn __int__(&self) -> u128 {
        self.ip
    }

    fn __hash__(slf: &Bound<'_, Self>) -> PyResult<isize> {
        ops::hash(slf.py(), &view(slf.as_any())?)
    }

    fn __richcmp__(
        slf: &Bound<'_, Self>,
        other: &Bound<'_, PyAny>,
        op: CompareOp,
    ) -> PyResult<Py<PyAny>> {
        if let (true, Ok(o)) = (
            slf.is_exact_instance_of::<Self>(),
            other.cast_exact::<Self>(),
        ) {
            let (a, b) = (slf.get(), o.get());
            if a.scope.is_none() && b.scope.is_none() {
                return Ok(fast_cmp(slf.py(), a.ip.cmp(&b.ip), op));
            }
        }
        ops::richcmp(slf.as_any(), other, op)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        ops::reduce(slf.as_any())
    }

    fn __format__(slf: &Bound<'_, Self>, fmt: &str) -> PyResult<Py<PyAny>> {
        ops::format(slf.as_any(), fmt)
    }

    fn __add__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        ops::arith(slf.as_any(), other, false)
    }

    fn __sub__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        ops::arith(slf.as_any(), other, true)
    }

    #[getter]
    fn version(&self) -> u8 {
        6
    }

    #[getter]
    fn max_prefixlen(&self) -> u8 {
        V6_BITS
    }

    #[getter]
    fn scope_id(&self, py: Python<'_>) -> Option<Py<PyString>> {
        self.scope.as_ref().map(|s| s.clone_ref(py))
    }

    #[getter]
    fn packed<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.ip.to_be_bytes())
    }

    #[getter]
    fn exploded(slf: &Bound<'_, Self>) -> PyResult<String> {
        ops::exploded(slf.as_any())
    }

    #[getter]
    fn compressed<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyString>> {
        conv::display_py(slf.as_any())
    }

    #[getter]
    fn reverse_pointer(slf: &Bound<'_, Self>) -> PyResult<String> {
        ops::reverse_pointer(slf.as_any())
    }

    #[getter]
    fn is_private(&self) -> bool {
        v6props::is_private(self.ip, Rules::current())
    }

    #[getter]
    fn is_global(&self) -> bool {
        v6props::is_global(self.ip, Rules::current())
    }

    #[getter]
    fn is_reserved(&self) -> bool {
        v6props::is_reserved(self.ip, Rules::current())
    }

    #[getter]
    fn is_multicast(&self) -> bool {
        v6props::is_multicast(self.ip, Rules::current())
    }

    #[getter]
    fn is_link_local(&self) -> bool {
        v6props::is_link_local(self.ip, Rules::current())
    }

    #[getter]
    fn is_site_local(&self) -> bool {
        v6props::is_site_local(self.ip)
    }

    /// An `IPv6Interface` is unspecified only as `::/128` (the stdlib also asks its
    /// network).
    #[getter]
    fn is_unspecified(slf: &Bound<'_, Self>) -> PyResult<bool> {
        let a = view(slf.as_any())?;
        if a.kind == Kind::Addr {
            return Ok(v6props::is_unspecified(a.ip, Rules::current()));
        }
        Ok(a.ip == 0 && a.prefix == V6_BITS)
    }

    /// An `IPv6Interface` asks its network too (`::1/128` only, unless IPv4-mapped
    /// addresses answer for their IPv4 address).
    #[getter]
    fn is_loopback(slf: &Bound<'_, Self>) -> PyResult<bool> {
        let a = view(slf.as_any())?;
        let r = Rules::current();
        if a.kind == Kind::Addr {
            return Ok(v6props::is_loopback(a.ip, r));
        }
        let ((net, prefix), _) = a.network();
        let bcast = core::broadcast((net, prefix), V6_BITS);
        Ok(v6props::iface_is_loopback(a.ip, net, bcast, r))
    }

    #[getter]
    fn ipv4_mapped<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        opt_v4(py, v6props::ipv4_mapped(self.ip))
    }

    #[getter]
    fn sixtofour<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        opt_v4(py, v6props::sixtofour(self.ip))
    }

    #[getter]
    fn teredo<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        match v6props::teredo(self.ip) {
            None => Ok(None),
            Some((server, client)) => Ok(Some(PyTuple::new(
                py,
                [
                    new_addr(py, false, u128::from(server))?,
                    new_addr(py, false, u128::from(client))?,
                ],
            )?)),
        }
    }

    /// The equal object of the stdlib's `ipaddress` (same class name and value).
    fn to_stdlib<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        to_stdlib(slf.as_any())
    }
}

/// `ipaddress.IPv6Interface`: an `IPv6Address` with the network it sits on.

#[pymethods]
impl IPv6Interface {
    // NOTE: extra arguments are accepted (and left to `__init__`), as `object.__new__`
    // does for the stdlib's classes, so a subclass's `__init__` may take more.
    #[new]
    #[pyo3(signature = (address, *_args, **_kwargs), text_signature = "(address)")]
    fn new(
        address: &Bound<'_, PyAny>,
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let p = required(net_from_obj(address, true, false, true)?)?;
        Ok(PyClassInitializer::from(IPv6Address {
            ip: p.ip,
            scope: p.scope,
        })
        .add_subclass(IPv6Interface { prefix: p.prefix }))
    }

    #[getter]
    fn ip<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        new_addr(slf.py(), true, slf.as_super().get().ip)
    }

    #[getter]
    fn network<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        iface_network(slf.as_any())
    }

    #[getter]
    fn netmask<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        new_addr(slf.py(), true, core::netmask(slf.get().prefix, V6_BITS))
    }

    #[getter]
    fn hostmask<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        new_addr(slf.py(), true, core::hostmask(slf.get().prefix, V6_BITS))
    }

    #[getter]
    fn with_prefixlen(slf: &Bound<'_, Self>) -> PyResult<String> {
        iface_with(slf.as_any(), 0)
    }

    #[getter]
    fn with_netmask(slf: &Bound<'_, Self>) -> PyResult<String> {
        iface_with(slf.as_any(), 1)
    }

    #[getter]
    fn with_hostmask(slf: &Bound<'_, Self>) -> PyResult<String> {
        iface_with(slf.as_any(), 2)
    }
}

// ---------------------------------------------------------------------------------------
// Networks: behaviour shared by both versions
// ---------------------------------------------------------------------------------------

fn bcast(a: &Ip<'_>) -> u128 {
    core::broadcast((a.ip, a.prefix), a.bits())
}

fn num_addresses<'py>(py: Python<'py>, a: &Ip<'_>) -> PyResult<Bound<'py, PyAny>> {
    let host_bits = a.bits() - a.prefix;
    if host_bits >= 128 {
        return u128::MAX.into_pyobject(py)?.add(1);
    }
    Ok((1u128 << host_bits).into_pyobject(py)?.into_any())
}

fn net_with<'py>(slf: &Bound<'py, PyAny>, what: u8) -> PyResult<Bound<'py, PyString>> {
    let py = slf.py();
    let a = view(slf)?;
    let bits = a.bits();
    let mut tail = String::from("/");
    match what {
        0 => tail.push_str(&a.prefix.to_string()),
        1 => tail.push_str(&conv::addr_text(a.v6, core::netmask(a.prefix, bits))),
        _ => tail.push_str(&conv::addr_text(a.v6, core::hostmask(a.prefix, bits))),
    }
    let mut head = conv::addr_text(a.v6, a.ip);
    match a.scope {
        Some(scope) => {
            head.push('%');
            conv::with_scope(py, &head, scope, &tail)
        }
        None => {
            head.push_str(&tail);
            Ok(PyString::new(py, &head))
        }
    }
}

fn net_str<'py>(slf: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
    view(slf)?.text_py(slf.py())
}

/// `_BaseNetwork.__contains__`.
fn contains(a: &Ip<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
    let Some(b) = classify(other) else {
        return Err(foreign_attr_error(other, "_version"));
    };
    if b.v6 != a.v6 || b.kind == Kind::Net {
        return Ok(false);
    }
    Ok(b.ip & core::netmask(a.prefix, a.bits()) == a.ip)
}

fn hosts<'py>(slf: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let a = view(slf)?;
    let bits = a.bits();
    let b = bcast(&a);
    if a.prefix == bits {
        let only = new_addr_scoped(py, a.v6, a.ip, a.scope)?;
        if Rules::current().single_host_iterator {
            // `iter((IPv4Address(addr),))`, as gh-141497 has it.
            return Ok(PyTuple::new(py, [only])?.try_iter()?.into_any());
        }
        return Ok(PyList::new(py, [only])?.into_any());
    }
    let (first, last) = if a.prefix == bits - 1 {
        (a.ip, b)
    } else if a.v6 {
        (a.ip + 1, b)
    } else {
        (a.ip + 1, b - 1)
    };
    Ok(Bound::new(py, AddressIterator::new(a.v6, first, last))?.into_any())
}

fn iterate<'py>(slf: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let a = view(slf)?;
    Ok(Bound::new(slf.py(), AddressIterator::new(a.v6, a.ip, bcast(&a)))?.into_any())
}

/// `_BaseNetwork.__getitem__` for an int index (negative counts from the broadcast).
fn getitem<'py>(slf: &Bound<'py, PyAny>, n: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let a = view(slf)?;
    if !n.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "'>=' not supported between instances of '{}' and 'int'",
            crate::errors::type_name(n)
        )));
    }
    let span = bcast(&a) - a.ip;
    if let Ok(i) = n.extract::<u128>() {
        if i > span {
            return Err(conv::index_error());
        }
        return new_addr(py, a.v6, a.ip + i);
    }
    // Negative: n + 1 counts back from the broadcast address.
    let back = n.neg()?.sub(1)?;
    match back.extract::<u128>() {
        Ok(m) if m <= span => new_addr(py, a.v6, bcast(&a) - m),
        _ => Err(conv::index_error()),
    }
}

/// `self.network_address <= other.network_address` (address `<=` compares scope ids when
/// the values are equal).
fn addr_le(
    py: Python<'_>,
    x: u128,
    sx: Option<&Py<PyString>>,
    y: u128,
    sy: Option<&Py<PyString>>,
) -> bool {
    x < y || (x == y && conv::scope_eq(py, sx, sy))
}

/// `_BaseNetwork._is_subnet_of(a, b)`; `a_is_self` tells which of the two is the receiver.
fn is_subnet_of(
    slf: &Bound<'_, PyAny>,
    other: &Bound<'_, PyAny>,
    a_is_self: bool,
) -> PyResult<bool> {
    let py = slf.py();
    let me = view(slf)?;
    let (first, second) = if a_is_self {
        (slf, other)
    } else {
        (other, slf)
    };
    let unable = || -> PyResult<PyErr> {
        Ok(PyTypeError::new_err(format!(
            "Unable to test subnet containment between {} and {}",
            first.str()?.to_string_lossy(),
            second.str()?.to_string_lossy()
        )))
    };
    let Some(o) = classify(other) else {
        return Err(unable()?);
    };
    if o.v6 != me.v6 {
        return Err(PyTypeError::new_err(format!(
            "{} and {} are not of the same version",
            first.str()?.to_string_lossy(),
            second.str()?.to_string_lossy()
        )));
    }
    if o.kind != Kind::Net {
        return Err(unable()?);
    }
    let (a, b) = if a_is_self { (me, o) } else { (o, me) };
    Ok(addr_le(py, b.ip, b.scope, a.ip, a.scope) && bcast(&b) >= bcast(&a))
}

fn overlaps(slf: &Bound<'_, PyAny>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = slf.py();
    let a = view(slf)?;
    if let Some(b) = classify(other) {
        if b.kind == Kind::Net {
            if a.v6 != b.v6 {
                return Ok(false);
            }
            let (ab, bb) = (bcast(&a), bcast(&b));
            let inside = |x: u128, n: &Ip<'_>, nb: u128| n.ip <= x && x <= nb;
            return Ok(inside(a.ip, &b, bb)
                || inside(ab, &b, bb)
                || inside(b.ip, &a, ab)
                || inside(bb, &a, ab));
        }
    }
    // Anything else: the stdlib's expression, operator by operator.
    let na = new_addr_scoped(py, a.v6, a.ip, a.scope)?;
    if other.contains(na)? {
        return Ok(true);
    }
    if other.contains(new_addr(py, a.v6, bcast(&a))?)? {
        return Ok(true);
    }
    let attr = |name: &str| -> PyResult<Bound<'_, PyAny>> {
        if classify(other).is_some() {
            return Err(own_attr_error(other, name));
        }
        other.getattr(name)
    };
    if slf.contains(attr("network_address")?)? {
        return Ok(true);
    }
    slf.contains(attr("broadcast_address")?)
}

fn compare_networks(slf: &Bound<'_, PyAny>, other: &Bound<'_, PyAny>) -> PyResult<i8> {
    let py = slf.py();
    let a = view(slf)?;
    let Some(b) = classify(other) else {
        return Err(foreign_attr_error(other, "_version"));
    };
    if a.v6 != b.v6 {
        return Err(PyTypeError::new_err(format!(
            "{} and {} are not of the same type",
            display(slf)?,
            display(other)?
        )));
    }
    if b.kind != Kind::Net {
        return Err(own_attr_error(other, "network_address"));
    }
    if a.ip < b.ip {
        return Ok(-1);
    }
    if a.ip > b.ip || !conv::scope_eq(py, a.scope, b.scope) {
        return Ok(1);
    }
    Ok(match a.prefix.cmp(&b.prefix) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Greater => 1,
        std::cmp::Ordering::Equal => 0,
    })
}

fn supernet<'py>(
    slf: &Bound<'py, PyAny>,
    prefixlen_diff: Option<&Bound<'py, PyAny>>,
    new_prefix: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let a = view(slf)?;
    if a.prefix == 0 {
        return Ok(slf.clone());
    }
    let np = conv::new_prefix_arg(new_prefix, conv::ArgOp::Gt)?;
    let diff = conv::diff_arg(prefixlen_diff, np.is_some(), conv::ArgOp::Sub)?;
    match core::supernet_of_net((a.ip, a.prefix), a.bits(), diff, np) {
        Ok(net) => net_like(slf, &a, net),
        Err(e) => Err(ops::prefix_arg_error(slf, &e)?),
    }
}

fn subnets<'py>(
    slf: &Bound<'py, PyAny>,
    prefixlen_diff: Option<&Bound<'py, PyAny>>,
    new_prefix: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let it = SubnetsIterator::new(
        slf,
        prefixlen_diff.map(|o| o.clone().unbind()),
        new_prefix.map(|o| o.clone().unbind()),
    );
    Ok(Bound::new(slf.py(), it)?.into_any())
}

fn address_exclude<'py>(
    slf: &Bound<'py, PyAny>,
    other: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(Bound::new(slf.py(), ExcludeIterator::new(slf, other))?.into_any())
}

/// A new `list` of `True`/`False`.
fn bool_list<'py>(py: Python<'py>, values: &[bool]) -> PyResult<Bound<'py, PyList>> {
    // SAFETY: PyList_New returns a new list of `len` NULL slots (or NULL with an exception
    // set); each slot is filled exactly once with a new reference to True or False, which
    // PyList_SET_ITEM steals, before the list is handed out.
    unsafe {
        let list = ffi::PyList_New(values.len() as ffi::Py_ssize_t);
        if list.is_null() {
            return Err(PyErr::fetch(py));
        }
        let (t, f) = (ffi::Py_True(), ffi::Py_False());
        for (i, &v) in values.iter().enumerate() {
            let item = if v { t } else { f };
            ffi::Py_INCREF(item);
            ffi::PyList_SET_ITEM(list, i as ffi::Py_ssize_t, item);
        }
        Ok(Bound::from_owned_ptr(py, list).cast_into_unchecked())
    }
}

/// `[a in self for a in addresses]` in one call; a `str` item is parsed as by
/// `ip_address()` first.
fn contains_many<'py>(
    slf: &Bound<'py, PyAny>,
    addresses: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let py = slf.py();
    let a = view(slf)?;
    let mask = core::netmask(a.prefix, a.bits());
    let (addr4, addr6) = (
        IPv4Address::type_object_raw(py),
        IPv6Address::type_object_raw(py),
    );
    let mut out: Vec<bool> = Vec::with_capacity(addresses.len().unwrap_or(0));
    // A list of ferrosock addresses is read in place: no reference counting per item, and
    // no Python code runs between reading an item and using it.
    if let Ok(list) = addresses.cast_exact::<PyList>() {
        let n = list.len();
        for i in 0..n {
            // SAFETY: `i < n == len(list)` and nothing has run that could shrink the list
            // (the loop stops at the first item needing Python); the item is borrowed only
            // until the next statement.
            let item = unsafe { ffi::PyList_GET_ITEM(list.as_ptr(), i as ffi::Py_ssize_t) };
            // SAFETY: `item` is a live element of the list.
            let ty = unsafe { ffi::Py_TYPE(item) };
            if ty == addr4 {
                // SAFETY: exactly an IPv4Address, borrowed from the list.
                let ip = unsafe { Borrowed::from_ptr(py, item).cast_unchecked::<IPv4Address>() }
                    .get()
                    .ip;
                out.push(!a.v6 && u128::from(ip) & mask == a.ip);
            } else if ty == addr6 {
                // SAFETY: exactly an IPv6Address, borrowed from the list.
                let ip = unsafe { Borrowed::from_ptr(py, item).cast_unchecked::<IPv6Address>() }
                    .get()
                    .ip;
                out.push(a.v6 && ip & mask == a.ip);
            } else {
                break;
            }
        }
        if out.len() == n {
            return bool_list(py, &out);
        }
    }
    let done = out.len();
    let mut index = 0usize;
    crate::batch::for_each_item(addresses, |item| {
        // Items already answered by the list walk above.
        if index < done {
            index += 1;
            return Ok(());
        }
        index += 1;
        let ty = item.get_type_ptr();
        if ty == addr4 || ty == addr6 {
            // SAFETY: the type was just checked to be exactly one of the two.
            let ip = unsafe {
                if ty == addr4 {
                    u128::from(item.cast_unchecked::<IPv4Address>().get().ip)
                } else {
                    item.cast_unchecked::<IPv6Address>().get().ip
                }
            };
            out.push((ty == addr6) == a.v6 && ip & mask == a.ip);
            return Ok(());
        }
        if let Ok(s) = item.cast::<PyString>() {
            let (v6, ip, _) = conv::parse_address_str(s, item)?;
            out.push(v6 == a.v6 && ip & mask == a.ip);
            return Ok(());
        }
        out.push(contains(&a, item)?);
        Ok(())
    })?;
    bool_list(py, &out)
}

// ---------------------------------------------------------------------------------------
// IPv4Network / IPv6Network
// ---------------------------------------------------------------------------------------

#[pymethods]
impl IPv4Network {
    // NOTE: extra arguments are left to `__init__`, as for the addresses.
    #[new]
    #[pyo3(
        signature = (address, strict = None, *_args, **_kwargs),
        text_signature = "(address, strict=True)"
    )]
    fn new(
        address: &Bound<'_, PyAny>,
        strict: Option<&Bound<'_, PyAny>>,
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<Self> {
        let p = required(net_from_obj(address, false, truthy(strict)?, true)?)?;
        Ok(IPv4Network {
            net: (p.ip & core::netmask(p.prefix, V4_BITS)) as u32,
            prefix: p.prefix,
        })
    }

    /// Construction happens in `__new__`; this takes the constructor's arguments so that a
    /// Python subclass's `super().__init__(address, strict)` works as with the stdlib's.
    #[pyo3(signature = (address, strict = None))]
    fn __init__(&self, address: &Bound<'_, PyAny>, strict: Option<&Bound<'_, PyAny>>) {
        let _ = (address, strict);
    }

    fn __str__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyString>> {
        net_str(slf.as_any())
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        ops::repr(slf.as_any())
    }

    fn __hash__(slf: &Bound<'_, Self>) -> PyResult<isize> {
        ops::hash(slf.py(), &view(slf.as_any())?)
    }

    fn __richcmp__(
        slf: &Bound<'_, Self>,
        other: &Bound<'_, PyAny>,
        op: CompareOp,
    ) -> PyResult<Py<PyAny>> {
        if let (true, Ok(o)) = (
            slf.is_exact_instance_of::<Self>(),
            other.cast_exact::<Self>(),
        ) {
            let (a, b) = (slf.get(), o.get());
            return Ok(fast_cmp(
                slf.py(),
                (a.net, a.prefix).cmp(&(b.net, b.prefix)),
                op,
            ));
        }
        ops::richcmp(slf.as_any(), other, op)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        ops::reduce(slf.as_any())
    }

    fn __contains__(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        if let Ok(o) = other.cast_exact::<IPv4Address>() {
            return Ok(self.contains_ip(o.get().ip));
        }
        let me = Ip {
            kind: Kind::Net,
            v6: false,
            ip: u128::from(self.net),
            prefix: self.prefix,
            scope: None,
            exact: true,
        };
        contains(&me, other)
    }

    fn __iter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        iterate(slf.as_any())
    }

    fn __getitem__<'py>(
        slf: &Bound<'py, Self>,
        n: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        getitem(slf.as_any(), n)
    }

    fn hosts<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        hosts(slf.as_any())
    }

    #[pyo3(
        signature = (prefixlen_diff = Given(None), new_prefix = None),
        text_signature = "($self, prefixlen_diff=1, new_prefix=None)"
    )]
    fn subnets<'py>(
        slf: &Bound<'py, Self>,
        prefixlen_diff: Given<'py>,
        new_prefix: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        subnets(slf.as_any(), prefixlen_diff.0.as_ref(), new_prefix)
    }

    #[pyo3(
        signature = (prefixlen_diff = Given(None), new_prefix = None),
        text_signature = "($self, prefixlen_diff=1, new_prefix=None)"
    )]
    fn supernet<'py>(
        slf: &Bound<'py, Self>,
        prefixlen_diff: Given<'py>,
        new_prefix: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        supernet(slf.as_any(), prefixlen_diff.0.as_ref(), new_prefix)
    }

    fn address_exclude<'py>(
        slf: &Bound<'py, Self>,
        other: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        address_exclude(slf.as_any(), other)
    }

    fn overlaps(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        overlaps(slf.as_any(), other)
    }

    fn subnet_of(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        is_subnet_of(slf.as_any(), other, true)
    }

    fn supernet_of(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        is_subnet_of(slf.as_any(), other, false)
    }

    fn compare_networks(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<i8> {
        compare_networks(slf.as_any(), other)
    }

    /// `[a in self for a in addresses]` in one call (`str` items parsed as by
    /// `ip_address()`); a bad item raises the single form's error with its index.
    fn contains_many<'py>(
        slf: &Bound<'py, Self>,
        addresses: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        contains_many(slf.as_any(), addresses)
    }

    fn to_stdlib<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        to_stdlib(slf.as_any())
    }

    #[getter]
    fn version(&self) -> u8 {
        4
    }

    #[getter]
    fn max_prefixlen(&self) -> u8 {
        V4_BITS
    }

    #[getter]
    fn prefixlen(&self) -> u8 {
        self.prefix
    }

    #[getter]
    fn network_address<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        new_addr(py, false, u128::from(self.net))
    }

    #[getter]
    fn broadcast_address<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        new_addr(py, false, u128::from(self.ends().1))
    }

    #[getter]
    fn netmask<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        new_addr(py, false, core::netmask(self.prefix, V4_BITS))
    }

    #[getter]
    fn hostmask<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        new_addr(py, false, core::hostmask(self.prefix, V4_BITS))
    }

    #[getter]
    fn num_addresses<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        num_addresses(slf.py(), &view(slf.as_any())?)
    }

    #[getter]
    fn with_prefixlen<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyString>> {
        net_with(slf.as_any(), 0)
    }

    #[getter]
    fn with_netmask<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyString>> {
        net_with(slf.as_any(), 1)
    }

    #[getter]
    fn with_hostmask<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyString>> {
        net_with(slf.as_any(), 2)
    }

    #[getter]
    fn exploded(slf: &Bound<'_, Self>) -> PyResult<String> {
        ops::exploded(slf.as_any())
    }

    #[getter]
    fn compressed<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyString>> {
        conv::display_py(slf.as_any())
    }

    #[getter]
    fn reverse_pointer(slf: &Bound<'_, Self>) -> PyResult<String> {
        ops::reverse_pointer(slf.as_any())
    }

    #[getter]
    fn is_multicast(&self) -> bool {
        let (n, b) = self.ends();
        v4props::is_multicast(n) && v4props::is_multicast(b)
    }

    #[getter]
    fn is_reserved(&self) -> bool {
        let (n, b) = self.ends();
        v4props::is_reserved(n) && v4props::is_reserved(b)
    }

    #[getter]
    fn is_link_local(&self) -> bool {
        let (n, b) = self.ends();
        v4props::is_link_local(n) && v4props::is_link_local(b)
    }

    #[getter]
    fn is_private(&self) -> bool {
        let (n, b) = self.ends();
        v4props::net_is_private(n, b, Rules::current())
    }

    #[getter]
    fn is_global(&self) -> bool {
        let (n, b) = self.ends();
        v4props::net_is_global(n, b, Rules::current())
    }

    #[getter]
    fn is_unspecified(&self) -> bool {
        let (n, b) = self.ends();
        v4props::is_unspecified(n) && v4props::is_unspecified(b)
    }

    #[getter]
    fn is_loopback(&self) -> bool {
        let (n, b) = self.ends();
        v4props::is_loopback(n) && v4props::is_loopback(b)
    }
}

#[pymethods]
impl IPv6Network {
    // NOTE: extra arguments are left to `__init__`, as for the addresses.
    #[new]
    #[pyo3(
        signature = (address, strict = None, *_args, **_kwargs),
        text_signature = "(address, strict=True)"
    )]
    fn new(
        address: &Bound<'_, PyAny>,
        strict: Option<&Bound<'_, PyAny>>,
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<Self> {
        let p = required(net_from_obj(address, true, truthy(strict)?, true)?)?;
        let net = p.ip & core::netmask(p.prefix, V6_BITS);
        Ok(IPv6Network {
            net,
            prefix: p.prefix,
            // A masked (host bits dropped) address is rebuilt from its int: no scope.
            scope: if net == p.ip { p.scope } else { None },
        })
    }

    /// Construction happens in `__new__`; this takes the constructor's arguments so that a
    /// Python subclass's `super().__init__(address, strict)` works as with the stdlib's.
    #[pyo3(signature = (address, strict = None))]
    fn __init__(&self, address: &Bound<'_, PyAny>, strict: Option<&Bound<'_, PyAny>>) {
        let _ = (address, strict);
    }

    fn __str__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyString>> {
        net_str(slf.as_any())
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        ops::repr(slf.as_any())
    }

    fn __hash__(slf: &Bound<'_, Self>) -> PyResult<isize> {
        ops::hash(slf.py(), &view(slf.as_any())?)
    }

    fn __richcmp__(
        slf: &Bound<'_, Self>,
        other: &Bound<'_, PyAny>,
        op: CompareOp,
    ) -> PyResult<Py<PyAny>> {
        if let (true, Ok(o)) = (
            slf.is_exact_instance_of::<Self>(),
            other.cast_exact::<Self>(),
        ) {
            let (a, b) = (slf.get(), o.get());
            if a.scope.is_none() && b.scope.is_none() {
                return Ok(fast_cmp(
                    slf.py(),
                    (a.net, a.prefix).cmp(&(b.net, b.prefix)),
                    op,
                ));
            }
        }
        ops::richcmp(slf.as_any(), other, op)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        ops::reduce(slf.as_any())
    }

    fn __contains__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        if let Ok(o) = other.cast_exact::<IPv6Address>() {
            return Ok(slf.get().contains_ip(o.get().ip));
        }
        contains(&view(slf.as_any())?, other)
    }

    fn __iter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        iterate(slf.as_any())
    }

    fn __getitem__<'py>(
        slf: &Bound<'py, Self>,
        n: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        getitem(slf.as_any(), n)
    }

    fn hosts<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        hosts(slf.as_any())
    }

    #[pyo3(
        signature = (prefixlen_diff = Given(None), new_prefix = None),
        text_signature = "($self, prefixlen_diff=1, new_prefix=None)"
    )]
    fn subnets<'py>(
        slf: &Bound<'py, Self>,
        prefixlen_diff: Given<'py>,
        new_prefix: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        subnets(slf.as_any(), prefixlen_diff.0.as_ref(), new_prefix)
    }

    #[pyo3(
        signature = (prefixlen_diff = Given(None), new_prefix = None),
        text_signature = "($self, prefixlen_diff=1, new_prefix=None)"
    )]
    fn supernet<'py>(
        slf: &Bound<'py, Self>,
        prefixlen_diff: Given<'py>,
        new_prefix: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        supernet(slf.as_any(), prefixlen_diff.0.as_ref(), new_prefix)
    }

    fn address_exclude<'py>(
        slf: &Bound<'py, Self>,
        other: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        address_exclude(slf.as_any(), other)
    }

    fn overlaps(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        overlaps(slf.as_any(), other)
    }

    fn subnet_of(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        is_subnet_of(slf.as_any(), other, true)
    }

    fn supernet_of(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        is_subnet_of(slf.as_any(), other, false)
    }

    fn compare_networks(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<i8> {
        compare_networks(slf.as_any(), other)
    }

    /// `[a in self for a in addresses]` in one call (`str` items parsed as by
    /// `ip_address()`); a bad item raises the single form's error with its index.
    fn contains_many<'py>(
        slf: &Bound<'py, Self>,
        addresses: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        contains_many(slf.as_any(), addresses)
    }

    fn to_stdlib<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        to_stdlib(slf.as_any())
    }

    #[getter]
    fn version(&self) -> u8 {
        6
    }

    #[getter]
    fn max_prefixlen(&self) -> u8 {
        V6_BITS
    }

    #[getter]
    fn prefixlen(&self) -> u8 {
        self.prefix
    }

    #[getter]
    fn network_address<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        new_addr_scoped(py, true, self.net, self.scope.as_ref())
    }

    #[getter]
    fn broadcast_address<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        new_addr(py, true, self.ends().1)
    }

    #[getter]
    fn netmask<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        new_addr(py, true, core::netmask(self.prefix, V6_BITS))
    }

    #[getter]
    fn hostmask<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        new_addr(py, true, core::hostmask(self.prefix, V6_BITS))
    }

    #[getter]
    fn num_addresses<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        num_addresses(slf.py(), &view(slf.as_any())?)
    }

    #[getter]
    fn with_prefixlen<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyString>> {
        net_with(slf.as_any(), 0)
    }

    #[getter]
    fn with_netmask<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyString>> {
        net_with(slf.as_any(), 1)
    }

    #[getter]
    fn with_hostmask<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyString>> {
        net_with(slf.as_any(), 2)
    }

    #[getter]
    fn exploded(slf: &Bound<'_, Self>) -> PyResult<String> {
        ops::exploded(slf.as_any())
    }

    #[getter]
    fn compressed<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyString>> {
        conv::display_py(slf.as_any())
    }

    #[getter]
    fn reverse_pointer(slf: &Bound<'_, Self>) -> PyResult<String> {
        ops::reverse_pointer(slf.as_any())
    }

    #[getter]
    fn is_multicast(&self) -> bool {
        let (n, b) = self.ends();
        let r = Rules::current();
        v6props::is_multicast(n, r) && v6props::is_multicast(b, r)
    }

    #[getter]
    fn is_reserved(&self) -> bool {
        let (n, b) = self.ends();
        let r = Rules::current();
        v6props::is_reserved(n, r) && v6props::is_reserved(b, r)
    }

    #[getter]
    fn is_link_local(&self) -> bool {
        let (n, b) = self.ends();
        let r = Rules::current();
        v6props::is_link_local(n, r) && v6props::is_link_local(b, r)
    }

    #[getter]
    fn is_site_local(&self) -> bool {
        let (n, b) = self.ends();
        v6props::is_site_local(n) && v6props::is_site_local(b)
    }

    #[getter]
    fn is_private(&self) -> bool {
        let (n, b) = self.ends();
        v6props::net_is_private(n, b, Rules::current())
    }

    #[getter]
    fn is_global(&self) -> bool {
        !self.is_private()
    }

    #[getter]
    fn is_unspecified(&self) -> bool {
        let (n, b) = self.ends();
        let r = Rules::current();
        v6props::is_unspecified(n, r) && v6props::is_unspecified(b, r)
    }

    #[getter]
    fn is_loopback(&self) -> bool {
        let (n, b) = self.ends();
        let r = Rules::current();
        v6props::is_loopback(n, r) && v6props::is_loopback(b, r)
    }
}
