//! Process control for `ferrosock.Server(workers=N)`: the parent-death signal a worker
//! process asks for right after `fork`, so no worker outlives its supervisor.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::os_error_from_errno;

/// `prctl(PR_SET_PDEATHSIG, signum)` (see prctl(2)): the kernel sends `signum` to this
/// process when the thread that forked it exits, even when that thread's process is killed
/// by `SIGKILL`. `0` clears the setting. Raises `OSError` with the errno on failure.
///
/// The caller checks `os.getppid()` afterwards: a parent that died before this call is not
/// signalled for.
#[pyfunction]
fn set_parent_death_signal(signum: i32) -> PyResult<()> {
    if !(0..=64).contains(&signum) {
        return Err(PyValueError::new_err(format!(
            "signal number out of range: {signum}"
        )));
    }
    // SAFETY: PR_SET_PDEATHSIG takes a signal number by value and touches no memory of
    // ours; the unused arguments are zero as prctl(2) asks.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            signum as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    prctl_result(rc)
}

/// `prctl(PR_GET_PDEATHSIG)`: the signal set by `set_parent_death_signal`, 0 if none.
#[pyfunction]
fn parent_death_signal() -> PyResult<i32> {
    let mut sig: libc::c_int = 0;
    // SAFETY: PR_GET_PDEATHSIG writes one c_int through the pointer, which points to a
    // live local of that type.
    let rc = unsafe {
        libc::prctl(
            libc::PR_GET_PDEATHSIG,
            &mut sig as *mut libc::c_int as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    prctl_result(rc).map(|()| sig)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(set_parent_death_signal, m)?)?;
    m.add_function(wrap_pyfunction!(parent_death_signal, m)?)?;
    Ok(())
}

/// `prctl`'s return code as a result: `OSError` from `errno` on failure.
fn prctl_result(rc: libc::c_int) -> PyResult<()> {
    if rc == 0 {
        return Ok(());
    }
    let errno = std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EINVAL);
    Err(os_error_from_errno(errno))
}
