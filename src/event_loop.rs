//! The event loop: [`Loop`] runs coroutines it owns (*tasks*), and wakes
//! them when what they wait for is ready: a timer, an fd, a
//! [`Queue`](crate::Queue), a lock, another task's end, another thread.
//!
//! ```
//! use costack::Loop;
//! use std::time::Duration;
//!
//! let lp = Loop::new().unwrap();
//! let slow = lp.spawn(|cx| {
//!     cx.sleep(Duration::from_millis(20));
//!     "slow"
//! });
//! let fast = lp.spawn(|cx| {
//!     cx.sleep(Duration::from_millis(1));
//!     "fast"
//! });
//! lp.run().unwrap(); // until no task is ready and nothing waits
//! assert_eq!((fast.join(), slow.join()), ("fast", "slow"));
//! ```
//!
//! It is the C core's loop (`CostackLoop` in `include/costack.h`: epoll on
//! Linux, poll(2) on other Unix), with Rust's rules on top:
//!
//! - **Only tasks wait.** A task's closure gets a [`TaskCx`], and every wait
//!   ([`sleep`](TaskCx::sleep), [`readable`](TaskCx::readable),
//!   [`Queue::wait`](crate::Queue::wait),
//!   [`Mutex::lock`](crate::Mutex::lock), [`join`](TaskCx::join), ...)
//!   takes it. A woken task is entered by the loop, never through a user's
//!   [`Coroutine::resume`](crate::Coroutine::resume): a `Coroutine` that
//!   waited would come back to its resumer without suspending. So a
//!   user-resumed coroutine that tries to wait is a **compile error**: its
//!   closure cannot capture the `TaskCx` (borrowed under a lifetime of the
//!   task's own, while the closure is `'static`), nor get it as its input
//!   (inside a task the `TaskCx` is the only [`Proof`] there
//!   is, `resume` borrows it mutably as the proof, and
//!   [`lock`](crate::lock()) panics on a thread that holds the mutex). Each
//!   wait also checks at run time that the running coroutine is the task's
//!   own, for code that reaches one through the raw [`sys`]
//!   API: it panics ("costack: ...: the running coroutine is not the task's
//!   own coroutine") before anything waits.
//! - **The global mutex.** Tasks run only while their thread holds it, as
//!   every coroutine of this crate does: [`Loop::run`], [`Loop::run_once`]
//!   and [`JoinHandle::join`] take it (they panic if the thread holds it
//!   already), and the C loop releases it only while it sleeps in
//!   epoll/poll, when no task runs. A `TaskCx` is therefore a
//!   [`Proof`] for [`GlobalCell`](crate::GlobalCell)s; the
//!   waits borrow it mutably, so no cell borrow lives across one.
//! - **Panics** in a task are caught at its root (none crosses the C
//!   frames of the loop) and resumed by whoever joins it.
//! - **One thread.** A `Loop`, its tasks, their `JoinHandle`s and the
//!   [`Queue`](crate::Queue)s, [`Mutex`](crate::Mutex)es and
//!   [`RwLock`](crate::RwLock)s they share stay on the loop's thread (none
//!   is `Send`; share them between tasks with `Rc`). Other threads reach
//!   the loop through a [`StopHandle`] and an [`Unparker`] (both `Send`),
//!   and can run loops of their own meanwhile.
//! - **Dropping** a `Loop` whose tasks have not all ended leaks those tasks
//!   (stacks, closures, the C loop): they are never resumed, and their
//!   destructors do not run. A task that waits keeps the loop alive, so
//!   run the loop until they end.

use crate::abort::die;
use crate::coroutine::Builder;
use crate::mutex::{sealed::Sealed, Proof};
use crate::sys;
use std::any::Any;
use std::cell::Cell;
use std::ffi::c_void;
use std::io;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;
use std::sync::{Arc, Mutex as StdMutex, MutexGuard as StdMutexGuard};
use std::time::Duration;

type Payload = Box<dyn Any + Send + 'static>;

/// A `Duration` as the C core's nanoseconds, saturated.
pub(crate) fn nanos(d: Duration) -> libc::c_longlong {
    d.as_nanos().min(libc::c_longlong::MAX as u128) as libc::c_longlong
}

/// An optional timeout as the C core's nanoseconds (negative: none).
#[cfg(unix)]
pub(crate) fn timeout_nanos(timeout: Option<Duration>) -> libc::c_longlong {
    timeout.map_or(-1, nanos)
}

/// Locks a std mutex of this module, whose data stays consistent even if a
/// holder panicked (each critical section is a few assignments).
fn lock_std<T>(m: &StdMutex<T>) -> StdMutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The C loop's pointer, to be passed to the two functions of the loop that
/// any thread may call (`costack_loop_stop`, `costack_loop_schedule`).
#[derive(Clone, Copy)]
struct RawLoop(*mut sys::CostackLoop);

// SAFETY: other threads use the pointer only for `costack_loop_stop` and
// `costack_loop_schedule`, which the C API makes thread-safe, and only
// while the loop exists (under `Remote::raw`'s lock, which the loop's
// release empties first).
unsafe impl Send for RawLoop {}

/// What other threads reach of a loop: its pointer while it exists.
struct Remote {
    raw: StdMutex<Option<RawLoop>>,
}

/// The C loop, shared by the [`Loop`], its tasks (while they live) and the
/// join handles; freed with the last of them.
struct LoopInner {
    raw: *mut sys::CostackLoop,
    remote: Arc<Remote>,
}

impl Drop for LoopInner {
    fn drop(&mut self) {
        *lock_std(&self.remote.raw) = None;
        // SAFETY: the last reference to the loop: no task lives (each holds
        // one), nobody runs the loop (that takes a reference too), and no
        // other thread reaches it any more (`remote` is empty). A C loop
        // that refuses (EBUSY: a C coroutine waits on it) is left as it is.
        unsafe { sys::costack_loop_free(self.raw) };
    }
}

/// An event loop that owns coroutines (tasks) and wakes them when what they
/// wait for is ready (see the [module](crate::event_loop)).
///
/// Not `Send`: a loop runs on the thread that made it. [`stop_handle`]
/// gives other threads a way to stop it, [`TaskCx::unparker`] a way to wake
/// one of its tasks.
///
/// [`stop_handle`]: Loop::stop_handle
///
/// ```
/// use costack::Loop;
///
/// let lp = Loop::new().unwrap();
/// let answer = lp.spawn(|cx| {
///     let inner = cx.spawn(|_cx| 6 * 7);
///     cx.join(inner)
/// });
/// lp.run().unwrap();
/// assert_eq!(answer.join(), 42);
/// ```
pub struct Loop {
    inner: Rc<LoopInner>,
}

impl Loop {
    /// A new loop.
    ///
    /// # Errors
    ///
    /// What the system refuses (out of memory, out of file descriptors for
    /// the epoll fd and the wake-up eventfd).
    ///
    /// ```
    /// let lp = costack::Loop::new()?;
    /// lp.run()?; // nothing to do: returns at once
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<Loop> {
        // SAFETY: `costack_loop_new` has no precondition.
        let raw = unsafe { sys::costack_loop_new() };
        if raw.is_null() {
            return Err(crate::errno::last_error());
        }
        Ok(Loop {
            inner: Rc::new(LoopInner {
                raw,
                remote: Arc::new(Remote {
                    raw: StdMutex::new(Some(RawLoop(raw))),
                }),
            }),
        })
    }

    /// Spawns `body` as a task with a 1 MiB stack: it first runs when the
    /// loop dispatches ([`run`](Loop::run), [`run_once`](Loop::run_once) or
    /// a [`join`](JoinHandle::join)), and gets the task's [`TaskCx`].
    ///
    /// # Panics
    ///
    /// If the C core cannot create the coroutine (out of memory or
    /// mappings); [`spawn_with`](Loop::spawn_with) returns an error instead.
    ///
    /// ```
    /// let lp = costack::Loop::new().unwrap();
    /// let h = lp.spawn(|cx| {
    ///     cx.yield_now();
    ///     String::from("done")
    /// });
    /// assert_eq!(h.join(), "done"); // runs the loop until the task ended
    /// ```
    pub fn spawn<F, T>(&self, body: F) -> JoinHandle<T>
    where
        F: for<'t> FnOnce(&mut TaskCx<'t>) -> T + 'static,
        T: 'static,
    {
        spawn_in(&self.inner, &Builder::new(), body)
            .unwrap_or_else(|e| panic!("costack: cannot spawn a task: {e}"))
    }

    /// Spawns `body` as a task with the stack and guard sizes of `builder`.
    ///
    /// # Errors
    ///
    /// As [`Builder::build`]: `InvalidInput` for sizes out of range,
    /// `OutOfMemory` when memory or mappings are exhausted (`body` is dropped
    /// then).
    ///
    /// ```
    /// use costack::{Builder, Loop};
    ///
    /// let lp = Loop::new().unwrap();
    /// let h = lp.spawn_with(&Builder::new().stack_size(64 << 10), |_cx| 1).unwrap();
    /// assert_eq!(h.join(), 1);
    /// assert!(lp.spawn_with(&Builder::new().stack_size(1024), |_cx| ()).is_err());
    /// ```
    pub fn spawn_with<F, T>(&self, builder: &Builder, body: F) -> io::Result<JoinHandle<T>>
    where
        F: for<'t> FnOnce(&mut TaskCx<'t>) -> T + 'static,
        T: 'static,
    {
        spawn_in(&self.inner, builder, body)
    }

    /// Runs the loop until no task is ready and nothing waits on it
    /// (timers, fds, tasks waiting on queues and locks count as waiting),
    /// or until [`StopHandle::stop`]. Takes the global mutex meanwhile
    /// (released while the loop sleeps).
    ///
    /// # Errors
    ///
    /// What epoll/poll report.
    ///
    /// # Panics
    ///
    /// Inside a coroutine (a task cannot run its loop), or if the thread
    /// holds the global mutex (drop the [`Guard`](crate::Guard) first).
    ///
    /// ```
    /// use costack::{GlobalCell, Loop};
    /// use std::time::Duration;
    ///
    /// static ORDER: GlobalCell<Vec<u32>> = GlobalCell::new(Vec::new());
    /// let lp = Loop::new().unwrap();
    /// for n in [3u32, 1, 2] {
    ///     lp.spawn(move |cx| {
    ///         cx.sleep(Duration::from_millis(n.into()));
    ///         ORDER.borrow_mut(cx).push(n);
    ///     });
    /// }
    /// lp.run().unwrap();
    /// assert_eq!(*ORDER.borrow(&costack::lock()), [1, 2, 3]);
    /// ```
    pub fn run(&self) -> io::Result<()> {
        let _guard = outside_lock("Loop::run");
        // SAFETY: the loop is alive (`self`), this is its thread (`Loop` is
        // not `Send`), outside any coroutine, and the thread holds the
        // global mutex, under which the loop enters tasks.
        if unsafe { sys::costack_loop_run(self.inner.raw) } != 0 {
            return Err(crate::errno::last_error());
        }
        Ok(())
    }

    /// Dispatches what is ready now (timers due, fds ready, woken tasks)
    /// without blocking; returns how many task entries it made.
    ///
    /// # Errors
    ///
    /// What epoll/poll report.
    ///
    /// # Panics
    ///
    /// As [`run`](Loop::run).
    ///
    /// ```
    /// let lp = costack::Loop::new().unwrap();
    /// let h = lp.spawn(|cx| cx.yield_now());
    /// assert!(lp.run_once().unwrap() >= 1);
    /// while !h.is_finished() {
    ///     lp.run_once().unwrap();
    /// }
    /// h.join();
    /// ```
    pub fn run_once(&self) -> io::Result<usize> {
        let _guard = outside_lock("Loop::run_once");
        // SAFETY: as in `run`.
        let n = unsafe { sys::costack_loop_run_once(self.inner.raw) };
        if n < 0 {
            return Err(crate::errno::last_error());
        }
        Ok(n as usize)
    }

    /// A handle that any thread can use to stop the loop.
    ///
    /// ```
    /// use costack::{Loop, Queue};
    /// use std::rc::Rc;
    ///
    /// let lp = Loop::new().unwrap();
    /// let stop = lp.stop_handle();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let queue = Rc::new(Queue::new());
    /// let q = queue.clone();
    /// let h = lp.spawn(move |cx| {
    ///     tx.send(()).unwrap();
    ///     q.wait(cx); // until notified: run alone would not return
    /// });
    /// let t = std::thread::spawn(move || {
    ///     rx.recv().unwrap(); // the task waits now
    ///     stop.stop();
    /// });
    /// lp.run().unwrap(); // returns once the thread stopped it
    /// t.join().unwrap();
    /// assert!(!h.is_finished());
    /// queue.notify_all();
    /// h.join();
    /// ```
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            remote: self.inner.remote.clone(),
        }
    }

    /// The C loop, for the raw API in [`sys`] (valid while the `Loop`
    /// lives).
    ///
    /// ```
    /// let lp = costack::Loop::new().unwrap();
    /// assert!(!lp.as_raw().is_null());
    /// ```
    pub fn as_raw(&self) -> *mut sys::CostackLoop {
        self.inner.raw
    }
}

impl std::fmt::Debug for Loop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loop")
            .field("raw", &self.inner.raw)
            .finish()
    }
}

/// Takes the global mutex for running the loop outside any coroutine, or
/// panics with a sentence naming `what`.
fn outside_lock(what: &str) -> crate::Guard {
    if crate::in_coroutine() {
        panic!(
            "costack: {what} inside a coroutine: a task cannot run its loop (inside a task, \
             wait with the TaskCx instead, e.g. TaskCx::join)"
        );
    }
    if crate::lock_held() {
        panic!(
            "costack: {what}: this thread holds the global mutex already; drop the Guard \
             first (the loop takes the mutex itself, and releases it while it sleeps)"
        );
    }
    crate::lock()
}

/// A thread-safe handle that stops a [`Loop`]; made by
/// [`Loop::stop_handle`]. `Send`, `Sync` and `Clone`. Stopping a loop that
/// no longer exists does nothing.
///
/// ```
/// let lp = costack::Loop::new().unwrap();
/// let stop = lp.stop_handle();
/// drop(lp);
/// stop.stop(); // nothing to stop
/// ```
#[derive(Clone)]
pub struct StopHandle {
    remote: Arc<Remote>,
}

impl StopHandle {
    /// Makes the loop's [`run`](Loop::run) (or the run of a
    /// [`JoinHandle::join`], which then panics) return after its current
    /// dispatch, waking it if it sleeps. A stop while the loop does not run
    /// makes its next run return at once, having dispatched nothing. Any
    /// thread.
    ///
    /// ```
    /// let lp = costack::Loop::new().unwrap();
    /// let stop = lp.stop_handle();
    /// lp.spawn(move |_cx| stop.stop());
    /// lp.run().unwrap();
    /// ```
    pub fn stop(&self) {
        if let Some(raw) = *lock_std(&self.remote.raw) {
            // SAFETY: the loop exists while `raw` is set (its release clears
            // it under this lock first), and `costack_loop_stop` may be
            // called from any thread.
            unsafe { sys::costack_loop_stop(raw.0) };
        }
    }
}

impl std::fmt::Debug for StopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StopHandle")
    }
}

/// What a task leaves for its join handle.
struct TaskShared<T> {
    /// What the closure returned, or its panic; `None` while it runs.
    outcome: Cell<Option<Result<T, Payload>>>,
    /// Whether `outcome` was ever filled (it is emptied by `join`).
    finished: Cell<bool>,
}

/// Everything a task's first entry needs, boxed by the spawn.
struct TaskStart<F, T> {
    body: F,
    shared: Rc<TaskShared<T>>,
    inner: Rc<LoopInner>,
}

/// `Loop::spawn` and `TaskCx::spawn`.
fn spawn_in<F, T>(inner: &Rc<LoopInner>, builder: &Builder, body: F) -> io::Result<JoinHandle<T>>
where
    F: for<'t> FnOnce(&mut TaskCx<'t>) -> T + 'static,
    T: 'static,
{
    let options = builder.c_options()?;
    let shared = Rc::new(TaskShared {
        outcome: Cell::new(None),
        finished: Cell::new(false),
    });
    let start = Box::into_raw(Box::new(TaskStart {
        body,
        shared: shared.clone(),
        inner: inner.clone(),
    }));
    // SAFETY: the loop is alive (`inner`) and this is its thread (`Rc` is
    // not `Send`). `task_entry::<F, T>` takes `start`, a `TaskStart<F, T>`,
    // exactly once, at the task's first entry.
    let task = unsafe {
        sys::costack_loop_spawn(inner.raw, Some(task_entry::<F, T>), start.cast(), &options)
    };
    if task.is_null() {
        let e = crate::errno::last_error();
        // SAFETY: the C core refused, so nothing took `start`: it is ours.
        drop(unsafe { Box::from_raw(start) });
        return Err(e);
    }
    Ok(JoinHandle {
        task,
        shared,
        _loop: inner.clone(),
    })
}

/// The body of every Rust task: runs the closure in `arg` (a boxed
/// `TaskStart<F, T>`) under `catch_unwind` and leaves the outcome for the
/// join handle.
///
/// # Safety
///
/// Called by the C loop only, as the task `spawn_in` made with this `F` and
/// `T`, whose `arg` is the box `spawn_in` leaked; once.
unsafe extern "C" fn task_entry<F, T>(arg: *mut c_void) -> *mut c_void
where
    F: for<'t> FnOnce(&mut TaskCx<'t>) -> T + 'static,
    T: 'static,
{
    // SAFETY: the caller's contract: `arg` is the leaked box, taken once.
    let start = unsafe { Box::from_raw(arg.cast::<TaskStart<F, T>>()) };
    let TaskStart {
        body,
        shared,
        inner,
    } = *start;
    let mut cx = TaskCx {
        // SAFETY: `costack_self` only reads the thread's state; we run in
        // the task's coroutine.
        co: unsafe { sys::costack_self() },
        inner,
        park: None,
        _brand: PhantomData,
        _not_send: PhantomData,
    };
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| body(&mut cx)));
    // From here on nothing may unwind into the C loop: dropping `shared`
    // drops the outcome if the handle is gone, which runs user code.
    shared.outcome.set(Some(outcome));
    shared.finished.set(true);
    let rest = panic::catch_unwind(AssertUnwindSafe(move || {
        drop(shared);
        drop(cx);
    }));
    if let Err(payload) = rest {
        std::mem::forget(payload);
        die(
            "costack: the result of a detached task (its JoinHandle was dropped) panicked \
             while it was dropped",
        );
    }
    ptr::null_mut()
}

/// The handle of a task: [`join`](JoinHandle::join) it (from outside the
/// loop) or hand it to [`TaskCx::join`] (from another task) for what the
/// task returned; its panic, if it panicked, is resumed there.
///
/// Dropping the handle detaches the task: it runs on, and what it returns
/// is dropped (a panic's message was printed by the panic hook when it
/// happened). Not `Send`: it stays on the loop's thread.
///
/// ```
/// use costack::Loop;
///
/// let lp = Loop::new().unwrap();
/// let boom = lp.spawn(|_cx| -> u32 { panic!("boom") });
/// let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| boom.join())).unwrap_err();
/// assert_eq!(err.downcast_ref::<&str>(), Some(&"boom"));
/// ```
pub struct JoinHandle<T> {
    /// The C handle; null once joined or detached.
    task: *mut sys::CostackTask,
    shared: Rc<TaskShared<T>>,
    /// Keeps the C loop (which the C handle belongs to) alive.
    _loop: Rc<LoopInner>,
}

impl<T> JoinHandle<T> {
    /// Waits for the task to end, running its loop meanwhile (as
    /// [`Loop::run`] does, until this task ended), and returns what it
    /// returned.
    ///
    /// # Panics
    ///
    /// With the task's panic payload if it panicked. Inside a coroutine
    /// (use [`TaskCx::join`]), or if the thread holds the global mutex. If
    /// the loop stopped ([`StopHandle::stop`]) or failed before the task
    /// ended.
    ///
    /// ```
    /// let lp = costack::Loop::new().unwrap();
    /// let h = lp.spawn(|cx| {
    ///     cx.sleep(std::time::Duration::from_millis(1));
    ///     7
    /// });
    /// assert_eq!(h.join(), 7);
    /// ```
    pub fn join(mut self) -> T {
        let guard = outside_lock("JoinHandle::join");
        // SAFETY: `task` is this handle's C task, not yet joined or
        // detached, of a loop that is alive (`self._loop`) and belongs to
        // this thread; outside any coroutine, with the global mutex held, as
        // running the loop needs.
        let r = unsafe { sys::costack_task_join(self.task, ptr::null_mut()) };
        let err = (r != 0).then(crate::errno::last_error);
        drop(guard);
        if let Some(e) = err {
            // The C handle is still ours (EINTR: the loop was stopped
            // first): the drop detaches it.
            panic!("costack: JoinHandle::join: {e}");
        }
        // Joined: the C core freed the handle.
        self.task = ptr::null_mut();
        self.take_outcome("JoinHandle::join")
    }

    /// Whether the task has ended (returned or panicked): a join returns
    /// at once.
    ///
    /// ```
    /// let lp = costack::Loop::new().unwrap();
    /// let h = lp.spawn(|_cx| ());
    /// assert!(!h.is_finished());
    /// lp.run().unwrap();
    /// assert!(h.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.shared.finished.get()
    }

    /// The task's outcome, after the C join returned: its value, or its
    /// panic resumed.
    fn take_outcome(&self, what: &str) -> T {
        match self.shared.outcome.take() {
            Some(Ok(value)) => value,
            Some(Err(payload)) => panic::resume_unwind(payload),
            None => panic!("costack: {what}: the task has not ended (was the loop stopped?)"),
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if !self.task.is_null() {
            // SAFETY: the C handle, not joined or detached yet, of a live
            // loop (`self._loop`) on this thread.
            unsafe { sys::costack_task_detach(self.task) };
        }
    }
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// A task's context: what its closure gets, `&mut TaskCx<'_>`, and what
/// every wait on the loop's primitives takes.
///
/// It proves two things. The code runs in a task of a loop, so it may wait:
/// waits suspend the task until the loop wakes it. And the thread holds the
/// global mutex: a `TaskCx` is a [`Proof`] for
/// [`GlobalCell`](crate::GlobalCell)s, and since the waits borrow it
/// mutably, no cell borrow lives across a wait.
///
/// The lifetime `'t` is the task's own (the closure gets it under a
/// higher-ranked lifetime): nothing that names it can leave the task, which
/// is what keeps [`MutexGuard`](crate::MutexGuard)s and the other lock
/// guards in it. A `TaskCx` is neither `Send` nor `Sync`.
///
/// ```
/// use costack::{GlobalCell, Loop, TaskCx};
/// use std::time::Duration;
///
/// static HITS: GlobalCell<u32> = GlobalCell::new(0);
///
/// fn work(cx: &mut TaskCx<'_>) -> u32 {
///     *HITS.borrow_mut(cx) += 1; // the TaskCx is the proof
///     cx.sleep(Duration::from_millis(1)); // ... and what waits take
///     HITS.get(cx)
/// }
///
/// let lp = Loop::new().unwrap();
/// let h = lp.spawn(work);
/// assert_eq!(h.join(), 1);
/// ```
pub struct TaskCx<'t> {
    /// The task's coroutine: the only one that may wait with this context.
    co: *mut sys::CostackCoroutine,
    inner: Rc<LoopInner>,
    /// The task's parking spot, made by the first `unparker` or `park`.
    park: Option<Arc<Park>>,
    /// Invariant in `'t`, so that the brand cannot be widened or narrowed
    /// into another task's (or `'static`).
    _brand: PhantomData<fn(&'t ()) -> &'t ()>,
    /// Neither `Send` nor `Sync`: it proves what holds on this thread only.
    _not_send: PhantomData<*mut ()>,
}

impl Sealed for TaskCx<'_> {}
impl Proof for TaskCx<'_> {}

impl<'t> TaskCx<'t> {
    /// Panics unless the running coroutine is this task's: a wait from
    /// anywhere else (a `Coroutine` the task resumes, given this context
    /// as its input) would be woken into the wrong coroutine.
    #[inline]
    pub(crate) fn check(&self, what: &str) {
        // SAFETY: `costack_self` only reads the thread's costack state.
        if unsafe { sys::costack_self() } != self.co {
            not_the_task(what);
        }
    }

    /// Suspends the task for `duration` (a timer of its loop); other tasks
    /// run meanwhile.
    ///
    /// # Panics
    ///
    /// If called from a coroutine other than the task's own (see the
    /// [module](crate::event_loop)).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let lp = costack::Loop::new().unwrap();
    /// let h = lp.spawn(|cx| {
    ///     let start = Instant::now();
    ///     cx.sleep(Duration::from_millis(5));
    ///     start.elapsed()
    /// });
    /// assert!(h.join() >= Duration::from_millis(5));
    /// ```
    pub fn sleep(&mut self, duration: Duration) {
        self.check("TaskCx::sleep");
        // SAFETY: in this task's coroutine (checked), which its loop owns;
        // the thread holds the global mutex (the loop's dispatch).
        unsafe { sys::costack_sleep_ns(nanos(duration)) }
    }

    /// Lets the loop's other ready tasks run, then continues.
    ///
    /// # Panics
    ///
    /// As [`sleep`](TaskCx::sleep).
    ///
    /// ```
    /// use costack::{GlobalCell, Loop};
    ///
    /// static LOG: GlobalCell<Vec<&str>> = GlobalCell::new(Vec::new());
    /// let lp = Loop::new().unwrap();
    /// lp.spawn(|cx| {
    ///     LOG.borrow_mut(cx).push("a1");
    ///     cx.yield_now();
    ///     LOG.borrow_mut(cx).push("a2");
    /// });
    /// lp.spawn(|cx| LOG.borrow_mut(cx).push("b"));
    /// lp.run().unwrap();
    /// assert_eq!(*LOG.borrow(&costack::lock()), ["a1", "b", "a2"]);
    /// ```
    pub fn yield_now(&mut self) {
        self.check("TaskCx::yield_now");
        // SAFETY: as in `sleep`.
        unsafe { sys::costack_loop_yield() }
    }

    /// Spawns another task on this task's loop (as [`Loop::spawn`]).
    ///
    /// # Panics
    ///
    /// If the C core cannot create the coroutine.
    ///
    /// ```
    /// let lp = costack::Loop::new().unwrap();
    /// let h = lp.spawn(|cx| {
    ///     let a = cx.spawn(|_cx| 1);
    ///     let b = cx.spawn(|_cx| 2);
    ///     cx.join(a) + cx.join(b)
    /// });
    /// assert_eq!(h.join(), 3);
    /// ```
    pub fn spawn<F, T>(&mut self, body: F) -> JoinHandle<T>
    where
        F: for<'u> FnOnce(&mut TaskCx<'u>) -> T + 'static,
        T: 'static,
    {
        spawn_in(&self.inner, &Builder::new(), body)
            .unwrap_or_else(|e| panic!("costack: cannot spawn a task: {e}"))
    }

    /// Spawns another task on this task's loop with the stack and guard
    /// sizes of `builder` (as [`Loop::spawn_with`]).
    ///
    /// # Errors
    ///
    /// As [`Loop::spawn_with`].
    ///
    /// ```
    /// let lp = costack::Loop::new().unwrap();
    /// let h = lp.spawn(|cx| {
    ///     let small = costack::Builder::new().stack_size(64 << 10);
    ///     let inner = cx.spawn_with(&small, |_cx| "small stack").unwrap();
    ///     cx.join(inner)
    /// });
    /// assert_eq!(h.join(), "small stack");
    /// ```
    pub fn spawn_with<F, T>(&mut self, builder: &Builder, body: F) -> io::Result<JoinHandle<T>>
    where
        F: for<'u> FnOnce(&mut TaskCx<'u>) -> T + 'static,
        T: 'static,
    {
        spawn_in(&self.inner, builder, body)
    }

    /// Waits for another task to end and returns what it returned.
    ///
    /// # Panics
    ///
    /// With the joined task's panic payload if it panicked. As
    /// [`sleep`](TaskCx::sleep) from another coroutine, and if a task joins
    /// itself.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = costack::Loop::new().unwrap();
    /// let h = lp.spawn(|cx| {
    ///     let child = cx.spawn(|cx| {
    ///         cx.sleep(Duration::from_millis(2));
    ///         "child"
    ///     });
    ///     cx.join(child)
    /// });
    /// assert_eq!(h.join(), "child");
    /// ```
    pub fn join<T>(&mut self, mut handle: JoinHandle<T>) -> T {
        self.check("TaskCx::join");
        // SAFETY: in this task's coroutine (checked); `handle.task` is the
        // handle's C task, not yet joined or detached, of a loop on this
        // thread (alive: the handle holds it).
        if unsafe { sys::costack_task_join(handle.task, ptr::null_mut()) } != 0 {
            // EDEADLK (a task joining itself): the C handle is still ours,
            // and the handle's drop detaches it.
            panic!("costack: TaskCx::join: {}", crate::errno::last_error());
        }
        // Joined: the C core freed the handle.
        handle.task = ptr::null_mut();
        handle.take_outcome("TaskCx::join")
    }

    /// Waits until `fd` is readable, or `timeout` passed (`None`: no
    /// timeout). `Ok(true)` when it is readable (or hung up, or has an
    /// error pending: the read tells), `Ok(false)` on timeout.
    ///
    /// Takes the fd by `AsFd`, so that safe code cannot close it while the
    /// task waits (the C loop's docs: a plain `close` under a waiter is
    /// undefined, since epoll forgets the fd silently).
    ///
    /// # Errors
    ///
    /// `EBADF` for an invalid fd; what epoll/poll report.
    ///
    /// # Panics
    ///
    /// As [`sleep`](TaskCx::sleep).
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::os::unix::net::UnixStream;
    /// use std::time::Duration;
    ///
    /// let lp = costack::Loop::new().unwrap();
    /// let (mut a, mut b) = UnixStream::pair().unwrap();
    /// let h = lp.spawn(move |cx| {
    ///     assert!(!cx.readable(&b, Some(Duration::from_millis(1))).unwrap()); // nothing yet
    ///     a.write_all(b"hi").unwrap();
    ///     assert!(cx.readable(&b, None).unwrap());
    ///     let mut buf = [0; 2];
    ///     b.read_exact(&mut buf).unwrap();
    ///     buf
    /// });
    /// assert_eq!(&h.join(), b"hi");
    /// ```
    #[cfg(unix)]
    pub fn readable(
        &mut self,
        fd: &impl std::os::fd::AsFd,
        timeout: Option<Duration>,
    ) -> io::Result<bool> {
        self.wait_fd("TaskCx::readable", fd, sys::COSTACK_READABLE, timeout)
    }

    /// Waits until `fd` is writable, or `timeout` passed (`None`: no
    /// timeout). `Ok(true)` when it is writable (or has an error pending),
    /// `Ok(false)` on timeout. See [`readable`](TaskCx::readable).
    ///
    /// # Errors
    ///
    /// `EBADF` for an invalid fd; what epoll/poll report.
    ///
    /// # Panics
    ///
    /// As [`sleep`](TaskCx::sleep).
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    ///
    /// let lp = costack::Loop::new().unwrap();
    /// let (a, _b) = UnixStream::pair().unwrap();
    /// let h = lp.spawn(move |cx| cx.writable(&a, None).unwrap());
    /// assert!(h.join());
    /// ```
    #[cfg(unix)]
    pub fn writable(
        &mut self,
        fd: &impl std::os::fd::AsFd,
        timeout: Option<Duration>,
    ) -> io::Result<bool> {
        self.wait_fd("TaskCx::writable", fd, sys::COSTACK_WRITABLE, timeout)
    }

    #[cfg(unix)]
    fn wait_fd(
        &mut self,
        what: &str,
        fd: &impl std::os::fd::AsFd,
        events: u32,
        timeout: Option<Duration>,
    ) -> io::Result<bool> {
        use std::os::fd::AsRawFd;
        self.check(what);
        let fd = fd.as_fd();
        // SAFETY: in this task's coroutine (checked); `fd` is open for the
        // whole wait (borrowed as a `BorrowedFd`).
        let r = unsafe {
            sys::costack_wait_fd(
                fd.as_raw_fd(),
                events as libc::c_int,
                timeout_nanos(timeout),
            )
        };
        if r < 0 {
            return Err(crate::errno::last_error());
        }
        Ok(r > 0)
    }

    /// Runs `f` on one of the loop's worker threads and waits for it (QEMU's
    /// `thread_pool_submit_co`): the way a task reads a file or resolves a
    /// name without stalling the loop. Other tasks run meanwhile.
    ///
    /// # Errors
    ///
    /// When no worker thread can be started (`f` is dropped then).
    ///
    /// # Panics
    ///
    /// With `f`'s panic payload if it panicked (on the worker, where it was
    /// caught). As [`sleep`](TaskCx::sleep) from another coroutine.
    ///
    /// ```
    /// let lp = costack::Loop::new().unwrap();
    /// let h = lp.spawn(|cx| cx.run_blocking(|| std::thread::current().id()).unwrap());
    /// assert_ne!(h.join(), std::thread::current().id());
    /// ```
    pub fn run_blocking<F, R>(&mut self, f: F) -> io::Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        self.check("TaskCx::run_blocking");
        let mut job = Job::<F, R> {
            f: Some(f),
            out: None,
        };
        // SAFETY: in this task's coroutine (checked). `job` lives in this
        // frame, which waits until the worker has finished with it (the C
        // call returns after the worker's return, ordered by the loop's
        // hand-back); `run_job::<F, R>` is given a `Job<F, R>`.
        let r = unsafe {
            sys::costack_run_in_thread(
                Some(run_job::<F, R>),
                ptr::addr_of_mut!(job).cast(),
                ptr::null_mut(),
            )
        };
        if r != 0 {
            return Err(crate::errno::last_error());
        }
        match job.out {
            Some(Ok(value)) => Ok(value),
            Some(Err(payload)) => panic::resume_unwind(payload),
            None => die("costack: TaskCx::run_blocking: the worker returned without running"),
        }
    }

    /// Suspends the task until its [`Unparker`] is used, or returns at once
    /// if it was used since the last `park` (one token, as
    /// `std::thread::park` has).
    ///
    /// # Panics
    ///
    /// As [`sleep`](TaskCx::sleep).
    ///
    /// ```
    /// let lp = costack::Loop::new().unwrap();
    /// let h = lp.spawn(|cx| {
    ///     let unparker = cx.unparker();
    ///     let t = std::thread::spawn(move || unparker.unpark());
    ///     cx.park(); // until the thread unparks us (or at once if it did)
    ///     t.join().unwrap();
    ///     "woken"
    /// });
    /// assert_eq!(h.join(), "woken");
    /// ```
    pub fn park(&mut self) {
        self.check("TaskCx::park");
        let park = self.park_spot().clone();
        {
            let mut state = lock_std(&park.state);
            if state.token {
                state.token = false;
                return;
            }
            state.waiting = Some(RawCo(self.co));
        }
        // SAFETY: in this task's coroutine (checked), which its loop owns.
        // The unparker that takes `waiting` schedules us through the loop,
        // which wakes us on its thread after we are in the wait (we run on
        // that thread until we switch away in it). `park_detach` gets the
        // `Park` that `park` keeps alive across the wait.
        unsafe { sys::costack_wait(Some(park_detach), Arc::as_ptr(&park) as *mut c_void) };
    }

    /// A thread-safe handle that wakes this task from [`park`](TaskCx::park).
    /// `Send`, `Sync` and `Clone`; any thread.
    ///
    /// ```
    /// let lp = costack::Loop::new().unwrap();
    /// let h = lp.spawn(|cx| {
    ///     cx.unparker().unpark(); // before the park: the token is kept
    ///     cx.park(); // returns at once
    /// });
    /// h.join();
    /// ```
    pub fn unparker(&mut self) -> Unparker {
        Unparker {
            park: self.park_spot().clone(),
        }
    }

    fn park_spot(&mut self) -> &Arc<Park> {
        let remote = &self.inner.remote;
        self.park.get_or_insert_with(|| {
            Arc::new(Park {
                state: StdMutex::new(ParkState {
                    token: false,
                    waiting: None,
                }),
                remote: remote.clone(),
            })
        })
    }
}

#[cold]
#[inline(never)]
fn not_the_task(what: &str) -> ! {
    panic!(
        "costack: {what}: the running coroutine is not the task's own coroutine: only tasks \
         a loop owns may wait on loop primitives (a Coroutine resumed with Coroutine::resume \
         may not, since the loop, not its resumer, would continue it)"
    )
}

impl std::fmt::Debug for TaskCx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TaskCx")
    }
}

/// A function for a worker thread and what it gave back.
struct Job<F, R> {
    f: Option<F>,
    out: Option<Result<R, Payload>>,
}

/// Runs a `Job<F, R>` on a worker thread, catching its panic.
///
/// # Safety
///
/// `arg` points to a `Job<F, R>` that nothing else touches until this
/// returns.
unsafe extern "C" fn run_job<F, R>(arg: *mut c_void) -> *mut c_void
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    // SAFETY: the caller's contract.
    let job = unsafe { &mut *arg.cast::<Job<F, R>>() };
    if let Some(f) = job.f.take() {
        job.out = Some(panic::catch_unwind(AssertUnwindSafe(f)));
    }
    ptr::null_mut()
}

/// A coroutine pointer that an unparker may carry to another thread.
#[derive(Clone, Copy)]
struct RawCo(*mut sys::CostackCoroutine);

// SAFETY: another thread only passes it to `costack_loop_schedule`, which
// is thread-safe, while the coroutine waits in `park` (it cannot end
// meanwhile: only that wake ends the wait, tasks are never destroyed by
// this crate, and `park_detach` clears it otherwise).
unsafe impl Send for RawCo {}

struct ParkState {
    /// An unpark came while the task was not parked.
    token: bool,
    /// The task, while it waits in `park` and no unpark took it.
    waiting: Option<RawCo>,
}

/// A task's parking spot, shared with its unparkers.
struct Park {
    state: StdMutex<ParkState>,
    remote: Arc<Remote>,
}

/// The detach of `park`'s wait: the task no longer waits.
///
/// # Safety
///
/// `arg` is the `Park` that the waiting `park` keeps alive.
unsafe extern "C" fn park_detach(_co: *mut sys::CostackCoroutine, arg: *mut c_void) {
    // SAFETY: the caller's contract.
    let park = unsafe { &*arg.cast::<Park>() };
    lock_std(&park.state).waiting = None;
}

/// Wakes a task parked in [`TaskCx::park`], from any thread; made by
/// [`TaskCx::unparker`]. `Send`, `Sync`, `Clone`.
///
/// ```
/// use std::sync::mpsc;
///
/// let lp = costack::Loop::new().unwrap();
/// let (tx, rx) = mpsc::channel();
/// let h = lp.spawn(move |cx| {
///     let (reply_tx, reply_rx) = mpsc::channel();
///     tx.send((cx.unparker(), reply_tx)).unwrap();
///     loop {
///         if let Ok(n) = reply_rx.try_recv() {
///             return n;
///         }
///         cx.park();
///     }
/// });
/// let worker = std::thread::spawn(move || {
///     let (unparker, reply) = rx.recv().unwrap();
///     reply.send(42).unwrap();
///     unparker.unpark();
/// });
/// assert_eq!(h.join(), 42);
/// worker.join().unwrap();
/// ```
#[derive(Clone)]
pub struct Unparker {
    park: Arc<Park>,
}

impl Unparker {
    /// Wakes the task if it is parked (through its loop: the loop's thread
    /// continues it on its next dispatch), else leaves a token that makes
    /// its next [`park`](TaskCx::park) return at once. Any thread.
    ///
    /// ```
    /// let lp = costack::Loop::new().unwrap();
    /// let h = lp.spawn(|cx| {
    ///     let u = cx.unparker();
    ///     u.unpark();
    ///     u.unpark(); // one token, as many unparks
    ///     cx.park();
    /// });
    /// h.join();
    /// ```
    pub fn unpark(&self) {
        let co = {
            let mut state = lock_std(&self.park.state);
            match state.waiting.take() {
                Some(co) => co,
                None => {
                    state.token = true;
                    return;
                }
            }
        };
        if let Some(raw) = *lock_std(&self.park.remote.raw) {
            // SAFETY: `co` waits in `park` (we took it from `waiting` under
            // the lock that `park` set it under, and only a wake ends that
            // wait), on this loop, which exists (`raw` is set);
            // `costack_loop_schedule` may be called from any thread.
            if unsafe { sys::costack_loop_schedule(raw.0, co.0) } != 0 {
                die("costack: Unparker::unpark: the loop could not queue the wake (out of memory)");
            }
        }
    }
}

impl std::fmt::Debug for Unparker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unparker")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The run-time half of "only tasks wait": a context whose coroutine is
    /// not the running one (safe code cannot make one) panics before the
    /// wait reaches the C core.
    #[test]
    fn a_wait_outside_the_tasks_own_coroutine_panics() {
        let lp = Loop::new().unwrap();
        let mut cx = TaskCx {
            co: ptr::null_mut(),
            inner: lp.inner.clone(),
            park: None,
            _brand: PhantomData,
            _not_send: PhantomData,
        };
        let err =
            panic::catch_unwind(AssertUnwindSafe(|| cx.sleep(Duration::from_secs(1)))).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.contains("TaskCx::sleep") && msg.contains("not the task's own coroutine"),
            "{msg}"
        );
        let q = crate::Queue::new();
        assert!(panic::catch_unwind(AssertUnwindSafe(|| q.wait(&mut cx))).is_err());
        let m = crate::Mutex::new(());
        assert!(panic::catch_unwind(AssertUnwindSafe(|| drop(m.lock(&mut cx)))).is_err());
        assert!(q.is_empty());
    }
}
