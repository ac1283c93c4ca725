//! The stdlib's generators as native iterators: `hosts()`/`__iter__`, `subnets()`,
//! `address_exclude()` and `summarize_address_range()`. Like generators they check their
//! arguments on the first `next()`, not when created.

use pyo3::exceptions::{PyAssertionError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyType;

use super::conv::{self, classify, display, foreign_attr_error, Kind};
use super::core::{self, ExcludeError, Net};
use super::ops::{self, view};
use super::slots::{new_addr, new_net};
use super::types::AddressIterator;

#[pymethods]
impl AddressIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    // NOTE: `slots::install` replaces this slot with a direct one; this stays as the
    // `__next__` method and the fallback.
    fn __next__<'py>(mut slf: PyRefMut<'py, Self>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let v6 = slf.v6;
        match slf.step() {
            None => Ok(None),
            Some(cur) => Ok(Some(new_addr(slf.py(), v6, cur)?)),
        }
    }

    fn __length_hint__(&self) -> usize {
        if self.done {
            0
        } else {
            usize::try_from(self.after)
                .unwrap_or(usize::MAX)
                .saturating_add(1)
        }
    }
}

/// A network object like `this` (its Python subclass, if any, builds it).
fn make_net<'py>(
    py: Python<'py>,
    cls: Option<&Py<PyType>>,
    v6: bool,
    net: Net,
) -> PyResult<Bound<'py, PyAny>> {
    match cls {
        None => new_net(py, v6, net, None),
        Some(c) => c.bind(py).call1(((net.0, net.1),)),
    }
}

fn subclass(obj: &Bound<'_, PyAny>, exact: bool) -> Option<Py<PyType>> {
    (!exact).then(|| obj.get_type().unbind())
}

enum SubnetsState {
    Pending {
        this: Py<PyAny>,
        prefixlen_diff: Option<Py<PyAny>>,
        new_prefix: Option<Py<PyAny>>,
    },
    Running {
        it: core::Subnets,
        v6: bool,
        cls: Option<Py<PyType>>,
    },
    Done,
}

/// `_BaseNetwork.subnets()`.
#[pyclass(module = "ferrosock.ipaddress", name = "_SubnetsIterator")]
pub struct SubnetsIterator {
    state: SubnetsState,
}

impl SubnetsIterator {
    pub fn new(
        this: &Bound<'_, PyAny>,
        prefixlen_diff: Option<Py<PyAny>>,
        new_prefix: Option<Py<PyAny>>,
    ) -> Self {
        SubnetsIterator {
            state: SubnetsState::Pending {
                this: this.clone().unbind(),
                prefixlen_diff,
                new_prefix,
            },
        }
    }
}

#[pymethods]
impl SubnetsIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(mut slf: PyRefMut<'py, Self>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let py = slf.py();
        if matches!(slf.state, SubnetsState::Pending { .. }) {
            if let SubnetsState::Pending {
                this,
                prefixlen_diff,
                new_prefix,
            } = std::mem::replace(&mut slf.state, SubnetsState::Done)
            {
                let this = this.bind(py);
                let a = view(this)?;
                if a.prefix == a.bits() {
                    return Ok(Some(this.clone()));
                }
                let np =
                    conv::new_prefix_arg(new_prefix.as_ref().map(|o| o.bind(py)), conv::ArgOp::Lt)?;
                let diff = conv::diff_arg(
                    prefixlen_diff.as_ref().map(|o| o.bind(py)),
                    np.is_some(),
                    conv::ArgOp::Lt,
                )?;
                let new = core::subnets_prefix(a.prefix, a.bits(), diff, np)
                    .map_err(|e| ops::prefix_arg_error(this, &e).unwrap_or_else(|err| err))?;
                slf.state = SubnetsState::Running {
                    it: core::Subnets::new((a.ip, a.prefix), new, a.bits()),
                    v6: a.v6,
                    cls: subclass(this, a.exact),
                };
            }
        }
        let SubnetsState::Running { it, v6, cls } = &mut slf.state else {
            return Ok(None);
        };
        match it.next() {
            None => Ok(None),
            Some(net) => {
                let (v6, cls) = (*v6, cls.as_ref().map(|c| c.clone_ref(py)));
                Ok(Some(make_net(py, cls.as_ref(), v6, net)?))
            }
        }
    }

    fn __length_hint__(&self) -> usize {
        match &self.state {
            SubnetsState::Running { it, .. } => {
                usize::try_from(it.remaining()).unwrap_or(usize::MAX)
            }
            _ => 0,
        }
    }
}

enum ExcludeState {
    Pending {
        this: Py<PyAny>,
        other: Py<PyAny>,
    },
    Running {
        it: Box<core::Exclude>,
        v6: bool,
        cls: Option<Py<PyType>>,
        other_text: String,
    },
    Done,
}

/// `_BaseNetwork.address_exclude()`.
#[pyclass(module = "ferrosock.ipaddress", name = "_ExcludeIterator")]
pub struct ExcludeIterator {
    state: ExcludeState,
}

impl ExcludeIterator {
    pub fn new(this: &Bound<'_, PyAny>, other: &Bound<'_, PyAny>) -> Self {
        ExcludeIterator {
            state: ExcludeState::Pending {
                this: this.clone().unbind(),
                other: other.clone().unbind(),
            },
        }
    }
}

/// The checks `address_exclude` makes before its loop; `None` when `other == self`.
fn exclude_start(
    this: &Bound<'_, PyAny>,
    other: &Bound<'_, PyAny>,
) -> PyResult<Option<ExcludeState>> {
    let a = view(this)?;
    let Some(o) = classify(other) else {
        return Err(foreign_attr_error(other, "_version"));
    };
    if o.v6 != a.v6 {
        return Err(PyTypeError::new_err(format!(
            "{} and {} are not of the same version",
            display(this)?,
            display(other)?
        )));
    }
    if o.kind != Kind::Net {
        return Err(PyTypeError::new_err(format!(
            "{} is not a network object",
            display(other)?
        )));
    }
    if !other.call_method1("subnet_of", (this,))?.is_truthy()? {
        return Err(PyValueError::new_err(format!(
            "{} not contained in {}",
            display(other)?,
            display(this)?
        )));
    }
    if other.eq(this)? {
        return Ok(None);
    }
    let other_text = conv::net_text(this.py(), o.v6, (o.ip, o.prefix), o.scope);
    Ok(Some(ExcludeState::Running {
        it: Box::new(core::Exclude::new(
            (a.ip, a.prefix),
            (o.ip, o.prefix),
            o.scope.is_some(),
            a.bits(),
        )),
        v6: a.v6,
        cls: subclass(this, a.exact),
        other_text,
    }))
}

#[pymethods]
impl ExcludeIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(mut slf: PyRefMut<'py, Self>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let py = slf.py();
        if matches!(slf.state, ExcludeState::Pending { .. }) {
            if let ExcludeState::Pending { this, other } =
                std::mem::replace(&mut slf.state, ExcludeState::Done)
            {
                match exclude_start(this.bind(py), other.bind(py))? {
                    None => return Ok(None),
                    Some(state) => slf.state = state,
                }
            }
        }
        let ExcludeState::Running {
            it,
            v6,
            cls,
            other_text,
        } = &mut slf.state
        else {
            return Ok(None);
        };
        let v6 = *v6;
        match it.next() {
            None => Ok(None),
            Some(Ok(net)) => {
                let cls = cls.as_ref().map(|c| c.clone_ref(py));
                Ok(Some(make_net(py, cls.as_ref(), v6, net)?))
            }
            Some(Err(ExcludeError::Unpack)) => Err(PyValueError::new_err(
                "not enough values to unpack (expected 2, got 1)",
            )),
            Some(Err(ExcludeError::Assertion(s1, s2))) => Err(PyAssertionError::new_err(format!(
                "Error performing exclusion: s1: {} s2: {} other: {}",
                conv::net_text(py, v6, s1, None),
                conv::net_text(py, v6, s2, None),
                other_text
            ))),
        }
    }
}

enum SummarizeState {
    Pending { first: Py<PyAny>, last: Py<PyAny> },
    Running { it: core::Summarize, v6: bool },
    Done,
}

/// `summarize_address_range()`.
#[pyclass(module = "ferrosock.ipaddress", name = "_SummarizeIterator")]
pub struct SummarizeIterator {
    state: SummarizeState,
}

impl SummarizeIterator {
    pub fn new(first: &Bound<'_, PyAny>, last: &Bound<'_, PyAny>) -> Self {
        SummarizeIterator {
            state: SummarizeState::Pending {
                first: first.clone().unbind(),
                last: last.clone().unbind(),
            },
        }
    }
}

fn summarize_start(first: &Bound<'_, PyAny>, last: &Bound<'_, PyAny>) -> PyResult<SummarizeState> {
    let (f, l) = match (classify(first), classify(last)) {
        (Some(f), Some(l)) if f.kind != Kind::Net && l.kind != Kind::Net => (f, l),
        _ => {
            return Err(PyTypeError::new_err(
                "first and last must be IP addresses, not networks",
            ))
        }
    };
    if f.v6 != l.v6 {
        return Err(PyTypeError::new_err(format!(
            "{} and {} are not of the same version",
            display(first)?,
            display(last)?
        )));
    }
    if first.gt(last)? {
        return Err(PyValueError::new_err(
            "last IP address must be greater than first",
        ));
    }
    Ok(SummarizeState::Running {
        it: core::Summarize::new(f.ip, l.ip, f.bits()),
        v6: f.v6,
    })
}

#[pymethods]
impl SummarizeIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(mut slf: PyRefMut<'py, Self>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let py = slf.py();
        if matches!(slf.state, SummarizeState::Pending { .. }) {
            if let SummarizeState::Pending { first, last } =
                std::mem::replace(&mut slf.state, SummarizeState::Done)
            {
                slf.state = summarize_start(first.bind(py), last.bind(py))?;
            }
        }
        let SummarizeState::Running { it, v6 } = &mut slf.state else {
            return Ok(None);
        };
        let v6 = *v6;
        match it.next() {
            None => Ok(None),
            Some(net) => Ok(Some(new_net(py, v6, net, None)?)),
        }
    }
}
