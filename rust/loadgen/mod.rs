//! The benchmark load generator and its ceiling reference, exposed to Python:
//! `loadgen(address, connections, depth, size, framing, duration, ...) -> dict` and
//! `NativeEchoServer`. They ship in the wheel so `python -m ferrosock bench` never has a
//! Python client as its bottleneck. The client runs on its own threads with the GIL
//! released; the calling thread only wakes every 100 ms to let signals through.

mod client;
mod echo;
mod hist;
mod sys;

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr, SocketAddrV6, ToSocketAddrs};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::{
    PyConnectionError, PyOSError, PyRuntimeError, PyTimeoutError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};

use crate::errors::{strerror, type_name};
use crate::framing::Header;
use client::{Config, LoadError, Run};
use echo::{Echo, Exit};
use sys::{Bound as BoundAddr, Listener, Target};

const MAX_CONNECTIONS: usize = 65_536;
const MAX_DEPTH: usize = 65_536;
const MAX_SIZE: usize = 16 * 1024 * 1024;
/// A connection's whole window (`depth` messages) is buffered; keep that bounded.
const MAX_WINDOW: usize = 64 * 1024 * 1024;

/// An `io::Error` as the `OSError` subclass CPython would pick for its errno, with what
/// was being done appended to the message.
fn os_error(what: &str, err: &std::io::Error) -> PyErr {
    match err.raw_os_error() {
        Some(errno) => PyOSError::new_err((errno, format!("{} ({what})", strerror(errno)))),
        None => PyOSError::new_err(format!("{what}: {err}")),
    }
}

impl From<LoadError> for PyErr {
    fn from(e: LoadError) -> PyErr {
        match e {
            LoadError::Io { what, err } => os_error(&what, &err),
            LoadError::Closed { .. } => PyConnectionError::new_err(e.to_string()),
            LoadError::DrainTimeout { .. } => PyTimeoutError::new_err(e.to_string()),
            LoadError::Mismatch { .. } | LoadError::Cancelled | LoadError::Panicked => {
                PyRuntimeError::new_err(e.to_string())
            }
        }
    }
}

/// `(host, port)` / `(host, port, flowinfo, scope_id)` tuples are TCP, as for
/// `socket.connect`; `str`, `bytes` and `os.PathLike` are Unix socket paths.
fn target_from_py(py: Python<'_>, address: &Bound<'_, PyAny>, func: &str) -> PyResult<Target> {
    if let Ok(t) = address.cast::<PyTuple>() {
        if !(2..=4).contains(&t.len()) {
            return Err(PyTypeError::new_err(format!(
                "{func}(): address tuple must be (host, port) or (host, port, flowinfo, \
                 scope_id), not a tuple of {} items",
                t.len()
            )));
        }
        let host: String = t.get_item(0)?.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "{func}(): host must be str, not {}",
                type_name(&t.get_item(0).unwrap_or_else(|_| t.clone().into_any()))
            ))
        })?;
        let port: u16 = t
            .get_item(1)?
            .extract()
            .map_err(|_| PyValueError::new_err(format!("{func}(): port must be 0-65535.")))?;
        let scope_id: u32 = match t.len() {
            4 => t.get_item(3)?.extract()?,
            _ => 0,
        };
        // '' means "any address" to bind(), as in the socket module.
        let host = if host.is_empty() {
            "0.0.0.0".to_owned()
        } else {
            host
        };
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => vec![SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope_id))],
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => py
                .detach(|| (host.as_str(), port).to_socket_addrs())
                .map_err(|e| os_error(&format!("resolving {host:?}"), &e))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(PyOSError::new_err(format!(
                "{host:?} resolved to no address"
            )));
        }
        return Ok(Target::Tcp(addrs));
    }
    if address.is_instance_of::<PyString>()
        || address.is_instance_of::<PyBytes>()
        || address.hasattr("__fspath__")?
    {
        let os = py.import("os")?;
        let raw: Vec<u8> = os.call_method1("fsencode", (address,))?.extract()?;
        if raw.is_empty() || raw.contains(&0) {
            return Err(PyValueError::new_err(format!(
                "{func}(): a Unix socket path must be non-empty and contain no NUL byte"
            )));
        }
        return Ok(Target::Unix(PathBuf::from(OsString::from_vec(raw))));
    }
    Err(PyTypeError::new_err(format!(
        "{func}(): address must be a (host, port) tuple or a Unix socket path, not {}",
        type_name(address)
    )))
}

fn seconds(value: f64, name: &str, allow_zero: bool) -> PyResult<Duration> {
    let ok = value.is_finite() && (value > 0.0 || (allow_zero && value == 0.0));
    if !ok || value > 86_400.0 {
        let what = if allow_zero { ">= 0" } else { "> 0" };
        return Err(PyValueError::new_err(format!(
            "{name} must be a finite number of seconds {what} and at most one day, not {value}"
        )));
    }
    Ok(Duration::from_secs_f64(value))
}

fn in_range(value: usize, name: &str, low: usize, high: usize) -> PyResult<usize> {
    if value < low || value > high {
        return Err(PyValueError::new_err(format!(
            "{name} must be between {low} and {high}, not {value}"
        )));
    }
    Ok(value)
}

/// Load generator for echo servers (no stdlib counterpart; `python -m ferrosock bench`
/// uses it to drive every compared server).
///
/// Opens `connections` streams to `address` (a `(host, port)` tuple, IPv4 or IPv6, or a
/// Unix socket path), keeps `depth` messages of `size` payload bytes in flight on each
/// (`depth=1` is ping-pong) for `warmup + duration` seconds, and verifies every echoed
/// byte. `framing='frame'` prefixes each message with its length in `header` (a
/// `ferrosock.framing` header format, `'!I'` by default); `'raw'` sends bare payloads.
/// After the run it waits up to `drain_timeout` seconds for the echoes still owed.
///
/// Returns a dict: `messages` echoed inside the measured window, `msgs_per_sec`, round-trip
/// latency quantiles in microseconds (`p50_us`, `p90_us`, `p99_us`, `p999_us`, `max_us`,
/// `mean_us`), `verified` (every checked echo, warm-up and drain included), `bytes_sent`,
/// `bytes_received`, `client_cpu_s` (CPU used by the client threads) and the parameters.
///
/// Raises `OSError` (errno kept) when a socket call fails, `ConnectionError` when the
/// server closes a connection that still owes echoes, `RuntimeError` on the first byte
/// that differs from what was sent, and `TimeoutError` when the drain times out.
#[pyfunction]
#[pyo3(signature = (
    address, connections=1, depth=1, size=64, framing="raw", duration=1.0, *,
    warmup=0.0, header="!I", threads=1, drain_timeout=5.0
))]
#[allow(clippy::too_many_arguments)]
fn loadgen<'py>(
    py: Python<'py>,
    address: &Bound<'py, PyAny>,
    connections: usize,
    depth: usize,
    size: usize,
    framing: &str,
    duration: f64,
    warmup: f64,
    header: &str,
    threads: usize,
    drain_timeout: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let target = target_from_py(py, address, "loadgen")?;
    let connections = in_range(connections, "connections", 1, MAX_CONNECTIONS)?;
    let depth = in_range(depth, "depth", 1, MAX_DEPTH)?;
    let header = match framing {
        "raw" => None,
        "frame" => Some(Header::parse(header).map_err(|e| PyValueError::new_err(e.0))?),
        other => {
            return Err(PyValueError::new_err(format!(
                "framing must be 'raw' or 'frame', not {other:?}"
            )))
        }
    };
    let min_size = if header.is_some() { 0 } else { 1 };
    let size = in_range(size, "size", min_size, MAX_SIZE)?;
    if let Some(h) = header {
        if !h.fits(size) {
            return Err(PyValueError::new_err(format!(
                "size {size} does not fit in a {header:?} header"
            )));
        }
    }
    let cfg = Config {
        target,
        connections,
        depth,
        size,
        header,
        warmup: seconds(warmup, "warmup", true)?,
        duration: seconds(duration, "duration", false)?,
        threads: in_range(threads, "threads", 1, 256)?,
        drain_timeout: seconds(drain_timeout, "drain_timeout", false)?,
    };
    if depth.saturating_mul(cfg.wire_len()) > MAX_WINDOW {
        return Err(PyValueError::new_err(format!(
            "depth * message size must be at most {MAX_WINDOW} bytes per connection"
        )));
    }
    let threads = cfg.threads.min(connections);
    let wire_len = cfg.wire_len();

    let run = Run::start(cfg);
    while !py.detach(|| run.wait(Duration::from_millis(100))) {
        if let Err(e) = py.check_signals() {
            run.cancel();
            // The workers notice within one 50 ms epoll wait; their result no longer
            // matters, the signal's exception does.
            let _ = py.detach(move || run.finish());
            return Err(e);
        }
    }
    let r = py.detach(move || run.finish())?;

    let us = |ns: u64| ns as f64 / 1000.0;
    let d = PyDict::new(py);
    d.set_item("messages", r.messages)?;
    d.set_item("seconds", r.seconds)?;
    let rate = if r.seconds > 0.0 {
        r.messages as f64 / r.seconds
    } else {
        0.0
    };
    d.set_item("msgs_per_sec", rate)?;
    d.set_item("p50_us", us(r.latency.quantile(0.50)))?;
    d.set_item("p90_us", us(r.latency.quantile(0.90)))?;
    d.set_item("p99_us", us(r.latency.quantile(0.99)))?;
    d.set_item("p999_us", us(r.latency.quantile(0.999)))?;
    d.set_item("max_us", us(r.latency.max()))?;
    d.set_item("mean_us", r.latency.mean() / 1000.0)?;
    d.set_item("verified", r.verified)?;
    d.set_item("bytes_sent", r.bytes_sent)?;
    d.set_item("bytes_received", r.bytes_received)?;
    d.set_item("client_cpu_s", r.client_cpu)?;
    d.set_item("connections", connections)?;
    d.set_item("depth", depth)?;
    d.set_item("size", size)?;
    d.set_item("wire_size", wire_len)?;
    d.set_item("framing", framing)?;
    d.set_item("threads", threads)?;
    Ok(d)
}

/// The load generator's ceiling reference: a one-thread epoll echo server in Rust (no
/// stdlib counterpart). It writes back every byte it reads, so it serves raw and framed
/// traffic alike, and involves no Python per message.
///
/// `NativeEchoServer(address)` binds and listens at once (`(host, port)` with port 0
/// allowed, or a Unix socket path; a stale socket file is replaced and the file is removed
/// on close). `serve_forever()` blocks with the GIL released until `shutdown()` (from any
/// thread; sticky, so a shutdown before serving is not lost) or until a signal handler
/// raises. Connections are closed when `serve_forever` returns.
#[pyclass(frozen, module = "ferrosock._native")]
pub struct NativeEchoServer {
    echo: Mutex<Option<Arc<Echo>>>,
    serving: Mutex<()>,
    address: Py<PyAny>,
}

impl NativeEchoServer {
    fn echo(&self) -> PyResult<Arc<Echo>> {
        let guard = self.echo.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .as_ref()
            .map(Arc::clone)
            .ok_or_else(|| PyValueError::new_err("operation on a closed NativeEchoServer"))
    }
}

#[pymethods]
impl NativeEchoServer {
    #[new]
    fn new(py: Python<'_>, address: &Bound<'_, PyAny>) -> PyResult<Self> {
        let target = target_from_py(py, address, "NativeEchoServer")?;
        let listener =
            Listener::bind(&target).map_err(|e| os_error(&format!("bind {target}"), &e))?;
        let address = match listener
            .local_addr()
            .map_err(|e| os_error("getsockname", &e))?
        {
            BoundAddr::Tcp(SocketAddr::V4(a)) => (a.ip().to_string(), a.port())
                .into_pyobject(py)?
                .into_any()
                .unbind(),
            BoundAddr::Tcp(SocketAddr::V6(a)) => {
                (a.ip().to_string(), a.port(), a.flowinfo(), a.scope_id())
                    .into_pyobject(py)?
                    .into_any()
                    .unbind()
            }
            BoundAddr::Unix(p) => p
                .to_string_lossy()
                .into_owned()
                .into_pyobject(py)?
                .into_any()
                .unbind(),
        };
        let echo = Echo::new(listener).map_err(|e| os_error("eventfd", &e))?;
        Ok(Self {
            echo: Mutex::new(Some(Arc::new(echo))),
            serving: Mutex::new(()),
            address,
        })
    }

    /// The bound address, as `socket.getsockname()` gives it (a path for Unix sockets).
    #[getter]
    fn server_address(&self, py: Python<'_>) -> Py<PyAny> {
        self.address.clone_ref(py)
    }

    /// Serves until `shutdown()`; signal handlers run every time a signal interrupts the
    /// wait, and an exception they raise stops serving and propagates.
    fn serve_forever(&self, py: Python<'_>) -> PyResult<()> {
        let echo = self.echo()?;
        let _serving = self
            .serving
            .try_lock()
            .map_err(|_| PyRuntimeError::new_err("serve_forever() is already running"))?;
        let mut state = echo::State::default();
        loop {
            match py.detach(|| echo.serve(&mut state)) {
                Ok(Exit::Shutdown) => return Ok(()),
                Ok(Exit::Interrupted) => py.check_signals()?,
                Err(e) => return Err(os_error("echo server", &e)),
            }
        }
    }

    /// Makes `serve_forever()` return, from any thread.
    fn shutdown(&self) {
        if let Ok(echo) = self.echo() {
            echo.shutdown();
        }
    }

    /// Shuts down and releases the listening socket (once `serve_forever` has returned,
    /// if it is running). Idempotent.
    fn close(&self) {
        let taken = self.echo.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(echo) = taken {
            echo.shutdown();
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) {
        self.close();
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(loadgen, m)?)?;
    m.add_class::<NativeEchoServer>()?;
    Ok(())
}
