//! ferrosock's `inet_aton`, `inet_pton`, `inet_ntoa`, `inet_ntop` and `hton*`/`ntoh*` as
//! users call them, against the stdlib's `socket` in an embedded CPython
//! (`py/addr_check.py`): the same results, or the same exception, message and errno, for
//! `str`, `bytes` and buffer arguments, any address family number, any packed length and
//! negative, too large and wrongly typed integers. The argument conversion and error layer
//! of `addr.rs` is what the `inet_*` targets do not reach.
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
            let code = std::ffi::CString::new(include_str!("../py/addr_check.py")).unwrap();
            let module = PyModule::from_code(py, &code, c"addr_check.py", c"addr_check")
                .expect("addr_check.py");
            module.getattr("check").unwrap().unbind()
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let check = check_fn();
    Python::attach(|py| {
        if let Err(e) = check.call1(py, (PyBytes::new(py, data),)) {
            e.print(py);
            panic!("addr_check found a difference");
        }
    });
});
