//! What the fuzz targets share: glibc's own `inet_pton`/`inet_ntop`/`inet_aton` (the
//! specification `ferrosock`'s address parsers follow, since the stdlib calls them), a
//! chunker that cuts a stream where the fuzzer says, and an allocator that remembers the
//! largest single allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::atomic::{AtomicUsize, Ordering};

extern "C" {
    fn inet_pton(af: c_int, src: *const c_char, dst: *mut c_void) -> c_int;
    fn inet_ntop(
        af: c_int,
        src: *const c_void,
        dst: *mut c_char,
        size: libc::socklen_t,
    ) -> *const c_char;
    fn inet_aton(cp: *const c_char, inp: *mut libc::in_addr) -> c_int;
}

/// glibc `inet_pton(AF_INET)`, or `None` for text with a NUL (which C cannot see).
pub fn glibc_pton4(s: &[u8]) -> Option<Option<[u8; 4]>> {
    let c = CString::new(s).ok()?;
    let mut out = [0u8; 4];
    // SAFETY: `c` is NUL-terminated; `out` has the 4 bytes AF_INET writes.
    let rc = unsafe { inet_pton(libc::AF_INET, c.as_ptr(), out.as_mut_ptr().cast()) };
    Some((rc == 1).then_some(out))
}

/// glibc `inet_pton(AF_INET6)`, or `None` for text with a NUL.
pub fn glibc_pton6(s: &[u8]) -> Option<Option<[u8; 16]>> {
    let c = CString::new(s).ok()?;
    let mut out = [0u8; 16];
    // SAFETY: `c` is NUL-terminated; `out` has the 16 bytes AF_INET6 writes.
    let rc = unsafe { inet_pton(libc::AF_INET6, c.as_ptr(), out.as_mut_ptr().cast()) };
    Some((rc == 1).then_some(out))
}

/// glibc `inet_aton`, or `None` for text with a NUL.
pub fn glibc_aton(s: &[u8]) -> Option<Option<[u8; 4]>> {
    let c = CString::new(s).ok()?;
    let mut out = libc::in_addr { s_addr: 0 };
    // SAFETY: `c` is NUL-terminated; `out` is a live in_addr.
    let rc = unsafe { inet_aton(c.as_ptr(), &mut out) };
    Some((rc != 0).then_some(out.s_addr.to_ne_bytes()))
}

fn glibc_ntop(af: c_int, src: &[u8]) -> String {
    let mut buf = [0 as c_char; 64];
    // SAFETY: `src` holds the 4 or 16 bytes of `af`; `buf` has room for any address text.
    let p = unsafe { inet_ntop(af, src.as_ptr().cast(), buf.as_mut_ptr(), 64) };
    assert!(!p.is_null(), "inet_ntop failed");
    // SAFETY: inet_ntop wrote a NUL-terminated string into `buf`.
    unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_str()
        .expect("inet_ntop writes ASCII")
        .to_owned()
}

/// glibc `inet_ntop(AF_INET)`.
pub fn glibc_ntop4(a: &[u8; 4]) -> String {
    glibc_ntop(libc::AF_INET, a)
}

/// glibc `inet_ntop(AF_INET6)`.
pub fn glibc_ntop6(a: &[u8; 16]) -> String {
    glibc_ntop(libc::AF_INET6, a)
}

/// Cuts `stream` into chunks whose lengths come from `cuts` (each byte, plus one, is the
/// next chunk's length; when they run out, the rest is one chunk).
pub fn chunks<'a>(stream: &'a [u8], cuts: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = stream;
    for &c in cuts {
        if rest.is_empty() {
            break;
        }
        let n = (usize::from(c) + 1).min(rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// Splits fuzz input at the first occurrence of `sep`: `(before, after)`, or all of it as
/// `before` when there is none.
pub fn split2<'a>(data: &'a [u8], sep: &[u8]) -> (&'a [u8], &'a [u8]) {
    match data.windows(sep.len()).position(|w| w == sep) {
        Some(i) => (&data[..i], &data[i + sep.len()..]),
        None => (data, &[]),
    }
}

/// The system allocator, noting the largest single request since the last
/// [`Counting::reset`].
pub struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    /// Forgets the largest request seen so far.
    pub fn reset() {
        LARGEST.store(0, Ordering::Relaxed);
    }

    /// The largest single allocation (or reallocation) requested since the last reset.
    pub fn largest() -> usize {
        LARGEST.load(Ordering::Relaxed)
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// The `check(data: bytes)` function of a Python checker (`fuzz/py/NAME.py`, passed as its
/// source), run in a CPython embedded once per process with the crate's `_native` module
/// registered as a built-in and the checkout's `python/` directory as `builtins.PYTHON_DIR`
/// (the checkers import the `ferrosock` facade from there). The targets that compare
/// ferrosock with the stdlib (struct_pack, ipaddress_py, addr_py) share it.
pub fn python_checker(
    cell: &'static std::sync::OnceLock<pyo3::Py<pyo3::PyAny>>,
    name: &str,
    source: &str,
) -> &'static pyo3::Py<pyo3::PyAny> {
    use pyo3::prelude::*;
    extern "C" {
        // The main crate's `#[pymodule]` entry point.
        fn PyInit__native() -> *mut pyo3::ffi::PyObject;
    }
    cell.get_or_init(|| {
        // SAFETY: called once, before the interpreter starts; the name is a static C string
        // and the function is the module's init entry point.
        let rc =
            unsafe { pyo3::ffi::PyImport_AppendInittab(c"_native".as_ptr(), Some(PyInit__native)) };
        assert_eq!(rc, 0, "PyImport_AppendInittab failed");
        Python::initialize();
        Python::attach(|py| {
            let python_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../python");
            let setup = format!("import builtins; builtins.PYTHON_DIR = {python_dir:?}");
            py.run(&CString::new(setup).unwrap(), None, None).unwrap();
            let code = CString::new(source).unwrap();
            let file = CString::new(format!("{name}.py")).unwrap();
            let module_name = CString::new(name).unwrap();
            let module = PyModule::from_code(py, &code, &file, &module_name)
                .unwrap_or_else(|e| panic!("{name}.py: {e}"));
            module.getattr("check").unwrap().unbind()
        })
    })
}

/// Calls a checker on one input; a Python exception is a property violation: printed, then
/// turned into the panic libFuzzer records.
pub fn run_python_check(check: &pyo3::Py<pyo3::PyAny>, name: &str, data: &[u8]) {
    use pyo3::prelude::*;
    Python::attach(|py| {
        if let Err(e) = check.call1(py, (pyo3::types::PyBytes::new(py, data),)) {
            e.print(py);
            panic!("{name} found a difference");
        }
    });
}
