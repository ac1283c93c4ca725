//! Coroutine handlers for `ferrosock.asyncio.Server`: driving a handler's coroutine from
//! Rust, and the awaitable that hands a suspended one over to an asyncio task.
//!
//! A coroutine that finishes without suspending is run to its end right here
//! (`PyIter_Send`), in the loop's own callback: no task, no future. One that suspends has
//! already yielded the future it waits for, and a task cannot adopt a half-run coroutine
//! on 3.11; `HandlerCall` is the coroutine the task runs instead: its first step yields
//! that future again, later steps forward `send`/`throw` to the handler's coroutine, so
//! cancelling the task reaches the handler. When the handler ends, its outcome is queued
//! for the loop (never acted on inside the task's step: other handlers must not run with
//! this task as `asyncio.current_task()`), and one `loop.call_soon(resume)` per batch
//! brings the loop back to it.
//!
//! The task exists before the coroutine's first statement runs: code there may need
//! `asyncio.current_task()` (`asyncio.timeout()`, and so `asyncio.wait_for()` from 3.12 on),
//! and a timeout set there must cancel the task that goes on running the handler. So the
//! first step runs with a standby task entered as the current task (`_enter_task`, as an
//! eager task's first step runs): a `HandlerCall` with nothing to run yet, waiting on a
//! future of its own. A coroutine that ends at once leaves it standing by for the next one
//! (no task per call); one that suspends is handed to it, which wakes it, and the next
//! call gets a new standby.

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use pyo3::exceptions::{PyStopIteration, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

use super::shared::{lock, LoopShared};

/// What a suspended call was for, so its outcome lands in the right place.
#[derive(Clone, Copy, Debug)]
pub enum Purpose {
    /// The handler of the connection `token`'s message number `seq`.
    Handler { token: u64, seq: u64 },
    /// `on_connect` of connection `token`: its messages wait for it.
    Connect { token: u64 },
    /// `on_disconnect`: nothing waits for it but `wait_closed()`.
    Disconnect,
    /// A datagram server's handler: its reply goes to the sender of its datagram.
    Datagram,
}

/// A finished suspended call, queued for the loop.
pub struct Completion {
    pub task_id: u64,
    pub purpose: Purpose,
    pub result: PyResult<Py<PyAny>>,
}

/// The running asyncio loop's entry points, set while `ferrosock.asyncio` serves.
pub struct Hooks {
    pub event_loop: Py<PyAny>,
    pub create_task: Py<PyAny>,
    pub call_soon: Py<PyAny>,
    pub create_future: Py<PyAny>,
    /// Called (through `call_soon`) to process queued completions: the Python side's
    /// step of the loop.
    pub resume: Py<PyAny>,
    /// The stream server, which a finishing handler's task hands its outcome to directly
    /// (and takes more work from); `None` for the datagram server.
    pub core: Option<Py<super::StreamServerCore>>,
}

impl Hooks {
    pub fn new(
        event_loop: &Bound<'_, PyAny>,
        resume: Py<PyAny>,
        core: Option<Py<super::StreamServerCore>>,
    ) -> PyResult<Self> {
        let py = event_loop.py();
        Ok(Self {
            event_loop: event_loop.clone().unbind(),
            create_task: event_loop
                .getattr(pyo3::intern!(py, "create_task"))?
                .unbind(),
            call_soon: event_loop.getattr(pyo3::intern!(py, "call_soon"))?.unbind(),
            create_future: event_loop
                .getattr(pyo3::intern!(py, "create_future"))?
                .unbind(),
            resume,
            core,
        })
    }
}

/// How a task is made asyncio's current task for a step the loop runs itself.
enum TaskSwitch {
    /// `_asyncio._current_tasks`, the dict (loop to task) that the C tasks' own
    /// `_enter_task`/`_leave_task` and `current_task()` use (CPython 3.11-3.13): two
    /// dict operations instead of two calls.
    Dict(Py<PyDict>),
    /// asyncio's `_enter_task` and `_leave_task`, wherever that dict is not what they use.
    Calls(Py<PyAny>, Py<PyAny>),
}

fn task_switch(py: Python<'_>) -> PyResult<&'static TaskSwitch> {
    static SWITCH: PyOnceLock<TaskSwitch> = PyOnceLock::new();
    SWITCH.get_or_try_init(py, || {
        let tasks = py.import("asyncio.tasks")?;
        let (enter, leave) = (tasks.getattr("_enter_task")?, tasks.getattr("_leave_task")?);
        if let Ok(c) = py.import("_asyncio") {
            let uses_c =
                enter.is(&c.getattr("_enter_task")?) && leave.is(&c.getattr("_leave_task")?);
            if let (true, Ok(dict)) = (uses_c, c.getattr("_current_tasks")) {
                // Only if `current_task()` reads that dict (a probe with a key no loop is).
                let dict = dict.cast_into::<PyDict>()?;
                let object = py.import("builtins")?.getattr("object")?;
                let (key, mark) = (object.call0()?, object.call0()?);
                dict.set_item(&key, &mark)?;
                let seen = tasks.getattr("current_task")?.call1((&key,));
                dict.del_item(&key)?;
                if seen?.is(&mark) {
                    return Ok(TaskSwitch::Dict(dict.unbind()));
                }
            }
        }
        Ok(TaskSwitch::Calls(enter.unbind(), leave.unbind()))
    })
}

impl TaskSwitch {
    /// Makes `task` the current task of `event_loop`; false if another task is.
    fn enter(&self, py: Python<'_>, event_loop: &Py<PyAny>, task: &Py<PyAny>) -> PyResult<bool> {
        match self {
            Self::Dict(d) => {
                // SAFETY: the GIL is held and all three objects are live;
                // PyDict_SetDefault returns a borrowed reference (the value now under the
                // key) or NULL with an exception set.
                let now = unsafe {
                    ffi::PyDict_SetDefault(d.as_ptr(), event_loop.as_ptr(), task.as_ptr())
                };
                if now.is_null() {
                    return Err(PyErr::fetch(py));
                }
                Ok(now == task.as_ptr())
            }
            Self::Calls(enter, _) => Ok(enter.call1(py, (event_loop, task)).is_ok()),
        }
    }

    fn leave(&self, py: Python<'_>, event_loop: &Py<PyAny>, task: &Py<PyAny>) -> PyResult<()> {
        match self {
            Self::Dict(d) => {
                // SAFETY: the GIL is held and both objects are live.
                if unsafe { ffi::PyDict_DelItem(d.as_ptr(), event_loop.as_ptr()) } < 0 {
                    return Err(PyErr::fetch(py));
                }
                Ok(())
            }
            Self::Calls(_, leave) => leave.call1(py, (event_loop, task)).map(drop),
        }
    }
}

thread_local! {
    /// How many `HandlerCall` steps are running on this thread: inside one, its task is
    /// the current task, and a coroutine started there is that task's.
    static IN_TASK_STEP: Cell<u32> = const { Cell::new(0) };
}

struct TaskStep;

impl TaskStep {
    fn enter() -> Self {
        IN_TASK_STEP.with(|d| d.set(d.get() + 1));
        Self
    }
}

impl Drop for TaskStep {
    fn drop(&mut self) {
        IN_TASK_STEP.with(|d| d.set(d.get() - 1));
    }
}

/// A task waiting for the next coroutine that suspends (see the module documentation).
pub struct Standby {
    task: Py<PyAny>,
    call: Py<HandlerCall>,
    event_loop: Py<PyAny>,
    /// The task's context (`contextvars`), which first steps run in too, so that what a
    /// handler sets there it still sees after it suspends. `None` where a task factory
    /// takes no `context`.
    context: Option<Py<PyAny>>,
}

impl Standby {
    /// `None` outside asyncio.
    fn new(py: Python<'_>, shared: &Arc<LoopShared>) -> Option<PyResult<Self>> {
        // Not under the lock: a task factory (an eager one runs the first step, which
        // parks) may come back to the hooks.
        let (create_task, event_loop) = lock(&shared.hooks)
            .as_ref()
            .map(|h| (h.create_task.clone_ref(py), h.event_loop.clone_ref(py)))?;
        let make = || {
            let call = Py::new(py, HandlerCall::standing_by(shared.clone()))?;
            // SAFETY: the GIL is held; PyContext_CopyCurrent returns a new reference, or
            // NULL with an exception set.
            let context =
                unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyContext_CopyCurrent())? };
            let kwargs = PyDict::new(py);
            kwargs.set_item(pyo3::intern!(py, "context"), &context)?;
            let (task, context) = match create_task.call(py, (call.clone_ref(py),), Some(&kwargs)) {
                Ok(task) => (task, Some(context.unbind())),
                // A task factory written before 3.11 (`factory(loop, coro)`).
                Err(e) if e.is_instance_of::<PyTypeError>(py) => {
                    (create_task.call1(py, (call.clone_ref(py),))?, None)
                }
                Err(e) => return Err(e),
            };
            Ok(Self {
                task,
                call,
                event_loop,
                context,
            })
        };
        Some(make())
    }

    fn usable(&self, py: Python<'_>) -> bool {
        self.call
            .try_borrow(py)
            .is_ok_and(|c| c.standby && !c.retired)
    }

    /// Gives the standby task the suspended coroutine `iter` (which yielded `first`), and
    /// wakes it; returns the task.
    pub fn hand_over(
        self,
        py: Python<'_>,
        iter: Py<PyAny>,
        first: Py<PyAny>,
        task_id: u64,
        purpose: Purpose,
    ) -> PyResult<Py<PyAny>> {
        let parked = {
            let mut call = self.call.try_borrow_mut(py)?;
            call.iter = Some(iter);
            call.first = Some(first);
            call.task_id = task_id;
            call.purpose = purpose;
            call.standby = false;
            call.parked.take()
        };
        if let Some(fut) = parked {
            // A future already done means the task was cancelled while it waited: the
            // cancellation now reaches the handler, as it would have reached its task.
            if fut
                .call_method1(py, pyo3::intern!(py, "set_result"), (py.None(),))
                .is_ok()
            {
                // The task's wake-up is scheduled now, after everything the coroutine
                // scheduled before it yielded.
                if let Ok(mut call) = self.call.try_borrow_mut(py) {
                    call.woken_after_yield = true;
                }
            }
        }
        Ok(self.task)
    }
}

/// The standby task entered as asyncio's current task, and its context as the current
/// context, for a run of first steps (a connection's messages in one dispatch): entering
/// is two dict operations that CPython 3.11-3.13 pay again and again otherwise. Left when
/// a coroutine suspends (it goes to this task) or when dropped, before anything else runs.
pub struct Entered<'py> {
    py: Python<'py>,
    standby: Option<Standby>,
    switch: &'static TaskSwitch,
    shared: Arc<LoopShared>,
}

impl<'py> Entered<'py> {
    /// `None` outside asyncio, or when another task is running (a callback reached from a
    /// coroutine's own code, such as `close()`): the steps are that task's then.
    fn new(py: Python<'py>, shared: &Arc<LoopShared>) -> PyResult<Option<Self>> {
        let switch = task_switch(py)?;
        let existing = lock(&shared.standby).take();
        let standby = match existing {
            Some(s) if s.usable(py) => s,
            _ => match Standby::new(py, shared) {
                Some(s) => s?,
                None => return Ok(None),
            },
        };
        if !switch.enter(py, &standby.event_loop, &standby.task)? {
            *lock(&shared.standby) = Some(standby);
            return Ok(None);
        }
        if let Some(ctx) = &standby.context {
            // SAFETY: the GIL is held and `ctx` is a live Context, entered nowhere else
            // (its task is not running: the step is the loop's); entering fails, with an
            // exception set, only for a context already entered.
            if unsafe { ffi::PyContext_Enter(ctx.as_ptr()) } < 0 {
                let err = PyErr::fetch(py);
                if let Err(e) = switch.leave(py, &standby.event_loop, &standby.task) {
                    e.write_unraisable(py, None);
                }
                *lock(&shared.standby) = Some(standby);
                return Err(err);
            }
        }
        Ok(Some(Self {
            py,
            standby: Some(standby),
            switch,
            shared: shared.clone(),
        }))
    }

    /// Leaves the task and its context; the standby, for the caller.
    fn leave(&mut self) -> Option<Standby> {
        let standby = self.standby.take()?;
        let py = self.py;
        if let Some(ctx) = &standby.context {
            // SAFETY: the GIL is held; `ctx` is the context `new` entered, and any context
            // a first step entered in between it has exited again.
            if unsafe { ffi::PyContext_Exit(ctx.as_ptr()) } < 0 {
                PyErr::fetch(py).write_unraisable(py, None);
            }
        }
        if let Err(e) = self.switch.leave(py, &standby.event_loop, &standby.task) {
            e.write_unraisable(py, None);
        }
        Some(standby)
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        if let Some(standby) = self.leave() {
            *lock(&self.shared.standby) = Some(standby);
        }
    }
}

/// The first step of a callback's coroutine `iter`. From the loop's own callbacks (no
/// task running) the step runs with the server's standby task as `asyncio.current_task()`
/// (entered into `entered`, which stays entered for the next first steps until dropped),
/// and a coroutine that suspends comes back with that standby, which must carry it on
/// (`Standby::hand_over`); inside a task (a handler's task dispatching the next message,
/// or any other task calling into the server) the step is that task's.
pub fn first_step<'py>(
    py: Python<'py>,
    shared: &Arc<LoopShared>,
    iter: &Bound<'py, PyAny>,
    entered: &mut Option<Entered<'py>>,
) -> (Drive, Option<Standby>) {
    let none = py.None().into_bound(py);
    if IN_TASK_STEP.with(Cell::get) > 0 {
        return (send(iter, &none), None);
    }
    if entered.is_none() {
        match Entered::new(py, shared) {
            Ok(e) => *entered = e,
            Err(e) => return (Drive::Error(e), None),
        }
    }
    let drive = send(iter, &none);
    match drive {
        Drive::Yield(_) => {
            let standby = entered.take().and_then(|mut e| e.leave());
            (drive, standby)
        }
        _ => (drive, None),
    }
}

/// The error for a coroutine outside `ferrosock.asyncio` (the coroutine is closed unrun,
/// so Python does not warn that it was never awaited).
#[cold]
pub fn no_asyncio(obj: &Bound<'_, PyAny>) -> PyErr {
    if obj
        .hasattr(pyo3::intern!(obj.py(), "close"))
        .unwrap_or(false)
    {
        let _ = obj.call_method0(pyo3::intern!(obj.py(), "close"));
    }
    PyTypeError::new_err(
        "a callback returned a coroutine: async handlers need ferrosock.asyncio.Server",
    )
}

/// The task that carries on the suspended coroutine `iter` (which yielded `first`): the
/// standby it started in (`first_step`), or a new asyncio task where it had none.
pub fn carry_on(
    py: Python<'_>,
    shared: &Arc<LoopShared>,
    standby: Option<Standby>,
    iter: Bound<'_, PyAny>,
    first: Py<PyAny>,
    task_id: u64,
    purpose: Purpose,
) -> PyResult<Py<PyAny>> {
    if let Some(s) = standby {
        return s.hand_over(py, iter.unbind(), first, task_id, purpose);
    }
    let create_task = match lock(&shared.hooks).as_ref() {
        Some(h) => h.create_task.clone_ref(py),
        None => return Err(no_asyncio(&iter)),
    };
    let call = HandlerCall::new(iter.unbind(), first, task_id, purpose, shared.clone());
    create_task.call1(py, (Py::new(py, call)?,))
}

/// The server stops using the asyncio loop: its standby task ends (at its next step), and
/// is returned for `wait_closed()` to wait for.
pub fn retire_standby(py: Python<'_>, shared: &LoopShared) -> Option<Py<PyAny>> {
    let standby = lock(&shared.standby).take()?;
    let parked = standby.call.try_borrow_mut(py).ok().and_then(|mut call| {
        call.retired = true;
        call.parked.take()
    });
    if let Some(fut) = parked {
        let _ = fut.call_method1(py, pyo3::intern!(py, "set_result"), (py.None(),));
    }
    Some(standby.task)
}

/// A suspended coroutine the current task takes over (see `HandlerCall::finish`).
pub struct Adopted {
    pub iter: Py<PyAny>,
    pub first: Py<PyAny>,
    pub purpose: Purpose,
}

/// Where one step of a coroutine left it.
pub enum Drive {
    Return(Py<PyAny>),
    Yield(Py<PyAny>),
    Error(PyErr),
}

#[inline]
fn is_coroutine(obj: &Bound<'_, PyAny>) -> bool {
    // SAFETY: `obj` is a live object and the GIL is held.
    unsafe { ffi::PyCoro_CheckExact(obj.as_ptr()) != 0 }
}

/// The iterator `await obj` would drive: a native coroutine itself, or `obj.__await__()`
/// for any other awaitable. `None` when `obj` is not awaitable.
pub fn awaitable_iter<'py>(obj: &Bound<'py, PyAny>) -> Option<PyResult<Bound<'py, PyAny>>> {
    if is_coroutine(obj) {
        return Some(Ok(obj.clone()));
    }
    // SAFETY: `obj` is live and the GIL is held; a type object outlives its instances,
    // and `tp_as_async` is either NULL or points to the type's static slot table.
    let awaitable = unsafe {
        let ty = ffi::Py_TYPE(obj.as_ptr());
        let slots = (*ty).tp_as_async;
        !slots.is_null() && (*slots).am_await.is_some()
    };
    if !awaitable {
        return None;
    }
    Some(obj.call_method0(pyo3::intern!(obj.py(), "__await__")))
}

/// One `iter.send(value)`: runs the coroutine to its next suspension or its end.
pub fn send(iter: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> Drive {
    let py = iter.py();
    let mut out: *mut ffi::PyObject = ptr::null_mut();
    // SAFETY: both objects are live and the GIL is held; PyIter_Send stores a new
    // reference in `out` for PYGEN_RETURN and PYGEN_NEXT, and sets an exception (leaving
    // `out` NULL) for PYGEN_ERROR.
    let status = unsafe { ffi::PyIter_Send(iter.as_ptr(), value.as_ptr(), &mut out) };
    match status {
        ffi::PySendResult::PYGEN_RETURN | ffi::PySendResult::PYGEN_NEXT => {
            // SAFETY: `out` is the new reference PyIter_Send returned with this status.
            let obj = unsafe { Bound::from_owned_ptr(py, out).unbind() };
            if status == ffi::PySendResult::PYGEN_RETURN {
                Drive::Return(obj)
            } else {
                Drive::Yield(obj)
            }
        }
        ffi::PySendResult::PYGEN_ERROR => Drive::Error(
            PyErr::take(py).unwrap_or_else(|| PyTypeError::new_err("coroutine failed")),
        ),
    }
}

pub fn cancelled_error(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static CANCELLED: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    CANCELLED
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("asyncio")?.getattr("CancelledError")?.unbind())
        })
        .map(|c| c.bind(py))
}

/// Whether `err` is an `asyncio.CancelledError`.
pub fn is_cancelled(py: Python<'_>, err: &PyErr) -> bool {
    cancelled_error(py).is_ok_and(|cls| err.value(py).is_instance(cls).unwrap_or(false))
}

/// Queues `completion` for the loop and makes sure a `resume` is scheduled.
pub fn complete(py: Python<'_>, shared: &LoopShared, completion: Completion) {
    lock(&shared.completions).push(completion);
    schedule_resume(py, shared);
}

/// One `loop.call_soon(resume)` until the loop has run it.
pub fn schedule_resume(py: Python<'_>, shared: &LoopShared) {
    if shared.resume_scheduled.swap(true, Ordering::AcqRel) {
        return;
    }
    let hooks = lock(&shared.hooks);
    let Some(h) = hooks.as_ref() else {
        shared.resume_scheduled.store(false, Ordering::Release);
        return;
    };
    let (call_soon, resume) = (h.call_soon.clone_ref(py), h.resume.clone_ref(py));
    drop(hooks);
    if let Err(e) = call_soon.call1(py, (resume,)) {
        // The loop is closed: nothing will process the queue any more.
        shared.resume_scheduled.store(false, Ordering::Release);
        e.write_unraisable(py, None);
    }
}

/// The coroutine an asyncio task runs for a handler call that suspended: see the module
/// documentation. Its own result is always `None`; the handler's reply (or exception)
/// goes to the server.
#[pyclass(module = "ferrosock._native")]
pub struct HandlerCall {
    /// The handler's coroutine (or its `__await__` iterator); `None` once it ended.
    iter: Option<Py<PyAny>>,
    /// What the coroutine yielded when it was first driven, yielded again by the first
    /// step of the task.
    first: Option<Py<PyAny>>,
    task_id: u64,
    purpose: Purpose,
    shared: Arc<LoopShared>,
    /// A standby task's call, given nothing to run yet (see `Standby`).
    standby: bool,
    /// The server no longer needs this standby: it ends at its next step.
    retired: bool,
    /// The future a standby waits on until it is handed a coroutine.
    parked: Option<Py<PyAny>>,
    /// Handed its coroutine while parked (`Standby::hand_over`), and woken by a callback
    /// scheduled after the coroutine's first yield. Not so for a standby whose first step
    /// was scheduled when it was made, before that yield, nor for a new task, whose first
    /// step may even be eager (`eager_task_factory`).
    woken_after_yield: bool,
}

impl HandlerCall {
    pub fn new(
        iter: Py<PyAny>,
        first: Py<PyAny>,
        task_id: u64,
        purpose: Purpose,
        shared: Arc<LoopShared>,
    ) -> Self {
        Self {
            iter: Some(iter),
            first: Some(first),
            task_id,
            purpose,
            shared,
            standby: false,
            retired: false,
            parked: None,
            woken_after_yield: false,
        }
    }

    fn standing_by(shared: Arc<LoopShared>) -> Self {
        Self {
            iter: None,
            first: None,
            task_id: 0,
            purpose: Purpose::Disconnect,
            shared,
            standby: true,
            retired: false,
            parked: None,
            woken_after_yield: false,
        }
    }

    /// A standby's step with nothing to run: wait on a new future until `hand_over` or
    /// `retire_standby` completes it (a bare `yield` would be woken at every iteration).
    fn park(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        if self.retired {
            return Ok(None);
        }
        let create_future = match lock(&self.shared.hooks).as_ref() {
            Some(h) => h.create_future.clone_ref(py),
            None => {
                self.retired = true;
                return Ok(None);
            }
        };
        let fut = create_future.call0(py)?;
        // What `await fut` sets: the task waits for the future instead of rejecting a bare
        // yield of it.
        fut.setattr(py, pyo3::intern!(py, "_asyncio_future_blocking"), true)?;
        self.parked = Some(fut.clone_ref(py));
        Ok(Some(fut))
    }

    /// The handler's coroutine ended with `result`. For a handler, the outcome goes to the
    /// server at once, inside this task's step: its reply is written now, and the next
    /// message waiting (this connection's, or another's) is dispatched right here. If that
    /// handler suspends, this task carries on with it (returned: what to yield), as a
    /// consumer task would, instead of ending and leaving it to a new task. The handlers run
    /// so have this task as `asyncio.current_task()`, and are its own from then on.
    /// Otherwise (or when `adopt` is false) the outcome is queued for the loop.
    fn finish(
        &mut self,
        py: Python<'_>,
        result: PyResult<Py<PyAny>>,
        adopt: bool,
    ) -> PyResult<Option<Py<PyAny>>> {
        self.iter = None;
        let mut completion = Completion {
            task_id: self.task_id,
            purpose: self.purpose,
            result,
        };
        if matches!(self.purpose, Purpose::Handler { .. }) {
            let core = lock(&self.shared.hooks)
                .as_ref()
                .and_then(|h| h.core.as_ref().map(|c| c.clone_ref(py)));
            if let Some(core) = core {
                match core
                    .get()
                    .complete_inline(py, completion, self.task_id, adopt)
                {
                    Ok(outcome) => {
                        return Ok(outcome?.map(|a| {
                            self.iter = Some(a.iter);
                            self.purpose = a.purpose;
                            a.first
                        }));
                    }
                    Err(back) => completion = back, // the loop is busy: queue it
                }
            }
        }
        complete(py, &self.shared, completion);
        Ok(None)
    }

    /// What the task's step gets back once the handler's coroutine raised `err`: the
    /// outcome goes to the server either way; cancellation and non-`Exception`s
    /// (KeyboardInterrupt, SystemExit) also propagate through the task as asyncio's own
    /// tasks propagate them, anything else ends the task quietly (it was reported).
    fn failed(&mut self, py: Python<'_>, err: PyErr) -> PyResult<Option<Py<PyAny>>> {
        let propagate =
            is_cancelled(py, &err) || !err.is_instance_of::<pyo3::exceptions::PyException>(py);
        let again = err.clone_ref(py);
        // A task that ends in an exception must not take more work on.
        let next = self.finish(py, Err(err), !propagate)?;
        if propagate {
            Err(again)
        } else {
            Ok(next)
        }
    }

    fn step(&mut self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Option<Py<PyAny>>> {
        if let Some(first) = self.first.take() {
            // A bare `yield` (`asyncio.sleep(0)`) asks to go on after what is already
            // scheduled. Woken after the yield, this step is that: yielding `None` again
            // would cost the task one more iteration before the handler moves.
            if !first.is_none(py) || !self.woken_after_yield {
                return Ok(Some(first));
            }
        }
        if self.standby {
            return self.park(py);
        }
        let _in_step = TaskStep::enter();
        let Some(iter) = self.iter.as_ref().map(|i| i.clone_ref(py)) else {
            return Err(PyStopIteration::new_err(()));
        };
        match send(iter.bind(py), value) {
            Drive::Yield(y) => Ok(Some(y)),
            Drive::Return(v) => self.finish(py, Ok(v), true),
            Drive::Error(e) => self.failed(py, e),
        }
    }
}

#[pymethods]
impl HandlerCall {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.step(py, &py.None().into_bound(py))
    }

    fn send(&mut self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        match self.step(py, value)? {
            Some(y) => Ok(y),
            None => Err(PyStopIteration::new_err(())),
        }
    }

    #[pyo3(signature = (typ, val=None, tb=None))]
    fn throw(
        &mut self,
        py: Python<'_>,
        typ: &Bound<'_, PyAny>,
        val: Option<&Bound<'_, PyAny>>,
        tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        // Never started by the task: the handler is still parked on `first`; throwing into
        // it there is what throwing into the task's coroutine means.
        self.first = None;
        if self.standby {
            // Cancelled while standing by: the task ends with it, and the server makes a
            // new standby.
            self.retired = true;
            self.parked = None;
        }
        let _in_step = TaskStep::enter();
        let Some(iter) = self.iter.as_ref().map(|i| i.clone_ref(py)) else {
            let err = match val {
                Some(v) if !v.is_none() => PyErr::from_value(v.clone()),
                _ => PyErr::from_value(typ.clone()),
            };
            return Err(err);
        };
        let iter = iter.bind(py);
        let res = match (val, tb) {
            (None, _) => iter.call_method1(pyo3::intern!(py, "throw"), (typ,)),
            (Some(v), None) => iter.call_method1(pyo3::intern!(py, "throw"), (typ, v)),
            (Some(v), Some(t)) => iter.call_method1(pyo3::intern!(py, "throw"), (typ, v, t)),
        };
        match res {
            Ok(y) => Ok(y.unbind()),
            Err(e) if e.is_instance_of::<PyStopIteration>(py) => {
                let value = e
                    .value(py)
                    .getattr(pyo3::intern!(py, "value"))
                    .map_or_else(|_| py.None(), Bound::unbind);
                match self.finish(py, Ok(value), true)? {
                    Some(y) => Ok(y),
                    None => Err(PyStopIteration::new_err(())),
                }
            }
            Err(e) => match self.failed(py, e)? {
                Some(y) => Ok(y),
                None => Err(PyStopIteration::new_err(())),
            },
        }
    }

    fn close(&mut self, py: Python<'_>) -> PyResult<()> {
        self.first = None;
        if let Some(iter) = self.iter.take() {
            let iter = iter.bind(py);
            if iter.hasattr(pyo3::intern!(py, "close"))? {
                iter.call_method0(pyo3::intern!(py, "close"))?;
            }
            let completion = Completion {
                task_id: self.task_id,
                purpose: self.purpose,
                result: Err(pyo3::exceptions::PyGeneratorExit::new_err(())),
            };
            complete(py, &self.shared, completion);
        }
        Ok(())
    }
}
