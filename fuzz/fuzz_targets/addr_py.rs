//! ferrosock's `inet_aton`, `inet_pton`, `inet_ntoa`, `inet_ntop` and `hton*`/`ntoh*` as
//! users call them, against the stdlib's `socket` in an embedded CPython
//! (`py/addr_check.py`): the same results, or the same exception, message and errno, for
//! `str`, `bytes` and buffer arguments, any address family number, any packed length and
//! negative, too large and wrongly typed integers. The input's first byte selects the
//! function family checked (aton, pton, ntoa, ntop, 16-bit and 32-bit byte order), so one
//! execution is a handful of calls and coverage steers between families. The argument
//! conversion and error layer of `addr.rs` is what the `inet_*` targets do not reach.
#![no_main]

use std::sync::OnceLock;

// Linked for its `PyInit__native`, which the shared checker registers.
extern crate _native;

use fuzzkit::{python_checker, run_python_check};
use libfuzzer_sys::fuzz_target;
use pyo3::prelude::*;

static CHECK: OnceLock<Py<PyAny>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let check = python_checker(&CHECK, "addr_check", include_str!("../py/addr_check.py"));
    run_python_check(check, "addr_check", data);
});
