//! `ferrosock.ipaddress` (the Python facade over the native classes, as users import it)
//! against the stdlib's `ipaddress` in an embedded CPython (`py/ipaddress_check.py`).
//!
//! Like struct_pack this links libpython and registers the crate's `_native` module as a
//! built-in; the facade is imported from the checkout's `python/` directory. Properties (all
//! versus the stdlib): every constructor and factory on the input text gives an object of the
//! same class, `str`, `repr`, properties and `format()` output, or the same exception and
//! message; networks agree on hosts, subnets and supernets; integers and (address, prefix)
//! pairs, `summarize_address_range`, `collapse_addresses`, `address_exclude` and comparisons
//! agree.
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
            let python_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../python");
            py.run(
                &std::ffi::CString::new(format!(
                    "import builtins; builtins.PYTHON_DIR = {python_dir:?}"
                ))
                .unwrap(),
                None,
                None,
            )
            .unwrap();
            let code = std::ffi::CString::new(include_str!("../py/ipaddress_check.py")).unwrap();
            let module = PyModule::from_code(py, &code, c"ipaddress_check.py", c"ipaddress_check")
                .expect("ipaddress_check.py");
            module.getattr("check").unwrap().unbind()
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let check = check_fn();
    Python::attach(|py| {
        if let Err(e) = check.call1(py, (PyBytes::new(py, data),)) {
            e.print(py);
            panic!("ipaddress_check found a difference");
        }
    });
});
