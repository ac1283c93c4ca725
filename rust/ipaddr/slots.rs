//! Direct type slots for the two tiny operations with the tightest targets: `addr in net`
//! for the exact classes, and `next()` on the address iterator behind `hosts()` and
//! `iter(net)`.
//!
//! PyO3 routes every slot through a trampoline that records, in thread-local state, that
//! the thread is attached (and catches panics); for an operation that is a mask and a
//! compare, that bookkeeping is a third of the time. After PyO3 builds the types, these
//! functions replace `sq_contains` of the two network types and `tp_iternext` of the
//! iterator. Each handles the exact-class case itself and hands everything else to the
//! slot PyO3 generated, so behaviour is unchanged; `__contains__`/`__next__` called as
//! methods still go through PyO3.

use std::os::raw::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

use pyo3::exceptions::PySystemError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::PyTypeInfo;

use super::iters::AddressIterator;
use super::objects::{new_addr, IPv4Address, IPv4Network, IPv6Address, IPv6Network};

/// The exact types, as addresses (heap types PyO3 keeps alive for the interpreter's
/// life), and the slots PyO3 generated; written once by `install` before any instance
/// exists, read with relaxed loads (plain moves) on every call.
static ADDR4: AtomicUsize = AtomicUsize::new(0);
static ADDR6: AtomicUsize = AtomicUsize::new(0);
static NET4: AtomicUsize = AtomicUsize::new(0);
static NET6: AtomicUsize = AtomicUsize::new(0);
static NET4_CONTAINS: AtomicUsize = AtomicUsize::new(0);
static NET6_CONTAINS: AtomicUsize = AtomicUsize::new(0);

fn type_addr(ob: *mut ffi::PyObject) -> usize {
    // SAFETY: CPython passes live objects to slots; reading the type pointer is a field
    // read.
    unsafe { ffi::Py_TYPE(ob) as usize }
}

/// Calls the slot PyO3 generated, saved in `cell`.
///
/// # Safety
/// `cell` holds an `objobjproc` stored by `install`, and the arguments are the ones CPython
/// passed to the replacing slot.
unsafe fn generated(
    cell: &AtomicUsize,
    slf: *mut ffi::PyObject,
    other: *mut ffi::PyObject,
) -> c_int {
    let f = cell.load(Ordering::Relaxed);
    if f == 0 {
        return -1;
    }
    // SAFETY: a non-zero value was stored from a valid `objobjproc` (see `install`).
    let f: ffi::objobjproc = unsafe { std::mem::transmute::<usize, ffi::objobjproc>(f) };
    // SAFETY: the caller's contract.
    unsafe { f(slf, other) }
}

unsafe extern "C" fn net4_contains(slf: *mut ffi::PyObject, other: *mut ffi::PyObject) -> c_int {
    if type_addr(other) == ADDR4.load(Ordering::Relaxed)
        && type_addr(slf) == NET4.load(Ordering::Relaxed)
    {
        // SAFETY: CPython calls sq_contains from an attached thread with two live objects,
        // just checked to be exactly IPv4Network and IPv4Address; borrowing them does not
        // touch their reference counts, and reading frozen fields cannot panic.
        unsafe {
            let py = Python::assume_attached();
            let net = Borrowed::from_ptr(py, slf).cast_unchecked::<IPv4Network>();
            let addr = Borrowed::from_ptr(py, other).cast_unchecked::<IPv4Address>();
            return c_int::from(net.get().contains_ip(addr.get().ip));
        }
    }
    // SAFETY: the generated slot, with CPython's arguments.
    unsafe { generated(&NET4_CONTAINS, slf, other) }
}

unsafe extern "C" fn net6_contains(slf: *mut ffi::PyObject, other: *mut ffi::PyObject) -> c_int {
    if type_addr(other) == ADDR6.load(Ordering::Relaxed)
        && type_addr(slf) == NET6.load(Ordering::Relaxed)
    {
        // SAFETY: as in `net4_contains`, for IPv6Network and IPv6Address.
        unsafe {
            let py = Python::assume_attached();
            let net = Borrowed::from_ptr(py, slf).cast_unchecked::<IPv6Network>();
            let addr = Borrowed::from_ptr(py, other).cast_unchecked::<IPv6Address>();
            return c_int::from(net.get().contains_ip(addr.get().ip));
        }
    }
    // SAFETY: the generated slot, with CPython's arguments.
    unsafe { generated(&NET6_CONTAINS, slf, other) }
}

unsafe extern "C" fn address_next(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: CPython calls tp_iternext from an attached thread with a live object of the
    // iterator type (which cannot be subclassed).
    let py = unsafe { Python::assume_attached() };
    let step = catch_unwind(AssertUnwindSafe(
        || -> PyResult<Option<Bound<'_, PyAny>>> {
            // SAFETY: `slf` is a live AddressIterator (see above); borrowed, not owned.
            let it = unsafe { Borrowed::from_ptr(py, slf).cast_unchecked::<AddressIterator>() };
            let mut state = it.try_borrow_mut()?;
            let v6 = state.is_v6();
            let next = state.step();
            drop(state);
            next.map(|ip| new_addr(py, v6, ip)).transpose()
        },
    ));
    match step {
        Ok(Ok(Some(obj))) => obj.into_ptr(),
        // Exhausted: NULL without an exception is StopIteration.
        Ok(Ok(None)) => std::ptr::null_mut(),
        Ok(Err(err)) => {
            err.restore(py);
            std::ptr::null_mut()
        }
        Err(_) => {
            PySystemError::new_err("panic in the ipaddress address iterator").restore(py);
            std::ptr::null_mut()
        }
    }
}

/// Installs the slots; called once when the module is initialised, after the types exist.
pub fn install(py: Python<'_>) -> PyResult<()> {
    if NET4.load(Ordering::Relaxed) != 0 {
        // A second initialisation (sub-interpreter): the first one's slots stay.
        return Ok(());
    }
    let net4 = IPv4Network::type_object_raw(py);
    let net6 = IPv6Network::type_object_raw(py);
    let iter = AddressIterator::type_object_raw(py);
    let missing = || PySystemError::new_err("ipaddress: a PyO3 slot is missing");
    // SAFETY: the three are heap types PyO3 just created from specs, the networks each with
    // its own `as_sequence` struct inside its PyHeapTypeObject and sq_contains set (the
    // classes define __contains__); the iterator's own next never delegates. Reading and
    // replacing a slot of a heap type before any instance exists, then PyType_Modified, is
    // how CPython itself updates slots; subclasses made later inherit the new pointer.
    unsafe {
        let seq4 = (*net4).tp_as_sequence;
        let seq6 = (*net6).tp_as_sequence;
        if seq4.is_null() || seq6.is_null() {
            return Err(missing());
        }
        let c4 = (*seq4).sq_contains.ok_or_else(missing)?;
        let c6 = (*seq6).sq_contains.ok_or_else(missing)?;
        NET4_CONTAINS.store(c4 as usize, Ordering::Relaxed);
        NET6_CONTAINS.store(c6 as usize, Ordering::Relaxed);
        ADDR4.store(IPv4Address::type_object_raw(py) as usize, Ordering::Relaxed);
        ADDR6.store(IPv6Address::type_object_raw(py) as usize, Ordering::Relaxed);
        NET6.store(net6 as usize, Ordering::Relaxed);
        NET4.store(net4 as usize, Ordering::Relaxed);
        (*seq4).sq_contains = Some(net4_contains);
        (*seq6).sq_contains = Some(net6_contains);
        (*iter).tp_iternext = Some(address_next);
        ffi::PyType_Modified(net4);
        ffi::PyType_Modified(net6);
        ffi::PyType_Modified(iter);
    }
    Ok(())
}
