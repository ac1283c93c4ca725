//! `struct` packing and unpacking, through the real `Struct` class in an embedded CPython,
//! against the stdlib's `struct` in the same interpreter (`py/struct_check.py`).
//!
//! The codec converts Python objects, so this target needs Python: the fuzz binary links
//! libpython and registers the crate's `_native` module as a built-in before starting the
//! interpreter; the checker imports `ferrosock.struct` from the checkout's `python/`, whose
//! import sets the running stdlib's rules. Properties (all versus the stdlib): a format compiles or fails alike (same
//! size and `format`, or the same exception and message), on every input; then, for records
//! of at most 4096 bytes, the input's first byte selects one family: any buffer unpacks to the same values, which pack back to
//! the same bytes and unpack to them again; nearby, out-of-range and wrongly typed values
//! give the same bytes or the same exception; `unpack_from` and `pack_into` at any offset
//! agree; `iter_unpack` agrees.
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
        "struct_check",
        include_str!("../py/struct_check.py"),
    );
    run_python_check(check, "struct_check", data);
});
