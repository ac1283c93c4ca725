//! `ferrosock.ipaddress`: the stdlib's `ipaddress` (CPython 3.11.7 `Lib/ipaddress.py`, the
//! specification) as native types and functions.
//!
//! `core` is plain Rust (parsing, formatting, tables, range algorithms) with unit tests;
//! `conv` reads Python arguments and builds the stdlib's exceptions; `ops` holds the
//! behaviour the classes share; `objects` the six classes; `iters` the generator-like
//! iterators; `funcs` the module functions; `slots` two hand-installed fast slots. The
//! Python face is `python/ferrosock/ipaddress.py`.

mod conv;
pub(crate) mod core;
mod funcs;
mod iters;
mod objects;
mod ops;
mod slots;

use pyo3::prelude::*;

/// Adds the classes and functions to the extension module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<objects::IPv4Address>()?;
    m.add_class::<objects::IPv4Interface>()?;
    m.add_class::<objects::IPv4Network>()?;
    m.add_class::<objects::IPv6Address>()?;
    m.add_class::<objects::IPv6Interface>()?;
    m.add_class::<objects::IPv6Network>()?;
    let py = m.py();
    for cls in [
        py.get_type::<objects::IPv4Address>(),
        py.get_type::<objects::IPv4Interface>(),
        py.get_type::<objects::IPv4Network>(),
        py.get_type::<objects::IPv6Address>(),
        py.get_type::<objects::IPv6Interface>(),
        py.get_type::<objects::IPv6Network>(),
        py.get_type::<iters::AddressIterator>(),
        py.get_type::<iters::SubnetsIterator>(),
        py.get_type::<iters::ExcludeIterator>(),
        py.get_type::<iters::SummarizeIterator>(),
    ] {
        // NOTE: a type made from a spec has the dotted spec name as `tp_name`, which
        // CPython prints in its own messages ("'ferrosock.ipaddress.IPv4Address' object
        // has no attribute ...", "unsupported operand type(s) ..."); the stdlib's classes
        // print the bare name. Re-setting `__name__` sets `tp_name` to it; `__module__`
        // (kept in the type's dict) is unchanged, so pickling still finds the class.
        let name = cls.name()?;
        cls.setattr("__name__", name)?;
    }
    slots::install(py)?;
    funcs::register(m)
}
