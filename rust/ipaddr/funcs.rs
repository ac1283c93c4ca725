//! The module-level functions of `ipaddress`, and ferrosock's batch form `parse_many`.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyInt, PyList, PyString, PyTuple};

use super::conv::{
    addr_from_obj, classify, display, foreign_attr_error, net_from_obj, not_an_address,
    parse_address_str, str_bytes, truthy, Kind, NetParts,
};
use super::core::{self, Net, V4_BITS, V6_BITS};
use super::iters::SummarizeIterator;
use super::rules::Rules;
use super::slots::{new_addr, new_addr6, new_addr_scoped, new_iface, new_net};
use super::types::{IPv4Address, IPv6Address};
use crate::batch::for_each_item;

fn make_address<'py>(
    py: Python<'py>,
    v6: bool,
    ip: u128,
    scope: Option<Py<PyString>>,
) -> PyResult<Bound<'py, PyAny>> {
    match scope {
        None => new_addr(py, v6, ip),
        Some(s) => new_addr6(py, IPv6Address { ip, scope: Some(s) }),
    }
}

fn ip_address_any<'py>(address: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = address.py();
    if let Ok(s) = address.cast_exact::<PyString>() {
        let (v6, ip, scope) = parse_address_str(s, address)?;
        return make_address(py, v6, ip, scope);
    }
    if let Some((ip, _)) = addr_from_obj(address, false, false)? {
        return new_addr(py, false, ip);
    }
    if let Some((ip, scope)) = addr_from_obj(address, true, false)? {
        return make_address(py, true, ip, scope);
    }
    Err(not_an_address(address, "address"))
}

/// Mirrors `ipaddress.ip_address(address)`: an `IPv4Address` or `IPv6Address` from a str,
/// int (below 2**32 is IPv4) or packed bytes.
#[pyfunction]
#[pyo3(signature = (address))]
pub fn ip_address<'py>(address: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    ip_address_any(address)
}

/// Tries IPv4 then IPv6 (only the plausible one for a str) like `ip_network` and
/// `ip_interface` do.
fn net_any(address: &Bound<'_, PyAny>, strict: bool) -> PyResult<Option<(bool, NetParts)>> {
    if let Ok(s) = address.cast_exact::<PyString>() {
        let v6 = str_bytes(s)?.contains(&b':');
        return Ok(net_from_obj(address, v6, strict, false)?.map(|p| (v6, p)));
    }
    if let Some(p) = net_from_obj(address, false, strict, false)? {
        return Ok(Some((false, p)));
    }
    Ok(net_from_obj(address, true, strict, false)?.map(|p| (true, p)))
}

/// A network from what the constructors read (masked; the scope survives only on an
/// address without host bits).
pub fn network_from_parts<'py>(
    py: Python<'py>,
    v6: bool,
    p: NetParts,
) -> PyResult<Bound<'py, PyAny>> {
    let bits = if v6 { V6_BITS } else { V4_BITS };
    let net = p.ip & core::netmask(p.prefix, bits);
    let scope = if net == p.ip { p.scope.as_ref() } else { None };
    new_net(py, v6, (net, p.prefix), scope)
}

/// Mirrors `ipaddress.ip_network(address, strict=True)`.
#[pyfunction]
#[pyo3(signature = (address, strict = None), text_signature = "(address, strict=True)")]
pub fn ip_network<'py>(
    address: &Bound<'py, PyAny>,
    strict: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let strict = truthy(strict)?;
    match net_any(address, strict)? {
        Some((v6, p)) => network_from_parts(address.py(), v6, p),
        None => Err(not_an_address(address, "network")),
    }
}

/// Mirrors `ipaddress.ip_interface(address)`.
#[pyfunction]
#[pyo3(signature = (address))]
pub fn ip_interface<'py>(address: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    match net_any(address, false)? {
        Some((v6, p)) => new_iface(address.py(), v6, p.ip, p.prefix, p.scope),
        None => Err(not_an_address(address, "interface")),
    }
}

fn int_to_packed<'py>(
    address: &Bound<'py, PyAny>,
    size: usize,
    version: u8,
) -> PyResult<Bound<'py, PyAny>> {
    let py = address.py();
    let too_large =
        || PyValueError::new_err(format!("Address negative or too large for IPv{version}"));
    if address.is_instance_of::<PyInt>() {
        let v: u128 = address.extract().map_err(|_| too_large())?;
        if size == 4 && v > u128::from(u32::MAX) {
            return Err(too_large());
        }
        let bytes = v.to_be_bytes();
        return Ok(pyo3::types::PyBytes::new(py, &bytes[16 - size..]).into_any());
    }
    // Not an int: whatever `address.to_bytes(n)` does (usually AttributeError).
    address.call_method1("to_bytes", (size,)).map_err(|e| {
        if e.is_instance_of::<pyo3::exceptions::PyOverflowError>(py) {
            too_large()
        } else {
            e
        }
    })
}

/// Mirrors `ipaddress.v4_int_to_packed(address)`.
#[pyfunction]
#[pyo3(signature = (address))]
pub fn v4_int_to_packed<'py>(address: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    int_to_packed(address, 4, 4)
}

/// Mirrors `ipaddress.v6_int_to_packed(address)`.
#[pyfunction]
#[pyo3(signature = (address))]
pub fn v6_int_to_packed<'py>(address: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    int_to_packed(address, 16, 6)
}

/// Mirrors `ipaddress.summarize_address_range(first, last)`: an iterator of the networks
/// covering `first..=last` (arguments checked on the first `next()`, as the generator).
#[pyfunction]
#[pyo3(signature = (first, last))]
pub fn summarize_address_range<'py>(
    first: &Bound<'py, PyAny>,
    last: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(Bound::new(first.py(), SummarizeIterator::new(first, last))?.into_any())
}

/// Mirrors `ipaddress.get_mixed_type_key(obj)`.
#[pyfunction]
#[pyo3(signature = (obj))]
pub fn get_mixed_type_key<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = obj.py();
    let Some(a) = classify(obj) else {
        return Ok(py.NotImplemented().into_bound(py));
    };
    let version = a.version().into_pyobject(py)?.into_any();
    if a.kind == Kind::Net {
        let na = new_addr_scoped(py, a.v6, a.ip, a.scope)?;
        let mask = new_addr(py, a.v6, core::netmask(a.prefix, a.bits()))?;
        return Ok(PyTuple::new(py, [version, na, mask])?.into_any());
    }
    Ok(PyTuple::new(py, [version, obj.clone()])?.into_any())
}

/// `[ip_address(a) for a in addresses]` in one call; a bad item raises `ip_address`'s
/// `ValueError` with its index.
#[pyfunction]
#[pyo3(signature = (addresses, /))]
pub fn parse_many<'py>(addresses: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let py = addresses.py();
    let mut out: Vec<Bound<'py, PyAny>> = Vec::with_capacity(addresses.len().unwrap_or(0));
    for_each_item(addresses, |item| {
        out.push(ip_address_any(item)?);
        Ok(())
    })?;
    PyList::new(py, out)
}

fn same_version_error(a: &Bound<'_, PyAny>, b_text: &str) -> PyResult<PyErr> {
    Ok(PyTypeError::new_err(format!(
        "{} and {b_text} are not of the same version",
        display(a)?
    )))
}

/// Mirrors `ipaddress.collapse_addresses(addresses)`: an iterator of the collapsed networks.
/// Plain addresses and networks collapse natively; interfaces, scope ids, Python
/// subclasses and mixed versions go through `ferrosock.ipaddress._collapse_generic`, the
/// stdlib's algorithm over these objects, so every result and error is the stdlib's.
#[pyfunction]
#[pyo3(signature = (addresses))]
pub fn collapse_addresses<'py>(addresses: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = addresses.py();
    // Items in `ips`: the object and whether it is a full-length network (whose
    // network_address the stdlib appends).
    let mut ips: Vec<(Bound<'py, PyAny>, bool)> = Vec::new();
    let mut nets: Vec<Bound<'py, PyAny>> = Vec::new();
    let mut ip_vals: Vec<u128> = Vec::new();
    let mut net_vals: Vec<Net> = Vec::new();
    let (mut ips_v6, mut nets_v6): (Option<bool>, Option<bool>) = (None, None);
    let mut last_ip_text = String::new();
    let mut native = true;
    for item in addresses.try_iter()? {
        let item = item?;
        let Some(c) = classify(&item) else {
            return Err(foreign_attr_error(&item, "_prefixlen"));
        };
        if c.kind != Kind::Net || c.prefix == c.bits() {
            if ips_v6.is_some_and(|v6| v6 != c.v6) {
                return Err(same_version_error(&item, &last_ip_text)?);
            }
            ips_v6 = Some(c.v6);
            native &= c.exact && c.kind != Kind::Iface && c.scope.is_none();
            last_ip_text = if c.kind == Kind::Net {
                let mut a = c;
                a.kind = Kind::Addr;
                a.text(py)
            } else {
                display(&item)?
            };
            ip_vals.push(c.ip);
            let is_net = c.kind == Kind::Net;
            ips.push((item.clone(), is_net));
        } else {
            if nets_v6.is_some_and(|v6| v6 != c.v6) {
                if let Some(last) = nets.last() {
                    return Err(same_version_error(&item, &display(last)?)?);
                }
            }
            nets_v6 = Some(c.v6);
            native &= c.exact && c.scope.is_none();
            net_vals.push((c.ip, c.prefix));
            nets.push(item.clone());
        }
    }
    if ips_v6.is_some() && nets_v6.is_some() && ips_v6 != nets_v6 {
        native = false;
    }
    if !native {
        let ip_objs = ips
            .iter()
            .map(|(o, is_net)| {
                if *is_net {
                    o.getattr("network_address")
                } else {
                    Ok(o.clone())
                }
            })
            .collect::<PyResult<Vec<_>>>()?;
        let generic = py
            .import("ferrosock.ipaddress")?
            .getattr("_collapse_generic")?;
        return generic.call1((PyList::new(py, ip_objs)?, PyList::new(py, nets)?));
    }
    let v6 = ips_v6.or(nets_v6).unwrap_or(false);
    let bits = if v6 { V6_BITS } else { V4_BITS };
    ip_vals.sort_unstable();
    ip_vals.dedup();
    let mut to_merge: Vec<Net> = Vec::with_capacity(ip_vals.len().min(1024) + net_vals.len());
    core::summarize_sorted_addresses(&ip_vals, bits, &mut to_merge);
    to_merge.extend_from_slice(&net_vals);
    let collapsed = core::collapse_networks(to_merge, bits);
    let objs = collapsed
        .into_iter()
        .map(|n| new_net(py, v6, n, None))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, objs)?.try_iter()?.into_any())
}

/// Adds the module-level functions to the extension module.
/// Puts a rule set in force: `python/ferrosock/ipaddress.py` calls it once at import with
/// what it probed from the running stdlib, tests call it to pin the other rule sets. The
/// keywords are the fields of [`Rules`]. Members only some versions have
/// (`IPv4Address.ipv6_mapped`) are added to or removed from the class here, so `dir()`
/// matches the stdlib's class.
#[pyfunction]
#[pyo3(signature = (
    *, registry_2024, private_3fff, mapped_dotted, mapped_loopback, mapped_properties,
    ipv6_mapped, single_host_iterator
))]
#[allow(clippy::too_many_arguments)]
fn _ipaddress_set_rules(
    py: Python<'_>,
    registry_2024: bool,
    private_3fff: bool,
    mapped_dotted: bool,
    mapped_loopback: bool,
    mapped_properties: bool,
    ipv6_mapped: bool,
    single_host_iterator: bool,
) -> PyResult<()> {
    // The getter PyO3 put in the class dict, kept from the first call (before any removal)
    // so that it can be put back.
    static IPV6_MAPPED: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let cls = py.get_type::<IPv4Address>();
    let getter = IPV6_MAPPED.get_or_try_init(py, || {
        cls.getattr("__dict__")?
            .get_item("ipv6_mapped")
            .map(Bound::unbind)
    })?;
    let present = cls.getattr("__dict__")?.contains("ipv6_mapped")?;
    if ipv6_mapped && !present {
        cls.setattr("ipv6_mapped", getter.bind(py))?;
    } else if !ipv6_mapped && present {
        cls.delattr("ipv6_mapped")?;
    }
    Rules {
        registry_2024,
        private_3fff,
        mapped_dotted,
        mapped_loopback,
        mapped_properties,
        ipv6_mapped,
        single_host_iterator,
    }
    .install();
    Ok(())
}

/// The rule set in force, as the keywords of `_ipaddress_set_rules`.
#[pyfunction]
fn _ipaddress_rules(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let r = Rules::current();
    let d = PyDict::new(py);
    d.set_item("registry_2024", r.registry_2024)?;
    d.set_item("private_3fff", r.private_3fff)?;
    d.set_item("mapped_dotted", r.mapped_dotted)?;
    d.set_item("mapped_loopback", r.mapped_loopback)?;
    d.set_item("mapped_properties", r.mapped_properties)?;
    d.set_item("ipv6_mapped", r.ipv6_mapped)?;
    d.set_item("single_host_iterator", r.single_host_iterator)?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_ipaddress_set_rules, m)?)?;
    m.add_function(wrap_pyfunction!(_ipaddress_rules, m)?)?;
    m.add_function(wrap_pyfunction!(ip_address, m)?)?;
    m.add_function(wrap_pyfunction!(ip_network, m)?)?;
    m.add_function(wrap_pyfunction!(ip_interface, m)?)?;
    m.add_function(wrap_pyfunction!(v4_int_to_packed, m)?)?;
    m.add_function(wrap_pyfunction!(v6_int_to_packed, m)?)?;
    m.add_function(wrap_pyfunction!(summarize_address_range, m)?)?;
    m.add_function(wrap_pyfunction!(collapse_addresses, m)?)?;
    m.add_function(wrap_pyfunction!(get_mixed_type_key, m)?)?;
    m.add_function(wrap_pyfunction!(parse_many, m)?)?;
    Ok(())
}
