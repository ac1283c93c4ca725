//! `ferrosock.struct`: the stdlib `struct` module in Rust, plus batch forms.
//!
//! `format.rs` compiles format strings, `codec.rs` converts values; this file is the Python
//! face: the `Struct` class, its unpack iterator, the module-level functions with their
//! format cache, and `Struct.pack_many` / `Struct.unpack_many`.
//!
//! The per-call methods (`pack`, `unpack`, `unpack_from`, ...) are installed as raw
//! `METH_FASTCALL` / `METH_O` method descriptors, as `Modules/_struct.c` defines them,
//! instead of through `#[pymethods]`: PyO3 would collect `*args` into a new tuple on every
//! `pack` call, which alone costs more than the 1.2x budget we have against the C
//! implementation. They run inside the thin C entries of `entry.rs` (panic trap, errors
//! raised), not PyO3's trampolines, which cost 0.85x the stdlib's `pack` on 3.12/3.13.
//! Where C uses plain `METH_FASTCALL`, ours add `METH_KEYWORDS` and raise the stdlib's
//! "takes no keyword arguments" message themselves (CPython's own words name the function
//! differently).

mod codec;
pub(crate) mod format;
mod rules;

use std::ffi::{c_int, CStr};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::exceptions::{PyMemoryError, PyTypeError};
use pyo3::ffi;
use pyo3::impl_::trampoline::get_trampoline_function;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use pyo3::Borrowed;
use pyo3::PyTraverseError;
use pyo3::PyVisit;

use crate::buffer::ByteView;
use crate::entry::{binary_entry, fastcall_entry};
use crate::errors::{type_name, with_context};
use codec::struct_error;
pub use format::Program;

/// The module name shown in reprs and in the messages CPython derives from it.
const MODULE: &str = "ferrosock.struct";

/// Largest struct `pack` will try to allocate; above it `_PyBytesWriter` reports MemoryError.
const MAX_BYTES: usize = isize::MAX as usize - 64;

/// Most formats the module-level functions keep compiled (`MAXCACHE` in `_struct.c`).
const MAX_CACHE: usize = 100;

// ---------------------------------------------------------------------------------------
// The Struct class
// ---------------------------------------------------------------------------------------

/// The compiled format of a `Struct`, replaceable by a later `__init__` call (as in the
/// stdlib) without invalidating a program that a running `pack` or `unpack` still reads.
///
/// NOTE: every program installed stays alive until the `Struct` is dropped, so reads are a
/// single atomic load with no reference counting on the per-call path. Re-initialising one
/// `Struct` object over and over is the only way to grow this list, and it is freed with
/// the object.
struct ProgramSlot {
    current: AtomicPtr<Program>,
    installed: Mutex<Vec<Arc<Program>>>,
}

impl ProgramSlot {
    fn new() -> Self {
        Self {
            current: AtomicPtr::new(std::ptr::null_mut()),
            installed: Mutex::new(Vec::new()),
        }
    }

    fn get(&self) -> Option<&Program> {
        let p = self.current.load(Ordering::Acquire);
        // SAFETY: `p` is null or was taken from an `Arc` held in `installed`, which only grows
        // until `self` is dropped, so the program outlives this borrow of `self`.
        unsafe { p.cast_const().as_ref() }
    }

    fn install(&self, program: Program) {
        let program = Arc::new(program);
        let p = Arc::as_ptr(&program).cast_mut();
        self.installed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(program);
        self.current.store(p, Ordering::Release);
    }
}

/// Struct(format) --> compiled struct object
///
/// A drop-in for the stdlib's struct.Struct (the running interpreter's): the same
/// attributes (format, a str; size), methods, errors and subclassing, plus pack_many() and
/// unpack_many(). __init__ may be called again to recompile, as in the stdlib.
/// Deviation: the length byte of an empty '0p' field is never written past the end of the
/// struct (CPython writes it one byte out of bounds).
#[pyclass(
    frozen,
    subclass,
    weakref,
    module = "ferrosock.struct",
    name = "Struct"
)]
pub struct Struct {
    slot: ProgramSlot,
}

impl Struct {
    /// The compiled format; `None` before `__init__` has succeeded once.
    pub fn program(&self) -> Option<&Program> {
        self.slot.get()
    }
}

#[pymethods]
impl Struct {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs), text_signature = "(format)")]
    fn __new__(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> Self {
        // Like the stdlib's, __new__ accepts anything so that subclasses may define their own
        // __init__ signature; the format is compiled by __init__.
        Struct {
            slot: ProgramSlot::new(),
        }
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn __init__(
        &self,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let keywords: Vec<_> = kwargs.map(|d| d.iter().collect()).unwrap_or_default();
        let [format] = parse_keywords("Struct", 0, ["format"], 1, args.as_slice(), &keywords)?;
        let Some(format) = format else {
            unreachable!("required argument checked by parse_keywords")
        };
        self.slot.install(compile_format(format)?);
        Ok(())
    }

    /// struct format string
    #[getter]
    fn format<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        PyString::new(py, self.program().map_or("", |p| p.format.as_str()))
    }

    /// struct size in bytes
    #[getter]
    fn size(&self) -> isize {
        self.program().map_or(-1, |p| p.size as isize)
    }

    /// `Struct('<h')` where the stdlib's Struct shows its format (3.13 on), else the
    /// default `<ferrosock.struct.Struct object at 0x...>`.
    fn __repr__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        if rules::current().repr_shows_format {
            let format = PyString::new(py, slf.get().program().map_or("", |p| p.format.as_str()));
            let text = format!("{}({})", slf.get_type().name()?, format.repr()?);
            return Ok(PyString::new(py, &text).into_any());
        }
        py.get_type::<PyAny>().getattr("__repr__")?.call1((slf,))
    }

    /// S.__sizeof__() -> size of S in memory, in bytes
    fn __sizeof__(slf: &Bound<'_, Self>) -> usize {
        // SAFETY: slf is a live object; tp_basicsize is a plain field of its type.
        let basic = unsafe { (*ffi::Py_TYPE(slf.as_ptr())).tp_basicsize } as usize;
        let codes = slf.get().program().map_or(0, |p| p.codes.len());
        basic + (codes + 1) * std::mem::size_of::<format::Code>()
    }
}

/// Compiles a `str` or `bytes` format the way `Struct.__init__` accepts it.
fn compile_format(format: &Bound<'_, PyAny>) -> PyResult<Program> {
    let py = format.py();
    let p = format.as_ptr();
    // SAFETY: p is a live object; the checks read its type.
    let bytes: Bound<'_, PyAny> = if unsafe { ffi::PyUnicode_Check(p) } != 0 {
        // SAFETY: p is a str; returns a new bytes object or NULL with UnicodeEncodeError set.
        unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyUnicode_AsASCIIString(p))? }
    } else if unsafe { ffi::PyBytes_Check(p) } != 0 {
        format.clone()
    } else {
        return Err(PyTypeError::new_err(format!(
            "Struct() argument 1 must be a str or bytes object, not {}",
            type_name(format)
        )));
    };
    let bytes = bytes.cast_into::<PyBytes>()?;
    format::compile(bytes.as_bytes()).map_err(|e| struct_error(e.message()))
}

// ---------------------------------------------------------------------------------------
// Argument handling shared by the raw methods
// ---------------------------------------------------------------------------------------

/// The `nargs` fastcall arguments at `args` as bound references.
///
/// # Safety
/// `args` must point to `nargs` live object pointers that stay valid for `'a`.
unsafe fn arg_slice<'a, 'py>(
    _py: Python<'py>,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
) -> &'a [Bound<'py, PyAny>] {
    if nargs <= 0 || args.is_null() {
        return &[];
    }
    // SAFETY: caller guarantees `nargs` valid pointers; Bound<PyAny> is a transparent
    // wrapper of the pointer, and a shared slice of them never drops a reference.
    unsafe { std::slice::from_raw_parts(args.cast::<Bound<'py, PyAny>>(), nargs as usize) }
}

/// Splits fastcall keyword arguments into (name, value) pairs.
///
/// # Safety
/// `kwnames` must be NULL or the call's keyword-name tuple, whose values follow the `nargs`
/// positional arguments at `args`.
unsafe fn keyword_pairs<'py>(
    py: Python<'py>,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    if kwnames.is_null() {
        return Vec::new();
    }
    // SAFETY: kwnames is the call's tuple of keyword names (caller contract).
    let names = unsafe { Bound::from_borrowed_ptr(py, kwnames) };
    // SAFETY: the keyword values follow the positional ones in the vectorcall array.
    let n = unsafe { ffi::PyTuple_GET_SIZE(kwnames) };
    // SAFETY: as above, `n` values after the `nargs` positional ones.
    let values = unsafe { arg_slice(py, args.add(nargs as usize), n) };
    let names = names.cast_into::<PyTuple>().map(|t| t.as_slice().to_vec());
    names
        .unwrap_or_default()
        .into_iter()
        .zip(values.iter().cloned())
        .collect()
}

/// `TypeError` for keywords given to a function that takes none, worded like CPython's.
fn no_keywords(kwnames: *mut ffi::PyObject, fname: &str) -> PyResult<()> {
    // SAFETY: kwnames is NULL or a tuple (vectorcall contract).
    if !kwnames.is_null() && unsafe { ffi::PyTuple_GET_SIZE(kwnames) } > 0 {
        return Err(PyTypeError::new_err(format!(
            "{fname}() takes no keyword arguments"
        )));
    }
    Ok(())
}

/// Argument parsing as Argument Clinic's `_PyArg_UnpackKeywords` does it (the wording of an
/// unknown keyword follows the rules in force), for signatures `fname(<posonly>, /, names...)` where the first `required` parameters are
/// required, including its error messages. Returns the positional-or-keyword parameters.
fn parse_keywords<'a, 'py, const N: usize>(
    fname: &str,
    posonly: usize,
    names: [&str; N],
    required: usize,
    positional: &'a [Bound<'py, PyAny>],
    keywords: &'a [(Bound<'py, PyAny>, Bound<'py, PyAny>)],
) -> PyResult<[Option<&'a Bound<'py, PyAny>>; N]> {
    let maxargs = posonly + N;
    let nargs = positional.len();
    let nkw = keywords.len();
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    if nargs + nkw > maxargs {
        return Err(PyTypeError::new_err(format!(
            "{fname}() takes at most {maxargs} {}argument{} ({} given)",
            if nargs == 0 { "keyword " } else { "" },
            plural(maxargs),
            nargs + nkw
        )));
    }
    let minposonly = posonly.min(required);
    if nargs < minposonly {
        return Err(PyTypeError::new_err(format!(
            "{fname}() takes {} {minposonly} positional argument{} ({nargs} given)",
            if minposonly < maxargs {
                "at least"
            } else {
                "exactly"
            },
            plural(minposonly)
        )));
    }
    let find = |name: &str| {
        keywords
            .iter()
            .find(|(k, _)| k.cast::<PyString>().is_ok_and(|k| k == name))
            .map(|(_, v)| v)
    };
    let mut out: [Option<&'a Bound<'py, PyAny>>; N] = [None; N];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = positional.get(posonly + i);
    }
    let mut remaining = nkw;
    for i in nargs.max(posonly)..maxargs {
        let name = names[i - posonly];
        match find(name) {
            Some(v) => {
                out[i - posonly] = Some(v);
                remaining -= 1;
            }
            None if i < required => {
                return Err(PyTypeError::new_err(format!(
                    "{fname}() missing required argument '{name}' (pos {})",
                    i + 1
                )));
            }
            None => {}
        }
    }
    if remaining > 0 {
        for i in posonly..nargs {
            let name = names[i - posonly];
            if find(name).is_some() {
                return Err(PyTypeError::new_err(format!(
                    "argument for {fname}() given by name ('{name}') and position ({})",
                    i + 1
                )));
            }
        }
        for (k, _) in keywords {
            let Ok(k) = k.cast::<PyString>() else {
                return Err(PyTypeError::new_err("keywords must be strings"));
            };
            if !names.iter().any(|n| k == *n) {
                return Err(PyTypeError::new_err(
                    rules::current().unexpected_keyword_message(fname, &k.to_string_lossy()),
                ));
            }
        }
    }
    Ok(out)
}

/// The `Struct` behind a method's `self`.
fn struct_of<'a>(slf: &'a Bound<'_, PyAny>) -> &'a Struct {
    // SAFETY: the methods are installed as method descriptors of the Struct type, and
    // CPython's method descriptors check that `self` is an instance of that type (or of a
    // subclass) before calling (`descr_check` in Objects/descrobject.c).
    unsafe { slf.cast_unchecked::<Struct>() }.get()
}

/// Read access to a bytes-like argument, as `y*` takes it: `bytes` (immutable) and, for a
/// single record, `bytearray` directly; anything else through the buffer protocol (released
/// when this is dropped).
enum Input<'a, 'py> {
    Bytes(&'a [u8]),
    /// Read afresh on each access: while no buffer export is held the array may be resized
    /// by Python code (a finaliser run by the collector, say) between two accesses.
    ByteArray(&'a Bound<'py, PyAny>),
    View(ByteView),
}

impl<'a, 'py> Input<'a, 'py> {
    /// For one record: `bytearray` is read without taking a buffer export.
    fn new(obj: &'a Bound<'py, PyAny>) -> PyResult<Self> {
        // SAFETY: obj is live; the check reads its type.
        if unsafe { ffi::PyByteArray_CheckExact(obj.as_ptr()) } != 0 {
            return Ok(Input::ByteArray(obj));
        }
        Self::exported(obj)
    }

    /// For many records: anything but `bytes` is held through a buffer export, as CPython's
    /// `iter_unpack` does, so it cannot be resized until the work is done.
    fn exported(obj: &'a Bound<'py, PyAny>) -> PyResult<Self> {
        let p = obj.as_ptr();
        // SAFETY: p is live; an exact bytes object's storage is immutable and lives as long
        // as `obj` does.
        unsafe {
            if ffi::PyBytes_CheckExact(p) != 0 {
                let data = ffi::PyBytes_AS_STRING(p).cast::<u8>();
                let n = ffi::Py_SIZE(p) as usize;
                return Ok(Input::Bytes(std::slice::from_raw_parts(data, n)));
            }
        }
        Ok(Input::View(ByteView::readable(obj)?))
    }

    fn len(&self) -> usize {
        match self {
            Input::Bytes(b) => b.len(),
            // SAFETY: the object is a bytearray.
            Input::ByteArray(b) => unsafe { ffi::PyByteArray_GET_SIZE(b.as_ptr()) as usize },
            Input::View(v) => v.len(),
        }
    }

    /// The bytes.
    ///
    /// # Safety
    /// No Python code may run while the slice is alive (it may resize a `bytearray`, or
    /// write to any mutable exporter). Take it after allocating the result tuple, which may
    /// run the collector.
    unsafe fn bytes(&self) -> &[u8] {
        match self {
            Input::Bytes(b) => b,
            Input::ByteArray(b) => {
                let p = b.as_ptr();
                // SAFETY: p is a bytearray; its storage holds `size` bytes and stays put
                // while no Python code runs (caller contract).
                unsafe {
                    let n = ffi::PyByteArray_GET_SIZE(p) as usize;
                    if n == 0 {
                        return &[];
                    }
                    std::slice::from_raw_parts(ffi::PyByteArray_AS_STRING(p).cast::<u8>(), n)
                }
            }
            Input::View(v) => v.as_slice(),
        }
    }
}

/// `PyNumber_AsSsize_t(o, IndexError)`, how `pack_into` reads its offset.
fn offset_for_pack_into(o: &Bound<'_, PyAny>) -> PyResult<isize> {
    // SAFETY: o is live; returns -1 with an error set on failure.
    let x = unsafe { ffi::PyNumber_AsSsize_t(o.as_ptr(), ffi::PyExc_IndexError) };
    // SAFETY: only reads the thread's error indicator.
    if x == -1 && !unsafe { ffi::PyErr_Occurred() }.is_null() {
        return Err(PyErr::fetch(o.py()));
    }
    Ok(x)
}

/// The `Py_ssize_t` converter of Argument Clinic, how `unpack_from` reads its offset.
fn offset_for_unpack_from(o: Option<&Bound<'_, PyAny>>) -> PyResult<isize> {
    let Some(o) = o else { return Ok(0) };
    // SAFETY: o is live; PyNumber_Index returns a new reference or NULL with an error set.
    let n = unsafe { Bound::from_owned_ptr_or_err(o.py(), ffi::PyNumber_Index(o.as_ptr()))? };
    // SAFETY: n is an int; returns -1 with an error set on failure.
    let x = unsafe { ffi::PyLong_AsSsize_t(n.as_ptr()) };
    // SAFETY: only reads the thread's error indicator.
    if x == -1 && !unsafe { ffi::PyErr_Occurred() }.is_null() {
        return Err(PyErr::fetch(o.py()));
    }
    Ok(x)
}

// ---------------------------------------------------------------------------------------
// The operations, on a compiled program
// ---------------------------------------------------------------------------------------

fn uninitialized() -> PyErr {
    struct_error("Struct.__init__() was not called")
}

/// `Struct.pack`.
fn do_pack<'py>(
    py: Python<'py>,
    prog: Option<&Program>,
    args: &[Bound<'py, PyAny>],
) -> PyResult<Bound<'py, PyBytes>> {
    let Some(prog) = prog.filter(|p| p.len == args.len()) else {
        let expected = prog.map_or(-1, |p| p.len as isize);
        return Err(struct_error(format!(
            "pack expected {expected} items for packing (got {})",
            args.len()
        )));
    };
    if prog.size > MAX_BYTES {
        return Err(PyMemoryError::new_err(()));
    }
    PyBytes::new_with(py, prog.size, |dst| codec::pack_values(prog, args, dst))
}

/// Packs into a scratch buffer (a stack one for small structs) and hands it to `f`, also on
/// failure, so that `pack_into` leaves the target as CPython would (zeroed, then filled up to
/// the failing value) without exposing the target's memory to Python code mid-pack.
fn pack_scratch<R>(
    prog: &Program,
    args: &[Bound<'_, PyAny>],
    f: impl FnOnce(&[u8]) -> R,
) -> (R, PyResult<()>) {
    let mut stack = [0u8; 256];
    let mut heap = Vec::new();
    let buf: &mut [u8] = if prog.size <= stack.len() {
        &mut stack[..prog.size]
    } else {
        heap.resize(prog.size, 0);
        &mut heap
    };
    let res = codec::pack_values(prog, args, buf);
    (f(buf), res)
}

/// `Struct.pack_into(buffer, offset, *values)`: `args` starts with the buffer.
fn do_pack_into(prog: Option<&Program>, args: &[Bound<'_, PyAny>]) -> PyResult<()> {
    let expected = prog.map_or(-1, |p| p.len as isize);
    let prog = match (prog, args.len()) {
        (_, 0) => return Err(struct_error("pack_into expected buffer argument")),
        (_, 1) => return Err(struct_error("pack_into expected offset argument")),
        (Some(p), n) if n == p.len + 2 => p,
        (_, n) => {
            return Err(struct_error(format!(
                "pack_into expected {expected} items for packing (got {})",
                n - 2
            )))
        }
    };
    let target = &args[0];
    let mut view = ByteView::writable(target, "argument")?;
    let mut offset = offset_for_pack_into(&args[1])?;
    let size = prog.size as isize;
    let len = view.len() as isize;
    if offset < 0 {
        if offset + size > 0 {
            return Err(struct_error(format!(
                "no space to pack {size} bytes at offset {offset}"
            )));
        }
        if offset + len < 0 {
            return Err(struct_error(format!(
                "offset {offset} out of range for {len}-byte buffer"
            )));
        }
        offset += len;
    }
    if len - offset < size {
        return Err(struct_error(format!(
            "pack_into requires a buffer of at least {} bytes for packing {size} bytes at \
             offset {offset} (actual buffer size is {len})",
            (size as usize).wrapping_add(offset as usize)
        )));
    }
    let start = offset as usize;
    let (copied, res) = pack_scratch(prog, &args[2..], |packed| {
        // The exporter cannot shrink while the view is held; checked again all the same.
        let dst = view.as_mut_slice();
        match dst.get_mut(start..start + packed.len()) {
            Some(dst) => {
                dst.copy_from_slice(packed);
                Ok(())
            }
            None => Err(struct_error("buffer changed size during pack_into")),
        }
    });
    res?;
    copied
}

/// Unpacks one record from `data` (exactly `prog.size` bytes, taken by `bytes` once the
/// result tuple exists) into a new tuple.
///
/// `bytes` must return a slice that stays valid and unchanged while no Python code runs.
fn unpack_record<'py, 'a>(
    py: Python<'py>,
    prog: &Program,
    bytes: impl FnOnce() -> Option<&'a [u8]>,
) -> PyResult<Bound<'py, PyTuple>> {
    // SAFETY: PyTuple_New returns a new tuple (slots empty) or NULL with an error set.
    let tuple = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyTuple_New(prog.len as isize))? };
    let data = bytes()
        .filter(|d| d.len() == prog.size)
        .ok_or_else(|| struct_error("buffer changed size during unpacking"))?;
    // SAFETY: `tuple` is fresh and unshared with `prog.len` empty slots; `data` cannot change
    // during the call, which creates only objects the collector does not track.
    unsafe { codec::unpack_values(py, prog, data, tuple.as_ptr())? };
    // SAFETY: the tuple was created above as a tuple.
    Ok(unsafe { tuple.cast_into_unchecked() })
}

/// `Struct.unpack`.
fn do_unpack<'py>(
    py: Python<'py>,
    prog: Option<&Program>,
    buffer: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyTuple>> {
    let input = Input::new(buffer)?;
    match prog {
        Some(prog) if input.len() == prog.size => unpack_record(py, prog, || {
            // SAFETY: unpack_record takes the slice after allocating and runs no Python code.
            Some(unsafe { input.bytes() })
        }),
        _ => Err(struct_error(format!(
            "unpack requires a buffer of {} bytes",
            prog.map_or(-1, |p| p.size as isize)
        ))),
    }
}

/// `Struct.unpack_from`.
fn do_unpack_from<'py>(
    py: Python<'py>,
    prog: Option<&Program>,
    buffer: &Bound<'py, PyAny>,
    offset: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let input = Input::new(buffer)?;
    let mut offset = offset_for_unpack_from(offset)?;
    let prog = prog.ok_or_else(uninitialized)?;
    let size = prog.size as isize;
    let len = input.len() as isize;
    if offset < 0 {
        if offset + size > 0 {
            return Err(struct_error(format!(
                "not enough data to unpack {size} bytes at offset {offset}"
            )));
        }
        if offset + len < 0 {
            return Err(struct_error(format!(
                "offset {offset} out of range for {len}-byte buffer"
            )));
        }
        offset += len;
    }
    if len - offset < size {
        return Err(struct_error(format!(
            "unpack_from requires a buffer of at least {} bytes for unpacking {size} bytes at \
             offset {offset} (actual buffer size is {len})",
            (size as usize).wrapping_add(offset as usize)
        )));
    }
    let start = offset as usize;
    unpack_record(py, prog, || {
        // SAFETY: unpack_record takes the slice after allocating and runs no Python code.
        unsafe { input.bytes() }.get(start..start + prog.size)
    })
}

/// What `iter_unpack` and `unpack_many` require of the struct, checked before the buffer.
fn iter_program(prog: Option<&Program>) -> PyResult<&Program> {
    let prog = prog.ok_or_else(uninitialized)?;
    if prog.size == 0 {
        return Err(struct_error(
            "cannot iteratively unpack with a struct of length 0",
        ));
    }
    Ok(prog)
}

/// What `iter_unpack` and `unpack_many` require of the buffer's length.
fn check_multiple(len: usize, prog: &Program) -> PyResult<()> {
    if len % prog.size != 0 {
        return Err(struct_error(format!(
            "iterative unpacking requires a buffer of a multiple of {} bytes",
            prog.size
        )));
    }
    Ok(())
}

/// `Struct.iter_unpack`.
fn do_iter_unpack<'py>(
    slf: &Bound<'py, Struct>,
    buffer: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, UnpackIter>> {
    let prog = iter_program(slf.get().program())?;
    let view = ByteView::readable(buffer)?;
    check_multiple(view.len(), prog)?;
    Bound::new(
        slf.py(),
        UnpackIter {
            state: Mutex::new(Some(IterState {
                so: slf.clone().unbind(),
                view,
                index: 0,
            })),
        },
    )
}

/// Keeps the cyclic garbage collector from running until dropped (if it was enabled).
///
/// `unpack_many` creates one tuple per record, and every 700 allocations CPython would run a
/// collection in the middle of the loop, walking the tuples just made. With the collector
/// paused no Python code at all can run during the loop (only ints, floats, bytes, bools and
/// tuples of them are created, which have no finalisers); the collection runs at the first
/// allocation after the call instead. No other thread can see the pause: the GIL is held
/// throughout.
struct GcPause {
    was_enabled: bool,
}

impl GcPause {
    fn new() -> Self {
        // SAFETY: we hold the GIL; PyGC_Disable returns the previous state.
        let was_enabled = unsafe { ffi::PyGC_Disable() } == 1;
        GcPause { was_enabled }
    }
}

impl Drop for GcPause {
    fn drop(&mut self) {
        if self.was_enabled {
            // SAFETY: we hold the GIL; re-enables only what `new` disabled.
            unsafe { ffi::PyGC_Enable() };
        }
    }
}

/// `Struct.unpack_many(buffer)`: `list(s.iter_unpack(buffer))` in one call.
fn do_unpack_many<'py>(
    py: Python<'py>,
    prog: Option<&Program>,
    buffer: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let prog = iter_program(prog)?;
    let input = Input::exported(buffer)?;
    check_multiple(input.len(), prog)?;
    let n = input.len() / prog.size;
    let _pause = GcPause::new();
    // SAFETY: PyList_New returns a new list of n empty slots or NULL with an error set. No
    // Python code runs until every slot is filled (see GcPause), and a list with empty
    // slots is deallocated safely if an error stops the loop.
    let list = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyList_New(n as isize))? };
    // SAFETY: no Python code can run while the collector is paused and only ints, floats,
    // bytes, bools and tuples are created, so the buffer (bytes, or held by an export)
    // cannot change while this slice lives.
    let data = unsafe { input.bytes() };
    for (i, record) in data.chunks_exact(prog.size).enumerate() {
        // SAFETY: PyTuple_New returns a new tuple (slots empty) or NULL with an error set.
        let tuple =
            unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyTuple_New(prog.len as isize))? };
        // SAFETY: `tuple` is fresh and unshared with `prog.len` empty slots; `record` cannot
        // change (see above).
        unsafe { codec::unpack_values(py, prog, record, tuple.as_ptr())? };
        if prog.len > 0 {
            // The tuple holds only ints, floats, bytes and bools, which cannot form cycles:
            // untrack it now, as the collector's `_PyTuple_MaybeUntrack` would on its first
            // pass, instead of making the next collections walk 100,000 tuples.
            // SAFETY: tuple is a live, GC-tracked tuple; untracking is always allowed.
            unsafe { ffi::PyObject_GC_UnTrack(tuple.as_ptr().cast()) };
        }
        // SAFETY: i < n; the slot is empty; the list steals the reference.
        unsafe { ffi::PyList_SET_ITEM(list.as_ptr(), i as isize, tuple.into_ptr()) };
    }
    Ok(list)
}

/// Packs one record of `pack_many` (the arguments `s.pack(*record)` would get) onto `out`.
fn pack_record(prog: &Program, record: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> PyResult<()> {
    let py = record.py();
    let tuple: Bound<'_, PyTuple> = if let Ok(t) = record.cast::<PyTuple>() {
        t.clone()
    } else {
        // SAFETY: record is live; PySequence_Tuple returns a new tuple or NULL with an error.
        let t = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PySequence_Tuple(record.as_ptr())) };
        match t {
            Ok(t) => t.cast_into::<PyTuple>()?,
            Err(err) => {
                // What `s.pack(*record)` reports for a record that is not iterable.
                // SAFETY: record is live; the checks read its type slots.
                let iterable = unsafe {
                    (*ffi::Py_TYPE(record.as_ptr())).tp_iter.is_some()
                        || ffi::PySequence_Check(record.as_ptr()) != 0
                };
                if err.is_instance_of::<PyTypeError>(py) && !iterable {
                    return Err(PyTypeError::new_err(format!(
                        "Struct.pack() argument after * must be an iterable, not {}",
                        type_name(record)
                    )));
                }
                return Err(err);
            }
        }
    };
    let args = tuple.as_slice();
    if args.len() != prog.len {
        return Err(struct_error(format!(
            "pack expected {} items for packing (got {})",
            prog.len,
            args.len()
        )));
    }
    let start = out.len();
    out.try_reserve(prog.size)
        .map_err(|_| PyMemoryError::new_err(()))?;
    out.resize(start + prog.size, 0);
    codec::pack_values(prog, args, &mut out[start..])
}

/// `Struct.pack_many(records)`: `b''.join(s.pack(*r) for r in records)` in one call.
fn do_pack_many<'py>(
    py: Python<'py>,
    prog: Option<&Program>,
    records: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let prog = prog.ok_or_else(uninitialized)?;
    let mut out: Vec<u8> = Vec::new();
    let at = |i: usize, err: PyErr| with_context(py, err, &format!(" (at index {i})"));
    if let Ok(list) = records.cast::<pyo3::types::PyList>() {
        // Indexed, re-reading the length each time, like a list iterator: packing runs
        // `__index__` and friends, which may change the list.
        let hint = list.len().saturating_mul(prog.size).min(1 << 26);
        out.try_reserve(hint)
            .map_err(|_| PyMemoryError::new_err(()))?;
        let mut i = 0;
        while let Ok(record) = list.get_item(i) {
            pack_record(prog, &record, &mut out).map_err(|e| at(i, e))?;
            i += 1;
        }
    } else if let Ok(tuple) = records.cast::<PyTuple>() {
        let hint = tuple.len().saturating_mul(prog.size).min(1 << 26);
        out.try_reserve(hint)
            .map_err(|_| PyMemoryError::new_err(()))?;
        for (i, record) in tuple.as_slice().iter().enumerate() {
            pack_record(prog, record, &mut out).map_err(|e| at(i, e))?;
        }
    } else {
        for (i, record) in records.try_iter()?.enumerate() {
            pack_record(prog, &record?, &mut out).map_err(|e| at(i, e))?;
        }
    }
    Ok(PyBytes::new(py, &out))
}

// ---------------------------------------------------------------------------------------
// The unpack iterator
// ---------------------------------------------------------------------------------------

struct IterState {
    so: Py<Struct>,
    view: ByteView,
    index: usize,
}

/// The iterator `Struct.iter_unpack` returns (mirrors `_struct.unpack_iterator`).
#[pyclass(frozen, module = "ferrosock.struct", name = "unpack_iterator")]
pub struct UnpackIter {
    /// `None` once exhausted: the struct and the buffer are released then, as in CPython.
    state: Mutex<Option<IterState>>,
}

#[pymethods]
impl UnpackIter {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(state) = guard.as_mut() else {
            return Ok(None);
        };
        let so = state.so.bind(py).clone();
        let prog = so.get().program();
        let index = state.index;
        let remaining = state.view.len().saturating_sub(index);
        match prog {
            // A re-initialised struct may no longer fit the rest of the buffer: stop there.
            Some(prog) if prog.size > 0 && remaining >= prog.size => {
                state.index += prog.size;
                let view = &state.view;
                unpack_record(py, prog, || view.as_slice().get(index..index + prog.size)).map(Some)
            }
            _ => {
                let done = guard.take();
                drop(guard);
                drop(done);
                Ok(None)
            }
        }
    }

    fn __length_hint__(&self, py: Python<'_>) -> usize {
        let guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match guard.as_ref() {
            Some(state) => match state.so.bind(py).get().program() {
                Some(p) if p.size > 0 => state.view.len().saturating_sub(state.index) / p.size,
                _ => 0,
            },
            None => 0,
        }
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // try_lock: a traversal must not block; a locked state is being used by __next__.
        if let Ok(guard) = self.state.try_lock() {
            if let Some(state) = guard.as_ref() {
                visit.call(&state.so)?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Module-level functions and the format cache
// ---------------------------------------------------------------------------------------

static CACHE: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

fn cache(py: Python<'_>) -> &Bound<'_, PyDict> {
    CACHE.get_or_init(py, || PyDict::new(py).unbind()).bind(py)
}

/// The compiled `Struct` for a format, through the cache (`cache_struct_converter`): the
/// format object is the key, at most `MAX_CACHE` entries, cleared when full.
fn cached_struct<'py>(fmt: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Struct>> {
    let py = fmt.py();
    let cache = cache(py);
    // SAFETY: cache and fmt are live; returns a borrowed reference, or NULL with or without
    // an error set (hashing may fail).
    let hit = unsafe { ffi::PyDict_GetItemWithError(cache.as_ptr(), fmt.as_ptr()) };
    if !hit.is_null() {
        // SAFETY: hit is a live value of the cache; we take our own reference at once, as
        // packing may run code that clears the cache. The cache is private to this module
        // and holds only the Struct objects inserted below.
        return Ok(unsafe { Bound::from_borrowed_ptr(py, hit).cast_into_unchecked() });
    }
    if let Some(err) = PyErr::take(py) {
        return Err(err);
    }
    let s = py
        .get_type::<Struct>()
        .call1((fmt,))?
        .cast_into::<Struct>()?;
    if cache.len() >= MAX_CACHE {
        cache.clear();
    }
    // Caching is best effort, as in CPython.
    let _ = cache.set_item(fmt, &s);
    Ok(s)
}

fn raw_ok<'py, T>(v: Bound<'py, T>) -> PyResult<*mut ffi::PyObject> {
    Ok(v.into_any().into_ptr())
}

fn none_ptr(py: Python<'_>) -> *mut ffi::PyObject {
    py.None().into_ptr()
}

// Raw method bodies. Each is wrapped by a PyO3 trampoline; arguments follow the CPython
// calling convention named on the PyMethodDef.

/// # Safety
/// Called only through its `PyMethodDef` by CPython (via its `entry` wrapper): GIL held,
/// `args` pointing to `nargs` valid borrowed references (plus one per keyword name).
unsafe fn m_pack(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    no_keywords(kwnames, "Struct.pack")?;
    // SAFETY: slf and the arguments are live for the call (vectorcall contract).
    let (slf, args) = unsafe { (Borrowed::from_ptr(py, slf), arg_slice(py, args, nargs)) };
    raw_ok(do_pack(py, struct_of(&slf).program(), args)?)
}

unsafe fn m_pack_into(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    no_keywords(kwnames, "Struct.pack_into")?;
    // SAFETY: as in m_pack.
    let (slf, args) = unsafe { (Borrowed::from_ptr(py, slf), arg_slice(py, args, nargs)) };
    do_pack_into(struct_of(&slf).program(), args)?;
    Ok(none_ptr(py))
}

unsafe fn m_unpack(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: slf and arg are live for the call (METH_O contract).
    let (slf, arg) = unsafe { (Borrowed::from_ptr(py, slf), Borrowed::from_ptr(py, arg)) };
    raw_ok(do_unpack(py, struct_of(&slf).program(), &arg)?)
}

unsafe fn m_unpack_from(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: slf and the arguments are live for the call (vectorcall contract).
    let slf = unsafe { Borrowed::from_ptr(py, slf) };
    // SAFETY: as above.
    let positional = unsafe { arg_slice(py, args, nargs) };
    let keywords = if kwnames.is_null() {
        Vec::new()
    } else {
        // SAFETY: as above.
        unsafe { keyword_pairs(py, args, nargs, kwnames) }
    };
    let (buffer, offset) = if keywords.is_empty() && (1..=2).contains(&positional.len()) {
        (&positional[0], positional.get(1))
    } else {
        let [b, o] = parse_keywords(
            "unpack_from",
            0,
            ["buffer", "offset"],
            1,
            positional,
            &keywords,
        )?;
        let Some(b) = b else {
            unreachable!("required argument checked by parse_keywords")
        };
        return raw_ok(do_unpack_from(py, struct_of(&slf).program(), b, o)?);
    };
    raw_ok(do_unpack_from(
        py,
        struct_of(&slf).program(),
        buffer,
        offset,
    )?)
}

/// # Safety
/// Called only through its `PyMethodDef` by CPython (via its `entry` wrapper): GIL held,
/// `args` pointing to `nargs` valid borrowed references (plus one per keyword name).
unsafe fn m_iter_unpack(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: slf and arg are live for the call (METH_O contract).
    let (slf, arg) = unsafe { (Borrowed::from_ptr(py, slf), Borrowed::from_ptr(py, arg)) };
    raw_ok(do_iter_unpack(&*slf.cast::<Struct>()?, &arg)?)
}

unsafe fn m_pack_many(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: slf and arg are live for the call (METH_O contract).
    let (slf, arg) = unsafe { (Borrowed::from_ptr(py, slf), Borrowed::from_ptr(py, arg)) };
    raw_ok(do_pack_many(py, struct_of(&slf).program(), &arg)?)
}

unsafe fn m_unpack_many(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: slf and arg are live for the call (METH_O contract).
    let (slf, arg) = unsafe { (Borrowed::from_ptr(py, slf), Borrowed::from_ptr(py, arg)) };
    raw_ok(do_unpack_many(py, struct_of(&slf).program(), &arg)?)
}

unsafe fn f_pack(
    py: Python<'_>,
    _module: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    no_keywords(kwnames, "ferrosock.struct.pack")?;
    // SAFETY: the arguments are live for the call (vectorcall contract).
    let args = unsafe { arg_slice(py, args, nargs) };
    let Some((fmt, values)) = args.split_first() else {
        return Err(PyTypeError::new_err("missing format argument"));
    };
    let s = cached_struct(fmt)?;
    raw_ok(do_pack(py, s.get().program(), values)?)
}

/// # Safety
/// Called only through its `PyMethodDef` by CPython (via its `entry` wrapper): GIL held,
/// `args` pointing to `nargs` valid borrowed references (plus one per keyword name).
unsafe fn f_pack_into(
    py: Python<'_>,
    _module: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    no_keywords(kwnames, "ferrosock.struct.pack_into")?;
    // SAFETY: the arguments are live for the call (vectorcall contract).
    let args = unsafe { arg_slice(py, args, nargs) };
    let Some((fmt, rest)) = args.split_first() else {
        return Err(PyTypeError::new_err("missing format argument"));
    };
    let s = cached_struct(fmt)?;
    do_pack_into(s.get().program(), rest)?;
    Ok(none_ptr(py))
}

/// `_PyArg_CheckPositional(name, nargs, 2, 2)`.
fn two_args<'a, 'py>(
    name: &str,
    args: &'a [Bound<'py, PyAny>],
) -> PyResult<(&'a Bound<'py, PyAny>, &'a Bound<'py, PyAny>)> {
    match args {
        [a, b] => Ok((a, b)),
        _ => Err(PyTypeError::new_err(format!(
            "{name} expected 2 arguments, got {}",
            args.len()
        ))),
    }
}

/// # Safety
/// Called only through its `PyMethodDef` by CPython (via its `entry` wrapper): GIL held,
/// `args` pointing to `nargs` valid borrowed references (plus one per keyword name).
unsafe fn f_unpack(
    py: Python<'_>,
    _module: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    no_keywords(kwnames, "ferrosock.struct.unpack")?;
    // SAFETY: the arguments are live for the call (vectorcall contract).
    let args = unsafe { arg_slice(py, args, nargs) };
    let (fmt, buffer) = two_args("unpack", args)?;
    let s = cached_struct(fmt)?;
    raw_ok(do_unpack(py, s.get().program(), buffer)?)
}

/// # Safety
/// Called only through its `PyMethodDef` by CPython (via its `entry` wrapper): GIL held,
/// `args` pointing to `nargs` valid borrowed references (plus one per keyword name).
unsafe fn f_unpack_from(
    py: Python<'_>,
    _module: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: the arguments are live for the call (vectorcall contract).
    let positional = unsafe { arg_slice(py, args, nargs) };
    let keywords = if kwnames.is_null() {
        Vec::new()
    } else {
        // SAFETY: as above.
        unsafe { keyword_pairs(py, args, nargs, kwnames) }
    };
    let (fmt, buffer, offset) = if keywords.is_empty() && (2..=3).contains(&positional.len()) {
        (&positional[0], &positional[1], positional.get(2))
    } else {
        let [b, o] = parse_keywords(
            "unpack_from",
            1,
            ["buffer", "offset"],
            2,
            positional,
            &keywords,
        )?;
        let Some(b) = b else {
            unreachable!("required argument checked by parse_keywords")
        };
        let s = cached_struct(&positional[0])?;
        return raw_ok(do_unpack_from(py, s.get().program(), b, o)?);
    };
    let s = cached_struct(fmt)?;
    raw_ok(do_unpack_from(py, s.get().program(), buffer, offset)?)
}

/// # Safety
/// Called only through its `PyMethodDef` by CPython (via its `entry` wrapper): GIL held,
/// `args` pointing to `nargs` valid borrowed references (plus one per keyword name).
unsafe fn f_iter_unpack(
    py: Python<'_>,
    _module: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    no_keywords(kwnames, "ferrosock.struct.iter_unpack")?;
    // SAFETY: the arguments are live for the call (vectorcall contract).
    let args = unsafe { arg_slice(py, args, nargs) };
    let (fmt, buffer) = two_args("iter_unpack", args)?;
    let s = cached_struct(fmt)?;
    raw_ok(do_iter_unpack(&s, buffer)?)
}

/// # Safety
/// Called only through its `PyMethodDef` by CPython (via its `entry` wrapper): GIL held,
/// `args` pointing to `nargs` valid borrowed references (plus one per keyword name).
unsafe fn f_calcsize(
    py: Python<'_>,
    _module: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: arg is live for the call (METH_O contract).
    let fmt = unsafe { Borrowed::from_ptr(py, arg) };
    let s = cached_struct(&fmt)?;
    let size = s.get().program().map_or(-1, |p| p.size as isize);
    raw_ok(size.into_pyobject(py)?)
}

/// # Safety
/// Called only through its `PyMethodDef` by CPython (via its `entry` wrapper): GIL held,
/// `args` pointing to `nargs` valid borrowed references (plus one per keyword name).
unsafe fn f_clearcache(
    py: Python<'_>,
    _module: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    cache(py).clear();
    Ok(none_ptr(py))
}

// ---------------------------------------------------------------------------------------
// The rules that differ between CPython releases (rules.rs)
// ---------------------------------------------------------------------------------------

/// Installs the rule set `ferrosock.struct` probed from the running interpreter's `_struct`
/// (each argument is a field of `rules::Rules`); every later call follows it.
#[pyfunction]
#[pyo3(signature = (
    *,
    named_small_ranges,
    overflow_out_of_range,
    std_long_long_overflow_propagates,
    empty_pascal_length,
    empty_pascal_unpacks,
    unexpected_keyword,
    repr_shows_format,
))]
#[allow(clippy::too_many_arguments)] // NOTE: one keyword per rule, all required
fn struct_set_rules(
    named_small_ranges: bool,
    overflow_out_of_range: bool,
    std_long_long_overflow_propagates: bool,
    empty_pascal_length: u8,
    empty_pascal_unpacks: bool,
    unexpected_keyword: String,
    repr_shows_format: bool,
) -> PyResult<()> {
    if !(unexpected_keyword.contains("{fname}") && unexpected_keyword.contains("{name}")) {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "unexpected_keyword must contain {fname} and {name}",
        ));
    }
    rules::install(rules::Rules {
        named_small_ranges,
        overflow_out_of_range,
        std_long_long_overflow_propagates,
        empty_pascal_length,
        empty_pascal_unpacks,
        unexpected_keyword: unexpected_keyword.into(),
        repr_shows_format,
    });
    Ok(())
}

/// The rule set in force, as the keyword arguments of `struct_set_rules`.
#[pyfunction]
fn struct_rules(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let r = rules::current();
    let d = PyDict::new(py);
    d.set_item("named_small_ranges", r.named_small_ranges)?;
    d.set_item("overflow_out_of_range", r.overflow_out_of_range)?;
    d.set_item(
        "std_long_long_overflow_propagates",
        r.std_long_long_overflow_propagates,
    )?;
    d.set_item("empty_pascal_length", r.empty_pascal_length)?;
    d.set_item("empty_pascal_unpacks", r.empty_pascal_unpacks)?;
    d.set_item("unexpected_keyword", r.unexpected_keyword.as_ref())?;
    d.set_item("repr_shows_format", r.repr_shows_format)?;
    Ok(d)
}

// C entry points of the per-call bodies above (see `entry.rs` for why not PyO3's).
fastcall_entry!(e_pack => m_pack);
fastcall_entry!(e_pack_into => m_pack_into);
fastcall_entry!(e_unpack_from => m_unpack_from);
fastcall_entry!(e_f_pack => f_pack);
fastcall_entry!(e_f_pack_into => f_pack_into);
fastcall_entry!(e_f_unpack => f_unpack);
fastcall_entry!(e_f_unpack_from => f_unpack_from);
fastcall_entry!(e_f_iter_unpack => f_iter_unpack);
binary_entry!(e_unpack => m_unpack);
binary_entry!(e_iter_unpack => m_iter_unpack);
binary_entry!(e_pack_many => m_pack_many);
binary_entry!(e_unpack_many => m_unpack_many);
binary_entry!(e_f_calcsize => f_calcsize);

// ---------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------

/// A `PyMethodDef` that lives for the rest of the process, as CPython requires of them.
fn method_def(
    name: &'static CStr,
    meth: ffi::PyMethodDefPointer,
    flags: c_int,
    doc: &'static CStr,
) -> *mut ffi::PyMethodDef {
    Box::into_raw(Box::new(ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: meth,
        ml_flags: flags,
        ml_doc: doc.as_ptr(),
    }))
}

fn fastcall(f: ffi::PyCFunctionFastWithKeywords) -> ffi::PyMethodDefPointer {
    ffi::PyMethodDefPointer {
        PyCFunctionFastWithKeywords: f,
    }
}

fn cfunction(f: ffi::PyCFunction) -> ffi::PyMethodDefPointer {
    ffi::PyMethodDefPointer { PyCFunction: f }
}

const FASTCALL_KW: c_int = ffi::METH_FASTCALL | ffi::METH_KEYWORDS;

/// Registers `Struct`, its iterator type and the module-level functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Struct>()?;
    m.add_class::<UnpackIter>()?;
    m.add_function(wrap_pyfunction!(struct_set_rules, m)?)?;
    m.add_function(wrap_pyfunction!(struct_rules, m)?)?;

    let methods: [(&'static CStr, ffi::PyMethodDefPointer, c_int, &'static CStr); 7] = [
        (
            c"pack",
            fastcall(e_pack),
            FASTCALL_KW,
            c"S.pack(v1, v2, ...) -> bytes\n\nReturn a bytes object containing the values \
              v1, v2, ... packed according\nto the format string S.format.",
        ),
        (
            c"pack_into",
            fastcall(e_pack_into),
            FASTCALL_KW,
            c"S.pack_into(buffer, offset, v1, v2, ...)\n\nPack the values v1, v2, ... \
              according to the format string S.format\nand write the packed bytes into the \
              writable buffer starting at offset.\nThe offset is a required argument and may \
              be negative.",
        ),
        (
            c"unpack",
            cfunction(e_unpack),
            ffi::METH_O,
            c"unpack($self, buffer, /)\n--\n\nReturn a tuple containing unpacked values.\n\n\
              The buffer's size in bytes must be S.size.",
        ),
        (
            c"unpack_from",
            fastcall(e_unpack_from),
            FASTCALL_KW,
            c"unpack_from($self, /, buffer, offset=0)\n--\n\nReturn a tuple containing \
              unpacked values.\n\nThe buffer's size in bytes, starting at position offset, \
              must be at least S.size.",
        ),
        (
            c"iter_unpack",
            cfunction(e_iter_unpack),
            ffi::METH_O,
            c"iter_unpack($self, buffer, /)\n--\n\nReturn an iterator yielding tuples \
              unpacked from the buffer,\nlike repeated calls of unpack_from(). The buffer's \
              size must be\na multiple of S.size.",
        ),
        (
            c"pack_many",
            cfunction(e_pack_many),
            ffi::METH_O,
            c"pack_many($self, records, /)\n--\n\nPack each record (an iterable of values) \
              and return the concatenation,\nlike b''.join(S.pack(*r) for r in records). An \
              error names the\nindex of the failing record; nothing partial is returned.",
        ),
        (
            c"unpack_many",
            cfunction(e_unpack_many),
            ffi::METH_O,
            c"unpack_many($self, buffer, /)\n--\n\nReturn a list of the tuples unpacked from \
              the buffer,\nlike list(S.iter_unpack(buffer)).",
        ),
    ];
    let ty = py.get_type::<Struct>();
    for (name, meth, flags, doc) in methods {
        let def = method_def(name, meth, flags, doc);
        // SAFETY: `ty` is the Struct type object and `def` a PyMethodDef that is never freed;
        // returns a new reference or NULL with an error set.
        let descr = unsafe {
            Bound::from_owned_ptr_or_err(py, ffi::PyDescr_NewMethod(ty.as_type_ptr(), def))?
        };
        ty.setattr(name.to_str().unwrap_or_default(), descr)?;
    }

    let functions: [(&'static CStr, ffi::PyMethodDefPointer, c_int, &'static CStr); 7] = [
        (
            c"pack",
            fastcall(e_f_pack),
            FASTCALL_KW,
            c"pack(format, v1, v2, ...) -> bytes\n\nReturn a bytes object containing the \
              values v1, v2, ... packed according\nto the format string.",
        ),
        (
            c"pack_into",
            fastcall(e_f_pack_into),
            FASTCALL_KW,
            c"pack_into(format, buffer, offset, v1, v2, ...)\n\nPack the values v1, v2, ... \
              according to the format string and write\nthe packed bytes into the writable \
              buffer starting at offset.",
        ),
        (
            c"unpack",
            fastcall(e_f_unpack),
            FASTCALL_KW,
            c"unpack($module, format, buffer, /)\n--\n\nReturn a tuple containing values \
              unpacked according to the format string.\n\nThe buffer's size in bytes must be \
              calcsize(format).",
        ),
        (
            c"unpack_from",
            fastcall(e_f_unpack_from),
            FASTCALL_KW,
            c"unpack_from($module, format, /, buffer, offset=0)\n--\n\nReturn a tuple \
              containing values unpacked according to the format string.\n\nThe buffer's \
              size, minus offset, must be at least calcsize(format).",
        ),
        (
            c"iter_unpack",
            fastcall(e_f_iter_unpack),
            FASTCALL_KW,
            c"iter_unpack($module, format, buffer, /)\n--\n\nReturn an iterator yielding \
              tuples unpacked from the given bytes\naccording to the format string, like \
              repeated calls of unpack_from().",
        ),
        (
            c"calcsize",
            cfunction(e_f_calcsize),
            ffi::METH_O,
            c"calcsize($module, format, /)\n--\n\nReturn size in bytes of the struct \
              described by the format string.",
        ),
        (
            c"_clearcache",
            cfunction(get_trampoline_function!(noargs, f_clearcache)),
            ffi::METH_NOARGS,
            c"_clearcache($module, /)\n--\n\nClear the internal cache.",
        ),
    ];
    let module_name = PyString::new(py, MODULE);
    for (name, meth, flags, doc) in functions {
        let def = method_def(name, meth, flags, doc);
        // SAFETY: `def` is never freed; `m` and `module_name` are live; returns a new
        // reference or NULL with an error set.
        let func = unsafe {
            Bound::from_owned_ptr_or_err(
                py,
                ffi::PyCFunction_NewEx(def, m.as_ptr(), module_name.as_ptr()),
            )?
        };
        // Prefixed in `_native`, which other concerns share; `ferrosock.struct` re-exports
        // them under their stdlib names, which their `__name__` and `__module__` carry.
        let attr = format!(
            "struct_{}",
            name.to_str().unwrap_or_default().trim_start_matches('_')
        );
        m.add(attr.as_str(), func)?;
    }
    Ok(())
}
