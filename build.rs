//! Gives the crate PyO3's interpreter cfgs (`Py_3_12`, `Py_3_14`, `Py_GIL_DISABLED`, ...), so
//! the few places that reach into a C-API detail which changed between CPython versions can
//! choose at compile time, for the interpreter the wheel is built for.

fn main() {
    pyo3_build_config::use_pyo3_cfgs();
}
