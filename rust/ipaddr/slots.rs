//! Allocation of the native objects (`new_addr`, `new_net`, `new_iface`: the constructors
//! every layer above uses), and direct type slots for the two tiny operations with the
//! tightest targets: `addr in net` for the exact classes, and `next()` on the address
//! iterator behind `hosts()` and `iter(net)`; and the address and network classes taken
//! out of the cycle collector.
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

use pyo3::types::PyString;
use pyo3::PyClassInitializer;

use super::core::Net;
use super::types::{
    AddressIterator, IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface,
    IPv6Network,
};

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

/// The deallocators PyO3 generated for the four atomic classes, kept for instances of
/// their Python subclasses (which do have a GC header).
static ADDR4_DEALLOC: AtomicUsize = AtomicUsize::new(0);
static ADDR6_DEALLOC: AtomicUsize = AtomicUsize::new(0);
static NET4_DEALLOC: AtomicUsize = AtomicUsize::new(0);
static NET6_DEALLOC: AtomicUsize = AtomicUsize::new(0);

/// Frees an instance of an atomic class: `exact` is the class, `generated` PyO3's
/// deallocator, `release` gives up the references the instance's fields own.
///
/// # Safety
/// CPython's `tp_dealloc` contract: `obj` is an instance of the class (or of a Python
/// subclass) whose last reference is gone, and the thread is attached.
unsafe fn dealloc_atomic(
    obj: *mut ffi::PyObject,
    exact: &AtomicUsize,
    generated: &AtomicUsize,
    release: impl FnOnce(Python<'_>),
) {
    // SAFETY: the caller's contract; `obj` is valid until freed below.
    unsafe {
        let tp = ffi::Py_TYPE(obj);
        if tp as usize != exact.load(Ordering::Relaxed) {
            // A Python subclass's instance: a GC object, as PyO3's deallocator expects.
            let f: ffi::destructor =
                std::mem::transmute::<usize, ffi::destructor>(generated.load(Ordering::Relaxed));
            return f(obj);
        }
        // What PyO3's deallocator does for these classes, minus its GC untracking (there
        // is no GC header) and its attach/panic bookkeeping (nothing here can panic):
        // release the fields, clear weak references, free, and drop the class reference
        // every heap-type instance holds.
        release(Python::assume_attached());
        let weaklist = (*tp).tp_weaklistoffset;
        if weaklist > 0
            && !(*obj
                .cast::<u8>()
                .offset(weaklist)
                .cast::<*mut ffi::PyObject>())
            .is_null()
        {
            ffi::PyObject_ClearWeakRefs(obj);
        }
        ffi::PyObject_Free(obj.cast());
        ffi::Py_DECREF(tp.cast());
    }
}

/// Decrements the scope id `str` an IPv6 instance owns, if any. The field itself is freed
/// with the object without being dropped, so this is its only release.
///
/// # Safety
/// `obj` is an exact instance of `T` being deallocated.
unsafe fn release_scope<T: pyo3::PyClass<Frozen = pyo3::pyclass::boolean_struct::True> + Sync>(
    py: Python<'_>,
    obj: *mut ffi::PyObject,
    scope: impl FnOnce(&T) -> Option<&Py<pyo3::types::PyString>>,
) {
    // SAFETY: the caller's contract: a live instance of T, borrowed, not owned.
    unsafe {
        let this = Borrowed::from_ptr(py, obj).cast_unchecked::<T>();
        if let Some(s) = scope(this.get()) {
            ffi::Py_DECREF(s.as_ptr());
        }
    }
}

/// `tp_dealloc` of `IPv4Address` (see `dealloc_atomic`).
///
/// # Safety
/// Only CPython calls it, as the type's `tp_dealloc`: attached thread, last reference gone.
unsafe extern "C" fn addr4_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: CPython calls tp_dealloc with tp_dealloc's contract; an IPv4Address owns no
    // references.
    unsafe { dealloc_atomic(obj, &ADDR4, &ADDR4_DEALLOC, |_| {}) }
}

/// `tp_dealloc` of `IPv6Address` (see `dealloc_atomic`).
///
/// # Safety
/// Only CPython calls it, as the type's `tp_dealloc`: attached thread, last reference gone.
unsafe extern "C" fn addr6_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: as above; the scope is released only on the exact-class path.
    unsafe {
        dealloc_atomic(obj, &ADDR6, &ADDR6_DEALLOC, |py| {
            release_scope::<IPv6Address>(py, obj, |a| a.scope.as_ref())
        })
    }
}

/// `tp_dealloc` of `IPv4Network` (see `dealloc_atomic`).
///
/// # Safety
/// Only CPython calls it, as the type's `tp_dealloc`: attached thread, last reference gone.
unsafe extern "C" fn net4_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: as above; an IPv4Network owns no references.
    unsafe { dealloc_atomic(obj, &NET4, &NET4_DEALLOC, |_| {}) }
}

/// `tp_dealloc` of `IPv6Network` (see `dealloc_atomic`).
///
/// # Safety
/// Only CPython calls it, as the type's `tp_dealloc`: attached thread, last reference gone.
unsafe extern "C" fn net6_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: as above.
    unsafe {
        dealloc_atomic(obj, &NET6, &NET6_DEALLOC, |py| {
            release_scope::<IPv6Network>(py, obj, |n| n.scope.as_ref())
        })
    }
}

/// Takes a class out of the cycle collector: its instances hold only integers and an
/// immutable `str`, so they can never be part of a cycle (CPython's ints and tuples of
/// atoms are left out, or untracked, for the same reason). As GC objects every instance
/// carried a 16-byte GC header and counted towards the next collection, which made bulk
/// creation (`hosts()`, `parse_many`, `collapse_addresses`) pay for collections that find
/// nothing. PyO3 makes every class a GC type, so this is done on the finished type, before
/// any instance exists; Python subclasses are GC types again (CPython makes every class
/// statement's type one), and their instances keep PyO3's deallocator.
///
/// # Safety
/// `tp` is one of the four atomic classes, just created, with no instance yet; `dealloc`
/// handles both its exact instances and its subclasses' (see `dealloc_atomic`).
unsafe fn make_atomic(
    tp: *mut ffi::PyTypeObject,
    generated: &AtomicUsize,
    dealloc: ffi::destructor,
) -> PyResult<()> {
    // SAFETY: the caller's contract; CPython updates slots of its own heap types this way
    // (then PyType_Modified).
    unsafe {
        // `dealloc_atomic` finds weak references at a positive `tp_weaklistoffset` (where
        // PyO3 keeps them) and knows of no `__dict__`: any other layout keeps PyO3's GC type.
        if (*tp).tp_weaklistoffset < 0 || (*tp).tp_dictoffset != 0 {
            return Ok(());
        }
        let old = (*tp)
            .tp_dealloc
            .ok_or_else(|| PySystemError::new_err("ipaddress: a PyO3 slot is missing"))?;
        generated.store(old as usize, Ordering::Relaxed);
        (*tp).tp_flags &= !ffi::Py_TPFLAGS_HAVE_GC;
        (*tp).tp_free = Some(ffi::PyObject_Free);
        (*tp).tp_dealloc = Some(dealloc);
        ffi::PyType_Modified(tp);
    }
    Ok(())
}

/// Where the Rust value of a fresh address object sits (bytes from the object's start), as
/// measured by `probe_layout`; 0 while the lean constructor is off.
static ADDR4_VALUE_AT: AtomicUsize = AtomicUsize::new(0);
static ADDR6_VALUE_AT: AtomicUsize = AtomicUsize::new(0);

/// Measures where the value sits in `obj`, an instance made the PyO3 way. The lean
/// constructor below writes an object as zeroes, a header and the value; it is switched
/// on only if that is exactly what PyO3 made here (every byte past the header outside the
/// value is zero: no borrow flag, thread id or dict pointer to set up).
///
/// # Safety
/// `tp` is `T`'s type object, already made atomic (not a GC type).
unsafe fn probe_layout<T>(obj: &Bound<'_, T>, tp: *mut ffi::PyTypeObject, at: &AtomicUsize)
where
    T: pyo3::PyClass<Frozen = pyo3::pyclass::boolean_struct::True> + Sync,
{
    let base = obj.as_ptr().cast::<u8>().cast_const();
    let value = (obj.get() as *const T).cast::<u8>();
    let offset = (value as usize).wrapping_sub(base as usize);
    // SAFETY: `tp` is a live type object.
    let (size, atomic) = unsafe {
        (
            (*tp).tp_basicsize as usize,
            // The lean constructor allocates without a GC header, for PyObject_Free: only
            // for a class `make_atomic` changed (the only way these lose HAVE_GC).
            ffi::PyType_IS_GC(tp) == 0,
        )
    };
    if !atomic {
        return;
    }
    let header = std::mem::size_of::<ffi::PyObject>();
    let value_bytes = offset..offset.saturating_add(std::mem::size_of::<T>());
    if offset < header
        || value_bytes.end > size
        || offset % std::mem::align_of::<T>() != 0
        || size % 8 != 0
    {
        return;
    }
    // SAFETY: bytes header..size are the instance's own (tp_basicsize of its exact type);
    // the value's bytes, which may hold padding, are skipped.
    let zero_elsewhere = (header..size)
        .filter(|i| !value_bytes.contains(i))
        .all(|i| unsafe { *base.add(i) } == 0);
    if zero_elsewhere {
        at.store(offset, Ordering::Relaxed);
    }
}

/// A new exact instance of an atomic address class, allocated and filled here instead of
/// through PyO3's initializer (which goes through `object.__new__` with an argument tuple,
/// a third of the cost of `list(net.hosts())`). Gives `value` back when the layout probe
/// did not switch this on; the caller then uses `Bound::new`.
fn try_new_atomic<'py, T: pyo3::PyClass>(
    py: Python<'py>,
    tp: &AtomicUsize,
    at: &AtomicUsize,
    value: T,
) -> Result<PyResult<Bound<'py, PyAny>>, T> {
    let offset = at.load(Ordering::Relaxed);
    if offset == 0 {
        return Err(value);
    }
    let tp = tp.load(Ordering::Relaxed) as *mut ffi::PyTypeObject;
    // SAFETY: a non-zero offset was stored by `probe_layout` after `install` stored `tp`,
    // T's type object: a non-GC type whose tp_free is PyObject_Free, so PyObject_Malloc
    // is the matching allocator. The block is zeroed, given a header by PyObject_Init
    // (type reference taken, refcount 1) and the value written at the probed offset, with
    // the probed alignment: byte for byte what PyO3 would have made.
    unsafe {
        let size = (*tp).tp_basicsize as usize;
        let obj = ffi::PyObject_Malloc(size).cast::<ffi::PyObject>();
        if obj.is_null() {
            ffi::PyErr_NoMemory();
            return Ok(Err(PyErr::fetch(py)));
        }
        // Zeroed a word at a time (tp_basicsize is a multiple of the word size for these
        // classes, checked by the probe): a memset call costs more than these few stores.
        for word in 0..size / 8 {
            obj.cast::<u64>().add(word).write(0);
        }
        ffi::PyObject_Init(obj, tp);
        std::ptr::write(obj.cast::<u8>().add(offset).cast::<T>(), value);
        Ok(Ok(Bound::from_owned_ptr(py, obj)))
    }
}

/// A new `IPv4Address`.
pub fn new_addr4(py: Python<'_>, value: IPv4Address) -> PyResult<Bound<'_, PyAny>> {
    match try_new_atomic(py, &ADDR4, &ADDR4_VALUE_AT, value) {
        Ok(made) => made,
        Err(value) => Ok(Bound::new(py, value)?.into_any()),
    }
}

/// A new `IPv6Address`.
pub fn new_addr6(py: Python<'_>, value: IPv6Address) -> PyResult<Bound<'_, PyAny>> {
    match try_new_atomic(py, &ADDR6, &ADDR6_VALUE_AT, value) {
        Ok(made) => made,
        Err(value) => Ok(Bound::new(py, value)?.into_any()),
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
        make_atomic(
            IPv4Address::type_object_raw(py),
            &ADDR4_DEALLOC,
            addr4_dealloc,
        )?;
        make_atomic(
            IPv6Address::type_object_raw(py),
            &ADDR6_DEALLOC,
            addr6_dealloc,
        )?;
        make_atomic(net4, &NET4_DEALLOC, net4_dealloc)?;
        make_atomic(net6, &NET6_DEALLOC, net6_dealloc)?;
        let sample4 = Bound::new(py, IPv4Address { ip: 0x0102_0304 })?;
        probe_layout(&sample4, IPv4Address::type_object_raw(py), &ADDR4_VALUE_AT);
        let sample6 = Bound::new(
            py,
            IPv6Address {
                ip: 0x0102_0304,
                scope: None,
            },
        )?;
        probe_layout(&sample6, IPv6Address::type_object_raw(py), &ADDR6_VALUE_AT);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Constructors used from Rust
// ---------------------------------------------------------------------------------------

/// Takes a new interface object (never a Python subclass, which could have a `__dict__`)
/// out of the cycle collector's lists. PyO3 makes every pyclass a GC type, but these hold
/// only integers and an immutable `str`, so they can never be part of a cycle (CPython
/// untracks tuples of atoms for the same reason). The address and network classes are not
/// GC types at all (`slots::make_atomic`); the interfaces, which PyO3 builds as their
/// subclasses, stay GC types and are untracked one by one.
pub fn untracked<T>(obj: Bound<'_, T>) -> Bound<'_, T> {
    // SAFETY: `obj` is a live, newly created object of a GC type; untracking is allowed at
    // any time, and PyO3's dealloc untracks only an object that is still tracked.
    unsafe { pyo3::ffi::PyObject_GC_UnTrack(obj.as_ptr().cast()) };
    obj
}

/// A new `IPv4Address`/`IPv6Address` (no scope).
pub fn new_addr(py: Python<'_>, v6: bool, ip: u128) -> PyResult<Bound<'_, PyAny>> {
    if v6 {
        new_addr6(py, IPv6Address { ip, scope: None })
    } else {
        new_addr4(py, IPv4Address { ip: ip as u32 })
    }
}

/// A new `IPv6Address` with a scope id.
pub fn new_addr_scoped<'py>(
    py: Python<'py>,
    v6: bool,
    ip: u128,
    scope: Option<&Py<PyString>>,
) -> PyResult<Bound<'py, PyAny>> {
    match scope {
        Some(s) if v6 => new_addr6(
            py,
            IPv6Address {
                ip,
                scope: Some(s.clone_ref(py)),
            },
        ),
        _ => new_addr(py, v6, ip),
    }
}

/// A new `IPv4Network`/`IPv6Network`.
pub fn new_net<'py>(
    py: Python<'py>,
    v6: bool,
    net: Net,
    scope: Option<&Py<PyString>>,
) -> PyResult<Bound<'py, PyAny>> {
    if v6 {
        Ok(Bound::new(
            py,
            IPv6Network {
                net: net.0,
                prefix: net.1,
                scope: scope.map(|s| s.clone_ref(py)),
            },
        )?
        .into_any())
    } else {
        Ok(Bound::new(
            py,
            IPv4Network {
                net: net.0 as u32,
                prefix: net.1,
            },
        )?
        .into_any())
    }
}

/// A new `IPv4Interface`/`IPv6Interface`.
pub fn new_iface<'py>(
    py: Python<'py>,
    v6: bool,
    ip: u128,
    prefix: u8,
    scope: Option<Py<PyString>>,
) -> PyResult<Bound<'py, PyAny>> {
    if v6 {
        let init = PyClassInitializer::from(IPv6Address { ip, scope })
            .add_subclass(IPv6Interface { prefix });
        Ok(untracked(Bound::new(py, init)?).into_any())
    } else {
        let init = PyClassInitializer::from(IPv4Address { ip: ip as u32 })
            .add_subclass(IPv4Interface { prefix });
        Ok(untracked(Bound::new(py, init)?).into_any())
    }
}
