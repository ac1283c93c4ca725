//! ferrosock's native core. Each concern lives in its own module; this file only wires
//! them into the `ferrosock._native` extension module and sets `__version__`.

use pyo3::prelude::*;

mod addr;
mod aiobuf;
mod batch;
mod buffer;
mod entry;
mod errors;
mod framing;
#[doc(hidden)]
pub mod fuzzing;
mod ipaddr;
mod loadgen;
mod procctl;
mod pylong;
mod server;
mod sockaddr;
mod sockio;
mod sockserver;
mod structfmt;
mod udp;

/// The private extension module behind the `ferrosock` package. Users import `ferrosock`.
///
/// `gil_used = true`: the module has never run on a free-threaded interpreter and its unsafe
/// code was written for a GIL, so a free-threaded CPython re-enables the GIL when it imports
/// it (with a warning) rather than trusting a claim no test has made.
#[pymodule(gil_used = true)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    pylong::init(m.py())?;
    addr::register(m)?;
    structfmt::register(m)?;
    loadgen::register(m)?;
    sockaddr::register(m)?;
    framing::register(m)?;
    sockio::register(m)?;
    udp::register(m)?;
    server::register(m)?;
    sockserver::register(m)?;
    ipaddr::register(m)?;
    procctl::register(m)?;
    aiobuf::register(m)?;
    Ok(())
}
