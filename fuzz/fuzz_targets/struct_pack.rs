//! `struct` packing and unpacking, through the real `Struct` class in an embedded CPython,
//! against the stdlib's `struct` in the same interpreter (`py/struct_check.py`).
//!
//! The codec converts Python objects, so this target needs Python: the fuzz binary links
//! libpython and registers the crate's `_native` module as a built-in before starting the
//! interpreter. Properties (all versus the stdlib): a format compiles or fails alike (same
//! size, or the same exception and message); any buffer unpacks to the same values; those
//! values pack back to the same bytes, which unpack to them again; nearby, out-of-range and
//! wrongly typed values give the same bytes or the same exception; `unpack_from`,
//! `pack_into` at any offset and `iter_unpack` agree.
#![no_main]

use std::sync::OnceLock;

// Linked for its `PyInit__native`, which nothing else here names.
extern crate _native;

use libfuzzer_sys::fuzz_target;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

extern "C" {
    // The crate's `#[pymodule]` entry point.
    fn PyInit__native() -> *mut pyo3::ffi::PyObject;
}

static CHECK: OnceLock<Py<PyAny>> = OnceLock::new();

fn check_fn() -> &'static Py<PyAny> {
    CHECK.get_or_init(|| {
        // SAFETY: called once, before the interpreter starts; the name is a static C string
        // and the function is the module's init entry point.
        let rc =
            unsafe { pyo3::ffi::PyImport_AppendInittab(c"_native".as_ptr(), Some(PyInit__native)) };
        assert_eq!(rc, 0, "PyImport_AppendInittab failed");
        Python::initialize();
        Python::attach(|py| {
            let code = std::ffi::CString::new(include_str!("../py/struct_check.py")).unwrap();
            let module = PyModule::from_code(py, &code, c"struct_check.py", c"struct_check")
                .expect("struct_check.py");
            module.getattr("check").unwrap().unbind()
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let check = check_fn();
    Python::attach(|py| {
        if let Err(e) = check.call1(py, (PyBytes::new(py, data),)) {
            e.print(py);
            panic!("struct_check found a difference");
        }
    });
});
