//! `ferrosock.ipaddress`: the stdlib's `ipaddress` (CPython 3.11.7 `Lib/ipaddress.py`, the
//! specification) as native types and functions.
//!
//! `core` is plain Rust (parsing, formatting, tables, range algorithms) with unit tests;
//! `conv` reads Python arguments and builds the stdlib's exceptions; `ops` holds the
//! behaviour the classes share; `objects` the six classes; `iters` the generator-like
//! iterators; `funcs` the module functions. The Python face is
//! `python/ferrosock/ipaddress.py`.

mod conv;
mod core;
mod funcs;
mod iters;
mod objects;
mod ops;

use pyo3::prelude::*;

/// Adds the classes and functions to the extension module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<objects::IPv4Address>()?;
    m.add_class::<objects::IPv4Interface>()?;
    m.add_class::<objects::IPv4Network>()?;
    m.add_class::<objects::IPv6Address>()?;
    m.add_class::<objects::IPv6Interface>()?;
    m.add_class::<objects::IPv6Network>()?;
    funcs::register(m)
}
