//! `ferrosock.ipaddress` (the Python facade over the native classes, as users import it)
//! against the stdlib's `ipaddress` in an embedded CPython (`py/ipaddress_check.py`).
//!
//! Like struct_pack this links libpython and registers the crate's `_native` module as a
//! built-in; the facade is imported from the checkout's `python/` directory. Properties (all
//! versus the stdlib): every constructor and factory on the input text gives an object of the
//! same class, `str` and `repr`, properties and `format()` output, or the same exception and
//! message; networks agree on hosts, subnets and supernets; integers and (address, prefix)
//! pairs, `summarize_address_range`, `collapse_addresses`, `address_exclude` and comparisons
//! agree. The input's first byte selects one family (a constructor and one of properties,
//! formats, network operations; or integers, summaries (v4, v6), collapse, exclude): the
//! stdlib's side is pure Python, so one family an execution is what keeps it fast.
#![no_main]

use std::sync::OnceLock;

// Linked for its `PyInit__native`, which the shared checker registers.
extern crate _native;

use fuzzkit::{python_checker, run_python_check};
use libfuzzer_sys::fuzz_target;
use pyo3::prelude::*;

static CHECK: OnceLock<Py<PyAny>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let check = python_checker(
        &CHECK,
        "ipaddress_check",
        include_str!("../py/ipaddress_check.py"),
    );
    run_python_check(check, "ipaddress_check", data);
});
