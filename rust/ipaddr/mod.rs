//! `ferrosock.ipaddress`: the stdlib's `ipaddress` (the running interpreter's
//! `Lib/ipaddress.py` is the specification) as native types and functions. The Python
//! face is `python/ferrosock/ipaddress.py`, which also probes the stdlib at import and
//! sets the version rules (`rules`).
//!
//! The files are layers; each imports only from the layers before it (no circles):
//!
//! 1. `core`: plain Rust parsing, formatting and range algorithms, with unit tests.
//! 2. `rules`: plain Rust, the version-dependent rule set (one atomic value), the
//!    special-range tables and the `is_*` predicates, with unit tests.
//! 3. `types`: the `#[pyclass]` layouts of the six classes and the address iterator.
//! 4. `slots`: allocation (`new_addr`, `new_net`, ...; the non-GC address and network
//!    classes) and the hand-installed `sq_contains`/`tp_iternext` slots.
//! 5. `conv`: reading Python arguments, `str()` text, the stdlib's exceptions.
//! 6. `ops`: the behaviour the classes share (`repr`, hashing, comparison, `exploded`).
//! 7. `iters`: the generator-like iterators' Python methods.
//! 8. `objects` (the six classes' Python methods) and `funcs` (the module functions),
//!    independent of each other.

mod conv;
pub(crate) mod core;
mod funcs;
mod iters;
mod objects;
mod ops;
mod rules;
mod slots;
mod types;

use pyo3::prelude::*;

/// Adds the classes and functions to the extension module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<types::IPv4Address>()?;
    m.add_class::<types::IPv4Interface>()?;
    m.add_class::<types::IPv4Network>()?;
    m.add_class::<types::IPv6Address>()?;
    m.add_class::<types::IPv6Interface>()?;
    m.add_class::<types::IPv6Network>()?;
    let py = m.py();
    for cls in [
        py.get_type::<types::IPv4Address>(),
        py.get_type::<types::IPv4Interface>(),
        py.get_type::<types::IPv4Network>(),
        py.get_type::<types::IPv6Address>(),
        py.get_type::<types::IPv6Interface>(),
        py.get_type::<types::IPv6Network>(),
        py.get_type::<types::AddressIterator>(),
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
