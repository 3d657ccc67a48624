//! The async bridge: a coroutine driven as a [`Future`] ([`CoFuture`]),
//! and any `Future` awaited from inside a coroutine ([`Waiter::wait`]),
//! however deep in its call chain, C frames included.
//!
//! ```
//! use costack::CoFuture;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let task = CoFuture::new(|w| {
//!     // Plain synchronous code on a stack of its own...
//!     let a = w.wait(async { 20 });
//!     // ...that waits for any future: the task yields to the executor
//!     // until it is ready, then continues here.
//!     w.wait(tokio::time::sleep(std::time::Duration::from_millis(1)));
//!     a + 22
//! });
//! assert_eq!(task.await, 42);
//! # }
//! ```
//!
//! # How it works
//!
//! A [`CoFuture`] holds a [`Coroutine`] whose closure gets a [`Waiter`].
//! Each `poll` takes the global mutex, resumes the coroutine with the
//! task's [`Context`] in reach of the waiter, and returns `Pending` when
//! the coroutine suspends in [`Waiter::wait`] (whose future returned
//! `Pending`: it registered the task's waker, as any future does), or
//! `Ready` with what the closure returned. No executor is assumed: it is
//! `std::task` only, so tokio, `futures::executor`, smol or a loop of your
//! own drive it alike.
//!
//! - **Never blocking a poll.** A poll that finds the global mutex held by
//!   another thread does not wait for it: it registers the task's waker,
//!   woken at the next release of the mutex, and returns `Pending`. Every
//!   release wakes such tasks, a [`Guard`](crate::Guard)'s and C code's
//!   (`costack_global_unlock`, the costack event loop going to sleep on
//!   another thread), through the C core's release hook.
//!   A poll made where the thread holds the mutex already (inside another
//!   coroutine, or under a `Guard`) resumes the coroutine at once. The
//!   other way round is the classic deadlock: a `Guard` held across an
//!   `.await` keeps every costack future of the process from running, and
//!   blocks its own thread's next `lock()`. The crate's `clippy.toml` names
//!   `costack::mutex::Guard` in `await-holding-invalid-types`, so
//!   `cargo clippy` flags it (`clippy::await_holding_invalid_type`); copy
//!   that line into your own `clippy.toml`.
//! - **Nesting.** A coroutine may [`wait`](Waiter::wait) on another
//!   `CoFuture` (or a future that polls one): the inner coroutine runs
//!   nested inside the outer one, with the outer task's waker. Supported,
//!   no panic. A plain [`Coroutine`] resumed inside has a [`Yielder`], not a
//!   [`Waiter`], so it cannot await (a type error, not a run-time one);
//!   make it a `CoFuture` and `wait` on it instead.
//! - **Costack's own waits.** A coroutine driven as a future waits on
//!   costack's [`Queue`](crate::Queue), [`Mutex`](crate::Mutex) and
//!   [`RwLock`](crate::RwLock) with its waiter, as a loop's task does with
//!   its [`TaskCx`](crate::TaskCx) (both are a [`WaitCx`]), and on the C
//!   core's queues, mutexes and rwlocks through [`sys`]
//!   (`costack_wait` and all that is built on it): its wake hook
//!   (`costack_set_wake_hook`) wakes the task's waker, and the coroutine
//!   then runs inside its own task's `poll`, never inside the waker's. A
//!   lock guard may be held across [`Waiter::wait`], and cannot leave the
//!   coroutine (see the [`sync`](crate::sync) module).
//!
//! ```
//! use costack::{CoFuture, Mutex};
//! use std::rc::Rc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let log = Rc::new(Mutex::new(Vec::new()));
//! let local = tokio::task::LocalSet::new();
//! for id in 0..2 {
//!     let log = log.clone();
//!     local.spawn_local(CoFuture::new(move |w| {
//!         let mut v = log.lock(w); // the second waits here, FIFO
//!         w.wait(tokio::time::sleep(std::time::Duration::from_millis(1)));
//!         v.push(id);
//!     }));
//! }
//! local.await;
//! assert_eq!(*Rc::try_unwrap(log).unwrap().get_mut(), [0, 1]);
//! # }
//! ```
//! - **Panics** in the closure are caught at the coroutine's root and
//!   resumed in the task that polls it, with their payload.
//! - **Wakers** may fire from any thread, late, or more than once: a wake
//!   only makes the executor poll again, and a poll that finds nothing to
//!   do returns `Pending`.
//! - **Threads.** A `CoFuture` is not `Send` (its stack may hold
//!   thread-bound values): run it with tokio's `current_thread` runtime, or
//!   `spawn_local` on a `LocalSet`, or any single-threaded executor.
//!   [`CoFuture::into_send`] is the `unsafe` way onto a multi-thread
//!   runtime, under the rule of [`Coroutine::into_send`].
//!
//! # Cancellation
//!
//! Dropping a `CoFuture` (or [`CoStream`](crate::CoStream)) that has
//! started and not finished cancels its coroutine. The drop takes the
//! global mutex for that (blocking, if another thread holds it) and:
//!
//! - suspended in [`wait`](Waiter::wait) or
//!   [`yield_item`](Waiter::yield_item) with only Rust frames on its stack:
//!   the stack **unwinds** from there, every destructor runs, as for a
//!   dropped [`Coroutine`];
//! - suspended in [`try_wait`](Waiter::try_wait): it returns
//!   `Err(`[`Cancelled`]`)`, and the coroutine **runs to its end**, where
//!   every further `try_wait` fails the same way at once. This is the way
//!   for code with C frames below it (a C library calling back into Rust):
//!   nothing may unwind through a C frame, so the callback turns the error
//!   into the C library's own (`-1` with `errno = ECANCELED`, say) and the
//!   C code returns normally. Code that propagates the error with `?`
//!   drops its values on the way out, as any return does;
//! - suspended in `wait` or `yield_item` inside [`call_c`](Waiter::call_c)
//!   (C frames below): it can neither unwind nor fail, so it is **leaked**:
//!   its stack stays allocated and its destructors never run, with one
//!   line on stderr starting `costack:`. That is also the end of a
//!   coroutine that, cancelled in `try_wait`, waits again in `wait` inside
//!   `call_c`;
//! - waiting on a costack queue, mutex or rwlock
//!   ([`Queue::wait`](crate::Queue::wait),
//!   [`Mutex::lock`](crate::Mutex::lock), ..., or `costack_wait`): a C wait cannot be cancelled
//!   either, so it is leaked the same way, and
//!   keeps its place in that queue (a mutex handed to it later stays
//!   locked).
//!
//! A panic of the coroutine during its cancelled run is resumed by the
//! drop (unless the thread unwinds already; then it is dropped).
//!
//! # Soundness
//!
//! On top of the [`coroutine`](crate::coroutine) module's invariants:
//!
//! - **The mutex.** The coroutine runs only inside a poll or a drop that
//!   holds the global mutex: taken with a try-lock, or found held by the
//!   thread (invariant 1 asks no more than that). So a [`Waiter`] is a
//!   [`Proof`] as a [`Yielder`] is, and the state the poll, the coroutine
//!   and the wake hook share (`Shared`) is touched by one thread at a time,
//!   each access under the mutex (`costack_wake`, which calls the hook,
//!   is called with it held, as the C header requires).
//! - **The context.** The poll stores its `Context`'s address for the
//!   length of one resume and clears it after (unwinding or not); the
//!   waiter lends it to a waited future for no longer than the waiter's
//!   own borrow, which ends before the coroutine suspends.
//! - **No unwind through C.** The drop unwinds a coroutine only when it is
//!   suspended in `wait` or `yield_item` outside every [`Waiter::call_c`];
//!   inside, or in a C wait, it leaks the coroutine instead (nothing on its
//!   stack is freed, so pinned futures there stay valid forever). The wake
//!   hook, called from C, catches a panicking waker and aborts.
//! - **Locks.** A waiter used with a [`sync`](crate::sync) primitive is
//!   checked to be the running coroutine's own (as a `TaskCx` is), so the
//!   C wait suspends the coroutine whose hook wakes its task; the guards
//!   are bounded by the waiter's brand, so they are dropped in that
//!   coroutine.
//! - **Woken C waits.** A coroutine woken in `costack_wait` is entered
//!   without an input (it takes none there), and only by its own poll or
//!   drop, after its hook said so; the hook's argument lives until the
//!   coroutine has ended, or is leaked with it.

use crate::abort::{die, report};
use crate::coroutine::{Builder, Coroutine, Step, Yielder};
use crate::mutex::{lock, lock_held, sealed::Sealed, try_lock_or_wake, Proof};
use crate::sync::{Owner, WaitCx};
use crate::sys;
use std::cell::Cell;
use std::convert::Infallible;
use std::ffi::c_void;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::io;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::ptr::{self, NonNull};
use std::task::{Context, Poll, Waker};

type Payload = Box<dyn std::any::Any + Send + 'static>;

/// The error of [`Waiter::try_wait`] when the coroutine's future or stream
/// was dropped: stop waiting and return.
///
/// ```
/// let e = costack::Cancelled;
/// assert_eq!(e.to_string(), "the coroutine was cancelled (its future or stream was dropped)");
/// let io: std::io::Error = e.into();
/// assert_eq!(io.raw_os_error(), Some(libc::ECANCELED));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the coroutine was cancelled (its future or stream was dropped)")
    }
}

impl std::error::Error for Cancelled {}

impl From<Cancelled> for io::Error {
    /// `ECANCELED`, the error a C callback reports for it.
    fn from(_: Cancelled) -> io::Error {
        io::Error::from_raw_os_error(libc::ECANCELED)
    }
}

/// What the coroutine passes out at a suspend.
pub(crate) enum Out<T> {
    /// Waiting for a future that returned `Pending`.
    Pending,
    /// A stream's next item.
    Item(T),
}

/// Where the coroutine is, as its driver must know to poll or drop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Running, or never started.
    Running,
    /// Suspended in `wait` (or in `yield_item`: the same for a drop).
    Wait,
    /// Suspended in `try_wait`.
    TryWait,
    /// In `costack_wait` (a costack queue, mutex, rwlock...).
    CWait,
}

/// What the driver and the coroutine share, on the heap (the driver may
/// move between polls), reached through raw pointers by both and by the
/// wake hook. Every access is made with the global mutex held (a poll,
/// the coroutine, a drop, or `costack_wake` calling the hook), so by one
/// thread at a time, in the mutex's order.
struct Shared {
    /// The polling task's context while a poll (or drop, then null)
    /// resumes the coroutine.
    cx: Cell<*mut Context<'static>>,
    at: Cell<At>,
    /// The task's waker while the coroutine waits in `costack_wait`; the
    /// hook takes it.
    waker: Cell<Option<Waker>>,
    /// Set by the hook: the C wait ended, the coroutine is to be entered.
    woken: Cell<bool>,
    /// Set by the drop: every wait fails or ends the coroutine.
    cancelled: Cell<bool>,
    /// Open `call_c` sections: C frames are on the stack.
    c_depth: Cell<usize>,
}

/// A proof for the driver's own resumes, made only where the thread has
/// just been seen to hold the global mutex (taken by the poll or drop, or
/// held by whatever runs the poll).
struct LockHeld;
impl Sealed for LockHeld {}
impl Proof for LockHeld {}

/// The wake hook of every bridged coroutine: its C wait ended, so its task
/// must poll it again.
///
/// # Safety
///
/// `arg` is the coroutine's `Shared`, alive for as long as the coroutine
/// can wait (freed only after it ended, or leaked with it); the caller of
/// `costack_wake` holds the global mutex.
unsafe extern "C" fn wake_hook(_co: *mut sys::CostackCoroutine, arg: *mut c_void) {
    // SAFETY: the contract above.
    let shared = unsafe { &*arg.cast::<Shared>() };
    shared.woken.set(true);
    if let Some(waker) = shared.waker.take() {
        // A panic must not unwind into `costack_wake`, a C frame.
        if panic::catch_unwind(AssertUnwindSafe(|| waker.wake())).is_err() {
            die("costack: a task's Waker panicked when a costack wait woke it");
        }
    }
}

/// Drives a coroutine as a future or a stream: the common part of
/// [`CoFuture`] and [`CoStream`](crate::CoStream).
pub(crate) struct Driver<T, R> {
    co: ManuallyDrop<Coroutine<(), Out<T>, R>>,
    shared: NonNull<Shared>,
}

impl<T, R> Driver<T, R> {
    pub(crate) fn new<F>(builder: Builder, body: F) -> io::Result<Driver<T, R>>
    where
        F: for<'t> FnOnce(&mut Waiter<'t, T>) -> R + 'static,
    {
        let shared = NonNull::from(Box::leak(Box::new(Shared {
            cx: Cell::new(ptr::null_mut()),
            at: Cell::new(At::Running),
            waker: Cell::new(None),
            woken: Cell::new(false),
            cancelled: Cell::new(false),
            c_depth: Cell::new(0),
        })));
        let co = builder.build(move |y: &mut Yielder<(), Out<T>>, ()| {
            let mut waiter = Waiter {
                yielder: NonNull::from(y),
                shared,
                // SAFETY: only reads the thread's costack state.
                co: unsafe { sys::costack_self() },
                _brand: PhantomData,
                _not_send: PhantomData,
            };
            body(&mut waiter)
        });
        let co = match co {
            Ok(co) => co,
            Err(e) => {
                // SAFETY: made above by `Box::leak`, and no coroutine
                // points to it.
                drop(unsafe { Box::from_raw(shared.as_ptr()) });
                return Err(e);
            }
        };
        // SAFETY: `co` is a new coroutine nobody else reaches yet; the hook
        // and its argument satisfy `wake_hook`'s contract (`shared` is
        // freed after the coroutine ends, or leaked with it).
        unsafe { sys::costack_set_wake_hook(co.as_raw(), Some(wake_hook), shared.as_ptr().cast()) };
        Ok(Driver {
            co: ManuallyDrop::new(co),
            shared,
        })
    }

    /// The shared state, under a lifetime not tied to `self`, so that the
    /// coroutine can be resumed meanwhile.
    fn shared<'a>(&self) -> &'a Shared {
        // SAFETY: alive as long as the driver (freed at the end of its
        // drop, after the last use); only `Cell`s, used through shared
        // references by everyone.
        unsafe { self.shared.as_ref() }
    }

    /// Whether the coroutine returned or panicked.
    pub(crate) fn is_finished(&self) -> bool {
        self.co.is_finished()
    }

    /// One poll: `Ready(Yield)` for a stream's item, `Ready(Return)` at
    /// the end, `Pending` while it waits.
    pub(crate) fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Step<T, R>> {
        let _guard = if lock_held() {
            None
        } else {
            match try_lock_or_wake(cx.waker()) {
                Some(guard) => Some(guard),
                None => return Poll::Pending,
            }
        };
        let shared = self.shared();
        let input = if shared.at.get() == At::CWait {
            if !shared.woken.get() {
                // Still waiting: the hook wakes the latest waker.
                let mut waker = shared.waker.take();
                match &mut waker {
                    Some(w) => w.clone_from(cx.waker()),
                    None => waker = Some(cx.waker().clone()),
                }
                shared.waker.set(waker);
                return Poll::Pending;
            }
            shared.woken.set(false);
            None
        } else {
            Some(())
        };
        shared.at.set(At::Running);
        let step = {
            let _cx = CxScope::set(shared, cx);
            self.co.enter(&mut LockHeld, input)
        };
        match step {
            Some(Step::Return(r)) => Poll::Ready(Step::Return(r)),
            Some(Step::Yield(Out::Item(t))) => Poll::Ready(Step::Yield(t)),
            Some(Step::Yield(Out::Pending)) => Poll::Pending,
            None => {
                self.c_waited();
                if shared.woken.get() {
                    cx.waker().wake_by_ref();
                } else {
                    shared.waker.set(Some(cx.waker().clone()));
                }
                Poll::Pending
            }
        }
    }

    /// The coroutine came back from an enter without suspending or
    /// returning: it waits in `costack_wait` (or was woken since), or
    /// someone yielded it by hand.
    fn c_waited(&self) {
        let shared = self.shared();
        // SAFETY: the coroutine has not finished (it came back without an
        // outcome), so its handle is valid; the call only reads its state.
        let waiting = unsafe { sys::costack_waiting(self.co.as_raw()) } != 0;
        if !waiting && !shared.woken.get() {
            die(
                "costack: a coroutine driven as a future switched back without waiting, \
                 suspending or returning (costack_yield called directly on it?)",
            );
        }
        shared.at.set(At::CWait);
    }

    /// Leaves the coroutine and its shared state allocated for good (see
    /// the module's "Cancellation"), saying so.
    fn leak(&mut self, why: &str) {
        self.shared().waker.set(None);
        report(&format!(
            "costack: a coroutine driven as a future or stream was dropped while {why}; it \
             cannot be unwound or cancelled there, so it is leaked (its stack stays \
             allocated, its destructors do not run)"
        ));
    }

    /// A resume of the cancelled coroutine in the drop.
    fn enter_cancelled(&mut self, input: Option<()>) -> Result<(), Payload> {
        self.shared().at.set(At::Running);
        match panic::catch_unwind(AssertUnwindSafe(|| self.co.enter(&mut LockHeld, input))) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => {
                self.c_waited();
                Ok(())
            }
            Err(payload) => Err(payload),
        }
    }
}

impl<T, R> Drop for Driver<T, R> {
    fn drop(&mut self) {
        let mut panicked = None;
        if self.co.is_started() && !self.co.is_finished() {
            let _guard = if lock_held() { None } else { Some(lock()) };
            self.shared().cancelled.set(true);
            loop {
                if self.co.is_finished() {
                    break;
                }
                let shared = self.shared();
                match shared.at.get() {
                    At::CWait if !shared.woken.get() => {
                        self.leak("waiting on a costack queue, mutex or rwlock (costack_wait)");
                        return;
                    }
                    At::CWait => {
                        shared.woken.set(false);
                        if let Err(p) = self.enter_cancelled(None) {
                            panicked = Some(p);
                        }
                    }
                    At::TryWait => {
                        if let Err(p) = self.enter_cancelled(Some(())) {
                            panicked = Some(p);
                        }
                    }
                    At::Wait if shared.c_depth.get() > 0 => {
                        self.leak("suspended in wait or yield_item inside call_c (C frames below)");
                        return;
                    }
                    // Only Rust frames: the coroutine's own drop unwinds it.
                    At::Wait => break,
                    At::Running => die("costack: a bridged coroutine was dropped while running"),
                }
            }
        }
        // SAFETY: dropped once, here; the coroutine has finished or is
        // suspended in `wait` with only Rust frames on its stack, which its
        // drop unwinds (taking the mutex itself).
        unsafe { ManuallyDrop::drop(&mut self.co) };
        // SAFETY: made by `Box::leak` in `new`; the coroutine has ended, so
        // neither it nor its wake hook can reach it any more.
        drop(unsafe { Box::from_raw(self.shared.as_ptr()) });
        if let Some(payload) = panicked {
            if !std::thread::panicking() {
                panic::resume_unwind(payload);
            }
        }
    }
}

/// Sets `Shared::cx` for one resume, and clears it after, unwinding or
/// not.
struct CxScope<'a>(&'a Shared);

impl<'a> CxScope<'a> {
    fn set(shared: &'a Shared, cx: &mut Context<'_>) -> CxScope<'a> {
        shared.cx.set((cx as *mut Context<'_>).cast());
        CxScope(shared)
    }
}

impl Drop for CxScope<'_> {
    fn drop(&mut self) {
        self.0.cx.set(ptr::null_mut());
    }
}

/// A coroutine's handle on its future or stream, given to its closure:
/// waits for futures ([`wait`](Waiter::wait),
/// [`try_wait`](Waiter::try_wait)), yields a stream's items
/// ([`yield_item`](Waiter::yield_item)), and proves that the global mutex
/// is held (it is a [`Proof`], as a [`Yielder`] is).
///
/// Pass `&mut Waiter` down to any function that needs to wait: the
/// coroutine's whole call chain may, however deep. `T` is the stream's item
/// type; a [`CoFuture`]'s waiter has `T = Infallible`, so it yields
/// nothing.
///
/// It is also the [`WaitCx`] that costack's [`Queue`](crate::Queue),
/// [`Mutex`](crate::Mutex) and [`RwLock`](crate::RwLock) take. The lifetime `'t` is the coroutine's own (its closure
/// gets it higher-ranked), as a [`TaskCx`](crate::TaskCx)'s: nothing that
/// names it, such as a lock guard, can leave the coroutine.
///
/// ```
/// use costack::{CoFuture, Waiter};
///
/// fn deep(w: &mut Waiter, n: u32) -> u32 {
///     if n == 0 {
///         w.wait(async { 1 })
///     } else {
///         deep(w, n - 1) + 1
///     }
/// }
///
/// let out = futures_executor::block_on(CoFuture::new(|w| deep(w, 100)));
/// assert_eq!(out, 101);
/// ```
pub struct Waiter<'t, T = Infallible> {
    yielder: NonNull<Yielder<(), Out<T>>>,
    shared: NonNull<Shared>,
    /// The coroutine: the only one that may wait on a
    /// [`sync`](crate::sync) primitive with this waiter.
    co: *mut sys::CostackCoroutine,
    /// Invariant in `'t`, the coroutine's own lifetime (its closure gets it
    /// higher-ranked), so that a lock guard it bounds cannot leave it.
    _brand: PhantomData<fn(&'t ()) -> &'t ()>,
    /// Neither `Send` nor `Sync`, as a `Yielder`.
    _not_send: PhantomData<*mut ()>,
}

impl<T> Sealed for Waiter<'_, T> {}
impl<T> Proof for Waiter<'_, T> {}

impl<T> Owner for Waiter<'_, T> {
    fn check_owner(&self, what: &str) {
        // SAFETY: `costack_self` only reads the thread's costack state.
        if unsafe { sys::costack_self() } != self.co {
            panic!(
                "costack: {what}: the running coroutine is not the waiter's own: only the \
                 coroutine of a CoFuture or CoStream may wait with its Waiter (a Coroutine \
                 resumed inside it may not, since the executor, not its resumer, would \
                 continue it)"
            );
        }
    }
}

impl<'t, T> WaitCx<'t> for Waiter<'t, T> {}

impl<'t, T> Waiter<'t, T> {
    fn shared(&self) -> &Shared {
        // SAFETY: the shared state outlives the coroutine, in whose closure
        // the waiter lives.
        unsafe { self.shared.as_ref() }
    }

    /// Suspends to the driver, recording where.
    fn suspend(&mut self, at: At, out: Out<T>) {
        self.shared().at.set(at);
        // SAFETY: the yielder lives in the frame of the closure made by
        // `Driver::new`, below the body that holds `&mut self`, and is used
        // only through this pointer.
        unsafe { self.yielder.as_mut() }.suspend(out);
    }

    /// The task's context during the current poll, for as long as the
    /// waiter is borrowed (so a future cannot keep a reference into it
    /// past the poll: `Context` is invariant in its lifetime).
    fn context<'a>(&'a mut self) -> &'a mut Context<'a> {
        let cx = self.shared().cx.get();
        if cx.is_null() {
            die("costack: a bridged coroutine ran outside its poll");
        }
        // SAFETY: set by the poll that resumed the coroutine, to its own
        // `Context`, which lives until that poll's enter returns, and
        // cleared then; the coroutine runs only inside that enter, and the
        // result is borrowed no longer than this call's borrow of the
        // waiter, which ends before the coroutine suspends.
        unsafe { &mut *cx.cast::<Context<'a>>() }
    }

    /// Waits for `fut` and returns its output: polls it with the task's
    /// context, and while it is pending, suspends the coroutine to the
    /// executor (the poll of the [`CoFuture`] returns `Pending`) until the
    /// task is woken and polled again.
    ///
    /// If the future or stream is dropped while the coroutine waits here,
    /// this does not return: the coroutine's stack unwinds from here (so
    /// do not catch that panic, or re-raise what you do not know). Inside
    /// [`call_c`](Waiter::call_c), where that cannot be, the coroutine is
    /// leaked instead: use [`try_wait`](Waiter::try_wait) there.
    ///
    /// ```
    /// use costack::CoFuture;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let v = CoFuture::new(|w| {
    ///     w.wait(tokio::time::sleep(Duration::from_millis(1)));
    ///     w.wait(async { "slept" })
    /// })
    /// .await;
    /// assert_eq!(v, "slept");
    /// # }
    /// ```
    pub fn wait<F: IntoFuture>(&mut self, fut: F) -> F::Output {
        let mut fut = pin!(fut.into_future());
        loop {
            if self.shared().cancelled.get() {
                // Dropped: the drop unwinds (or leaks) us from here.
                self.suspend(At::Wait, Out::Pending);
                die("costack: a cancelled coroutine was resumed");
            }
            match fut.as_mut().poll(self.context()) {
                Poll::Ready(v) => return v,
                Poll::Pending => self.suspend(At::Wait, Out::Pending),
            }
        }
    }

    /// [`wait`](Waiter::wait) for code that must not unwind (with C frames
    /// below it): returns `Err(Cancelled)` when the coroutine's future or
    /// stream is dropped while it waits here, or was dropped before; the
    /// coroutine then runs on to its end, so return promptly.
    ///
    /// ```
    /// use costack::{Cancelled, CoFuture};
    /// use std::{cell::Cell, rc::Rc};
    ///
    /// let outcome = Rc::new(Cell::new(None));
    /// let seen = outcome.clone();
    /// let mut fut = Box::pin(CoFuture::new(move |w| {
    ///     seen.set(Some(w.try_wait(std::future::pending::<()>())));
    /// }));
    /// let waker = std::task::Waker::noop();
    /// assert!(fut.as_mut().poll(&mut std::task::Context::from_waker(waker)).is_pending());
    /// drop(fut); // cancels: the pending try_wait returns, the closure ends
    /// assert_eq!(outcome.get(), Some(Err(Cancelled)));
    /// # use std::future::Future;
    /// ```
    pub fn try_wait<F: IntoFuture>(&mut self, fut: F) -> Result<F::Output, Cancelled> {
        let mut fut = pin!(fut.into_future());
        loop {
            if self.shared().cancelled.get() {
                return Err(Cancelled);
            }
            match fut.as_mut().poll(self.context()) {
                Poll::Ready(v) => return Ok(v),
                Poll::Pending => self.suspend(At::TryWait, Out::Pending),
            }
        }
    }

    /// Whether the coroutine's future or stream was dropped: it runs only
    /// to finish, every [`try_wait`](Waiter::try_wait) fails.
    ///
    /// ```
    /// let v = futures_executor::block_on(costack::CoFuture::new(|w| w.is_cancelled()));
    /// assert!(!v);
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.shared().cancelled.get()
    }

    /// Runs `f`, which calls into C code that will call back into Rust and
    /// wait there, with `f`'s argument: this waiter as a pointer for the C
    /// code's opaque context, turned back by [`from_raw`](Waiter::from_raw)
    /// in the callback.
    ///
    /// Marks the section as having C frames below: a cancellation cannot
    /// unwind through it, so callbacks must use
    /// [`try_wait`](Waiter::try_wait), and a [`wait`](Waiter::wait) that is
    /// cancelled inside leaks the coroutine (see the
    /// [module](crate::future)). A callback must not let a panic unwind
    /// into the C code either (catch it, and fail the callback).
    ///
    /// ```
    /// use costack::{CoFuture, Waiter};
    /// use std::ffi::c_void;
    ///
    /// // A C library's callback type, and the library calling it.
    /// type Callback = unsafe extern "C" fn(ctx: *mut c_void) -> i32;
    /// unsafe extern "C" fn library(cb: Callback, ctx: *mut c_void) -> i32 {
    ///     unsafe { cb(ctx) + cb(ctx) }
    /// }
    ///
    /// unsafe extern "C" fn callback(ctx: *mut c_void) -> i32 {
    ///     // SAFETY: `ctx` is the waiter `call_c` passed, still in its call.
    ///     let w = unsafe { Waiter::<std::convert::Infallible>::from_raw(ctx) };
    ///     match w.try_wait(async { 21 }) {
    ///         Ok(v) => v,
    ///         Err(_cancelled) => -1,
    ///     }
    /// }
    ///
    /// let v = futures_executor::block_on(CoFuture::new(|w| {
    ///     // SAFETY: `library` calls `callback` with our waiter only.
    ///     w.call_c(|ctx| unsafe { library(callback, ctx) })
    /// }));
    /// assert_eq!(v, 42);
    /// ```
    pub fn call_c<U>(&mut self, f: impl FnOnce(*mut c_void) -> U) -> U {
        struct Depth<'a>(&'a Cell<usize>);
        impl Drop for Depth<'_> {
            fn drop(&mut self) {
                self.0.set(self.0.get() - 1);
            }
        }
        // SAFETY: the shared state outlives the coroutine; the reference
        // is to a `Cell`, which the waiter's other uses only touch through
        // shared references too.
        let depth = unsafe { &self.shared.as_ref().c_depth };
        depth.set(depth.get() + 1);
        let _depth = Depth(depth);
        f((self as *mut Waiter<'t, T>).cast())
    }

    /// The waiter behind a pointer [`call_c`](Waiter::call_c) passed.
    ///
    /// # Safety
    ///
    /// `ptr` came from `call_c` on a waiter of this very `T`, whose call is
    /// still running, on this coroutine; the reference is used only
    /// within that call, and no other reference to the waiter is used
    /// meanwhile.
    ///
    /// ```
    /// use costack::{CoFuture, Waiter};
    ///
    /// let v = futures_executor::block_on(CoFuture::new(|w| {
    ///     w.call_c(|ctx| {
    ///         // SAFETY: inside `call_c`, with its pointer.
    ///         let w = unsafe { Waiter::<std::convert::Infallible>::from_raw(ctx) };
    ///         w.wait(async { 5 })
    ///     })
    /// }));
    /// assert_eq!(v, 5);
    /// ```
    pub unsafe fn from_raw<'a>(ptr: *mut c_void) -> &'a mut Waiter<'a, T> {
        // SAFETY: the caller's contract; the brand `'a` is no longer than
        // the reference, which the contract keeps inside the `call_c`.
        unsafe { &mut *ptr.cast::<Waiter<'a, T>>() }
    }

    /// A stream's next item: suspends the coroutine, and the stream's
    /// `poll_next` returns `Ready(Some(item))`; the coroutine continues at
    /// the next poll. If the stream is dropped meanwhile, this does not
    /// return (the stack unwinds, as in [`wait`](Waiter::wait)).
    ///
    /// ```
    /// use costack::CoStream;
    /// use futures_core::Stream;
    /// use std::task::{Context, Poll, Waker};
    ///
    /// let mut s = Box::pin(CoStream::new(|w| {
    ///     w.yield_item(1);
    ///     let two = w.wait(async { 2 });
    ///     w.yield_item(two);
    /// }));
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert_eq!(s.as_mut().poll_next(&mut cx), Poll::Ready(Some(1)));
    /// assert_eq!(s.as_mut().poll_next(&mut cx), Poll::Ready(Some(2)));
    /// assert_eq!(s.as_mut().poll_next(&mut cx), Poll::Ready(None));
    /// ```
    pub fn yield_item(&mut self, item: T) {
        if self.shared().cancelled.get() {
            self.suspend(At::Wait, Out::Pending);
            die("costack: a cancelled coroutine was resumed");
        }
        self.suspend(At::Wait, Out::Item(item));
    }
}

impl<T> fmt::Debug for Waiter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Waiter")
    }
}

/// A closure running on a coroutine's stack, driven as a [`Future`]: its
/// output is what the closure returns. See the [module](crate::future).
///
/// It is not `Send`: use it on a single-threaded executor (tokio's
/// `current_thread` runtime, a `LocalSet`'s `spawn_local`,
/// `futures::executor`), or see [`into_send`](CoFuture::into_send).
/// Dropping it before it is done cancels the coroutine (see "Cancellation"
/// in the [module](crate::future)).
///
/// ```
/// use costack::CoFuture;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let local = tokio::task::LocalSet::new();
/// let out = local
///     .run_until(async {
///         let handle = tokio::task::spawn_local(CoFuture::new(|w| {
///             w.wait(tokio::task::yield_now());
///             7
///         }));
///         handle.await.unwrap()
///     })
///     .await;
/// assert_eq!(out, 7);
/// # }
/// ```
pub struct CoFuture<R> {
    driver: Driver<Infallible, R>,
}

impl<R> CoFuture<R> {
    /// A future that runs `body` on a new coroutine with the default 1 MiB
    /// stack (mapped lazily). [`Builder::build_future`] chooses the size.
    ///
    /// # Panics
    ///
    /// If the C core cannot create the coroutine (out of memory or
    /// mappings).
    ///
    /// ```
    /// let f = costack::CoFuture::new(|w| w.wait(async { 1 }) + 1);
    /// assert_eq!(futures_executor::block_on(f), 2);
    /// ```
    pub fn new<F>(body: F) -> CoFuture<R>
    where
        F: for<'t> FnOnce(&mut Waiter<'t>) -> R + 'static,
    {
        match Builder::new().build_future(body) {
            Ok(f) => f,
            Err(e) => panic!("costack: cannot create a coroutine: {e}"),
        }
    }

    /// Whether the closure has returned (or panicked).
    ///
    /// ```
    /// use std::future::Future;
    /// use std::task::{Context, Waker};
    ///
    /// let mut f = std::pin::pin!(costack::CoFuture::new(|_| ()));
    /// assert!(!f.is_finished());
    /// let _ = f.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    /// assert!(f.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.driver.is_finished()
    }

    /// Makes the future `Send`, for multi-thread executors: each poll may
    /// then resume the coroutine on another thread.
    ///
    /// # Safety
    ///
    /// The rule of [`Coroutine::into_send`]: whenever the coroutine is
    /// suspended (in a wait), nothing on its stack is tied to its thread:
    /// no reference into a `thread_local!`, no `Rc`, `MutexGuard` or other
    /// value that must stay on its thread, no future that must be polled on
    /// one thread; the closure's captures count too. `R` must be `Send`.
    ///
    /// ```
    /// use costack::CoFuture;
    ///
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() {
    /// let f = CoFuture::new(|w| {
    ///     w.wait(tokio::time::sleep(std::time::Duration::from_millis(1)));
    ///     3
    /// });
    /// // SAFETY: the coroutine holds nothing thread-bound across its wait.
    /// let f = unsafe { f.into_send() };
    /// assert_eq!(tokio::spawn(f).await.unwrap(), 3);
    /// # }
    /// ```
    pub unsafe fn into_send(self) -> SendCoFuture<R> {
        SendCoFuture(self)
    }
}

impl<R> Future for CoFuture<R> {
    type Output = R;

    /// Resumes the coroutine until it waits (`Pending`) or returns
    /// (`Ready`); see the [module](crate::future).
    ///
    /// # Panics
    ///
    /// With the closure's panic, and when polled again after `Ready`.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        let this = self.get_mut();
        if this.driver.is_finished() {
            panic!("costack: a CoFuture was polled after it completed");
        }
        match this.driver.poll_step(cx) {
            Poll::Ready(Step::Return(r)) => Poll::Ready(r),
            Poll::Ready(Step::Yield(never)) => match never {},
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<R> fmt::Debug for CoFuture<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoFuture")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// A [`CoFuture`] that may move between threads, from the `unsafe`
/// [`CoFuture::into_send`], whose contract it carries.
///
/// ```
/// // SAFETY: the coroutine never waits.
/// let f: costack::SendCoFuture<u8> = unsafe { costack::CoFuture::new(|_| 1u8).into_send() };
/// let v = std::thread::spawn(move || futures_executor::block_on(f)).join().unwrap();
/// assert_eq!(v, 1);
/// ```
pub struct SendCoFuture<R>(CoFuture<R>);

// SAFETY: the contract of `CoFuture::into_send` (that of
// `Coroutine::into_send`): nothing the coroutine holds across a suspend is
// tied to its thread, and `R` is `Send`. The shared state is reached only
// with the global mutex held, and the poll that resumes the coroutine
// holds it too, on whatever thread it runs.
unsafe impl<R: Send> Send for SendCoFuture<R> {}

impl<R> SendCoFuture<R> {
    /// The future, no longer `Send`.
    ///
    /// ```
    /// // SAFETY: the coroutine never waits.
    /// let f = unsafe { costack::CoFuture::new(|_| ()).into_send() }.into_inner();
    /// futures_executor::block_on(f);
    /// ```
    pub fn into_inner(self) -> CoFuture<R> {
        self.0
    }
}

impl<R> Future for SendCoFuture<R> {
    type Output = R;

    /// As [`CoFuture`]'s poll.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        Pin::new(&mut self.get_mut().0).poll(cx)
    }
}

impl<R> fmt::Debug for SendCoFuture<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Builder {
    /// A [`CoFuture`] on a coroutine with this builder's stack and guard.
    ///
    /// # Errors
    ///
    /// As [`Builder::build`].
    ///
    /// ```
    /// let f = costack::Builder::new()
    ///     .stack_size(64 << 10)
    ///     .build_future(|w| w.wait(async { 9 }))
    ///     .unwrap();
    /// assert_eq!(futures_executor::block_on(f), 9);
    /// ```
    pub fn build_future<R, F>(self, body: F) -> io::Result<CoFuture<R>>
    where
        F: for<'t> FnOnce(&mut Waiter<'t>) -> R + 'static,
    {
        Ok(CoFuture {
            driver: Driver::new(self, body)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The run-time half of "only tasks wait" for futures: a waiter whose
    /// coroutine is not the running one (safe code cannot make one) panics
    /// before a wait or lock reaches the C core.
    #[test]
    fn a_lock_outside_the_waiters_own_coroutine_panics() {
        let mut w: Waiter<'_> = Waiter {
            // Never used: the check comes first.
            yielder: NonNull::dangling(),
            shared: NonNull::dangling(),
            co: ptr::null_mut(),
            _brand: PhantomData,
            _not_send: PhantomData,
        };
        let q = crate::Queue::new();
        let err = panic::catch_unwind(AssertUnwindSafe(|| q.wait(&mut w))).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.contains("Queue::wait") && msg.contains("not the waiter's own"),
            "{msg}"
        );
        let m = crate::Mutex::new(());
        assert!(panic::catch_unwind(AssertUnwindSafe(|| drop(m.lock(&mut w)))).is_err());
        let l = crate::RwLock::new(());
        assert!(panic::catch_unwind(AssertUnwindSafe(|| drop(l.write(&mut w)))).is_err());
        assert!(q.is_empty());
    }
}
