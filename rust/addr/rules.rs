//! The one place where `addr` depends on the running interpreter: the argument rules of
//! its `_socket` module, which CPython 3.13 moved from `PyArg_ParseTuple` to Argument
//! Clinic, changing two exception messages:
//!
//! - `htons`/`ntohs` take a C `int`: the `i` format says "signed integer is greater than
//!   maximum" / "... less than minimum" (and "Python int too large to convert to C long"
//!   past a C long), Clinic's `int` converter (`PyLong_AsInt`) says "Python int too large
//!   to convert to C int" for all of them;
//! - `inet_aton`'s `str` argument: the `s` format says "inet_aton() argument 1 must be str,
//!   not bytes", Clinic's one-argument converter drops the number.
//!
//! The rule set is decided once, when the module is created, by calling the stdlib's own
//! functions with an input on which the rule sets differ and keeping the rule whose
//! message matches ([`probe`]); nothing is read from `sys.version_info`, because such
//! conversions have landed in patch releases too. The rules are read only on error paths,
//! so the success paths pay nothing for them. Tests force either set with
//! `_native._set_addr_rules` to pin both whatever interpreter runs them.

use std::sync::atomic::{AtomicU8, Ordering};

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::errors::{arg_type_error, arg_type_name};

/// Which argument parser produced the stdlib's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parser {
    /// `PyArg_ParseTuple` and its format units (CPython 3.11, 3.12).
    Getargs,
    /// Argument Clinic's converters (CPython 3.13).
    Clinic,
}

impl Parser {
    const ALL: [Parser; 2] = [Parser::Getargs, Parser::Clinic];

    fn name(self) -> &'static str {
        match self {
            Parser::Getargs => "getargs",
            Parser::Clinic => "clinic",
        }
    }

    fn from_name(name: &str) -> PyResult<Parser> {
        Parser::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                PyValueError::new_err(format!(
                    "unknown argument parser {name:?} (expected 'getargs' or 'clinic')"
                ))
            })
    }
}

/// The rule set: how `htons`/`ntohs` convert their C `int`, and how `inet_aton` checks
/// its `str`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    pub short_int: Parser,
    pub aton_str: Parser,
}

/// The current [`Rules`], two bits (set: Clinic). Relaxed ordering is enough: the value
/// is written at module creation (and by tests), under the GIL, and read under it.
static RULES: AtomicU8 = AtomicU8::new(0);

const SHORT_INT_CLINIC: u8 = 1;
const ATON_STR_CLINIC: u8 = 2;

/// The rule set in force.
pub fn rules() -> Rules {
    let bits = RULES.load(Ordering::Relaxed);
    let pick = |bit: u8| {
        if bits & bit != 0 {
            Parser::Clinic
        } else {
            Parser::Getargs
        }
    };
    Rules {
        short_int: pick(SHORT_INT_CLINIC),
        aton_str: pick(ATON_STR_CLINIC),
    }
}

fn set_rules(r: Rules) {
    let bit = |p: Parser, bit: u8| if p == Parser::Clinic { bit } else { 0 };
    RULES.store(
        bit(r.short_int, SHORT_INT_CLINIC) | bit(r.aton_str, ATON_STR_CLINIC),
        Ordering::Relaxed,
    );
}

/// The `OverflowError` for a C `int` argument out of range: `fits_long` says whether the
/// argument fits a C long (then `negative` gives its side).
pub fn int_range_error(parser: Parser, fits_long: bool, negative: bool) -> PyErr {
    let msg = match (parser, fits_long, negative) {
        (Parser::Clinic, _, _) => "Python int too large to convert to C int",
        (Parser::Getargs, false, _) => "Python int too large to convert to C long",
        (Parser::Getargs, true, true) => "signed integer is less than minimum",
        (Parser::Getargs, true, false) => "signed integer is greater than maximum",
    };
    PyOverflowError::new_err(msg)
}

/// The `TypeError` for a non-`str` argument of a function that takes only that argument
/// (`inet_aton`).
pub fn sole_str_arg_error(parser: Parser, func: &str, got: &Bound<'_, PyAny>) -> PyErr {
    match parser {
        Parser::Getargs => arg_type_error(func, 1, "str", got),
        Parser::Clinic => PyTypeError::new_err(format!(
            "{func}() argument must be str, not {}",
            arg_type_name(got)
        )),
    }
}

/// The message `f(*args)` raises, if it raises.
fn message_of(f: &Bound<'_, PyAny>, arg: Bound<'_, PyAny>) -> Option<String> {
    let err = f.call1((arg,)).err()?;
    let text = err.value(f.py()).str().ok()?;
    Some(text.to_string())
}

/// Keeps the parser whose message for the probe matches the stdlib's; Clinic, the newer
/// behaviour, when none does (the differential tests then point at the new message).
fn matching(stdlib: Option<String>, ours: impl Fn(Parser) -> PyErr, py: Python<'_>) -> Parser {
    Parser::ALL
        .into_iter()
        .find(|&p| {
            let mine = ours(p).value(py).str().map(|s| s.to_string()).ok();
            mine.is_some() && mine == stdlib
        })
        .unwrap_or(Parser::Clinic)
}

/// Decides the rule set from the running interpreter's `_socket`: `htons(2**31)` (above
/// a C int, inside a C long) and `inet_aton(None)`.
pub fn probe(py: Python<'_>) -> PyResult<Rules> {
    let socket = py.import("_socket")?;
    let big = 1i64 << 31;
    let short = message_of(&socket.getattr("htons")?, big.into_pyobject(py)?.into_any());
    let aton = message_of(&socket.getattr("inet_aton")?, py.None().into_bound(py));
    let none = py.None().into_bound(py);
    Ok(Rules {
        short_int: matching(short, |p| int_range_error(p, true, false), py),
        aton_str: matching(aton, |p| sole_str_arg_error(p, "inet_aton", &none), py),
    })
}

/// `_addr_rules() -> (short_int, aton_str)`: the rule set in force, each `"getargs"` or
/// `"clinic"`. For tests and diagnostics.
#[pyfunction]
fn _addr_rules() -> (&'static str, &'static str) {
    let r = rules();
    (r.short_int.name(), r.aton_str.name())
}

/// `_set_addr_rules(short_int, aton_str)`: forces a rule set (tests pin both this way);
/// `_set_addr_rules(None, None)` goes back to what the probe found.
#[pyfunction]
#[pyo3(signature = (short_int, aton_str, /))]
fn _set_addr_rules(
    py: Python<'_>,
    short_int: Option<&Bound<'_, PyString>>,
    aton_str: Option<&Bound<'_, PyString>>,
) -> PyResult<()> {
    let probed = probe(py)?;
    let pick = |given: Option<&Bound<'_, PyString>>, default: Parser| -> PyResult<Parser> {
        given.map_or(Ok(default), |s| Parser::from_name(s.to_str()?))
    };
    set_rules(Rules {
        short_int: pick(short_int, probed.short_int)?,
        aton_str: pick(aton_str, probed.aton_str)?,
    });
    Ok(())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    set_rules(probe(m.py())?);
    m.add_function(wrap_pyfunction!(_addr_rules, m)?)?;
    m.add_function(wrap_pyfunction!(_set_addr_rules, m)?)?;
    Ok(())
}
