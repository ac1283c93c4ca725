//! Python exceptions raised the way CPython's `socketmodule.c` raises them, so that
//! `except` clauses, `.errno` and the `OSError` subclass picked from it match the stdlib.

use pyo3::exceptions::{PyOSError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyType;

/// `OSError(errno, strerror)`: CPython maps the errno to its subclass (`ConnectionResetError`,
/// `BlockingIOError`, ...) and sets `.errno`, exactly like `PyErr_SetFromErrno`.
/// `From<io::Error> for PyErr` is not used because it loses that mapping for some codes.
///
/// The exception object is built at once (not lazily) so that `PyErr::is_instance_of`
/// sees the subclass: a lazy `OSError` answers `false` for `BlockingIOError` until
/// normalised.
pub fn os_error_from_errno(errno: i32) -> PyErr {
    Python::attach(|py| {
        let lazy = PyOSError::new_err((errno, strerror(errno)));
        PyErr::from_value(lazy.into_value(py).into_bound(py).into_any())
    })
}

/// The text `strerror(3)` gives for `errno`, as CPython puts it in `OSError.strerror`.
pub fn strerror(errno: i32) -> String {
    std::io::Error::from_raw_os_error(errno)
        .to_string()
        .split(" (os error")
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The `TypeError` `PyArg_ParseTuple` raises for an argument of the wrong type:
/// `"inet_aton() argument 1 must be str, not bytes"`.
pub fn arg_type_error(func: &str, pos: usize, expected: &str, got: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!(
        "{func}() argument {pos} must be {expected}, not {}",
        arg_type_name(got)
    ))
}

/// The type name argument parsers print: `None` for None (not `NoneType`), as CPython's
/// `converterr` does.
pub fn arg_type_name(obj: &Bound<'_, PyAny>) -> String {
    if obj.is_none() {
        "None".to_owned()
    } else {
        type_name(obj)
    }
}

/// `type(obj).__name__`, for error messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    let ty: Bound<'_, PyType> = obj.get_type();
    ty.name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".to_owned())
}

/// Re-raises `err` as the same exception class with `suffix` appended to its message:
/// batch functions use it to say which item failed while keeping the single form's class.
/// An `OSError` that carries an errno (a `gaierror` from the resolver, say) keeps it, with
/// the suffix on its `strerror`.
pub fn with_context(py: Python<'_>, err: PyErr, suffix: &str) -> PyErr {
    let ty = err.get_type(py);
    let value = err.value(py);
    let attr = |name: &str| value.getattr(name).ok().filter(|v| !v.is_none());
    let rebuilt = if value.is_instance_of::<PyOSError>() {
        match (attr("errno"), attr("strerror")) {
            (Some(errno), Some(strerror)) => Some(ty.call1((errno, format!("{strerror}{suffix}")))),
            _ => None,
        }
    } else {
        None
    };
    let rebuilt = rebuilt.unwrap_or_else(|| {
        let msg = value
            .str()
            .map(|s| s.to_string())
            .unwrap_or_else(|_| String::new());
        ty.call1((format!("{msg}{suffix}"),))
    });
    let new = match rebuilt {
        Ok(obj) => PyErr::from_value(obj),
        Err(_) => return err,
    };
    new.set_cause(py, Some(err));
    new
}

/// `TimeoutError("timed out")`, exactly as `socketmodule.c` raises it when a socket's
/// timeout expires.
pub fn timeout_error() -> PyErr {
    pyo3::exceptions::PyTimeoutError::new_err("timed out")
}

static INCOMPLETE_READ_ERROR: pyo3::sync::PyOnceLock<Py<PyType>> = pyo3::sync::PyOnceLock::new();
static FRAME_ERROR: pyo3::sync::PyOnceLock<Py<PyType>> = pyo3::sync::PyOnceLock::new();

/// `ferrosock.IncompleteReadError(partial, expected)` (defined in Python, an `EOFError`):
/// the stream ended after `partial` of the `expected` bytes.
pub fn incomplete_read_error(py: Python<'_>, partial: &[u8], expected: u64) -> PyErr {
    match INCOMPLETE_READ_ERROR.import(py, "ferrosock._errors", "IncompleteReadError") {
        Ok(cls) => match cls.call1((pyo3::types::PyBytes::new(py, partial), expected)) {
            Ok(exc) => PyErr::from_value(exc),
            Err(e) => e,
        },
        Err(e) => e,
    }
}

/// `ferrosock.FrameError(message)` (defined in Python, a `ValueError`).
pub fn frame_error(py: Python<'_>, message: String) -> PyErr {
    match FRAME_ERROR.import(py, "ferrosock._errors", "FrameError") {
        Ok(cls) => match cls.call1((message,)) {
            Ok(exc) => PyErr::from_value(exc),
            Err(e) => e,
        },
        Err(e) => e,
    }
}
