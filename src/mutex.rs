//! The global mutex, and the proof that the calling code holds it.
//!
//! The C core has one process-wide mutex, `costack_global_lock`. The Rust
//! API runs a coroutine only while the calling thread holds it, so at most
//! one coroutine runs at a time in the whole process, and data shared with
//! coroutines needs no lock of its own: a [`GlobalCell`](crate::GlobalCell)
//! hands out its contents only to code that can show it holds the mutex.
//!
//! That showing is a *proof*, a value of a type that implements [`Proof`]:
//!
//! - a [`Guard`], from [`lock`] or [`try_lock`], outside any coroutine (or
//!   wherever the thread does not hold the mutex yet);
//! - the running coroutine's own [`Yielder`](crate::Yielder), inside a
//!   coroutine: that coroutine was resumed with a proof, so the thread holds
//!   the mutex for as long as it runs.
//!
//! Resuming a coroutine borrows the proof mutably (so nothing borrowed from
//! a cell with it can live across the switch); borrowing a cell borrows it
//! shared. See the [`coroutine`](crate::coroutine) module for the whole
//! soundness argument.
//!
//! C code that shares data with Rust coroutines takes the same mutex with
//! `costack_global_lock()` (see [`sys`]).

use crate::abort::die;
use crate::sys;
use std::marker::PhantomData;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Mutex as StdMutex, Once};
use std::task::Waker;

/// Proof that the calling thread holds the global mutex, for as long as the
/// proof is borrowed.
///
/// Implemented by [`Guard`] and [`Yielder`](crate::Yielder) only (the trait
/// is sealed). [`Coroutine::resume`](crate::Coroutine::resume) takes
/// `&mut impl Proof`; [`GlobalCell`](crate::GlobalCell) takes `&impl Proof`.
///
/// ```
/// use costack::{Coroutine, Proof, Step};
///
/// // Works with a guard at top level and with a yielder inside a coroutine.
/// fn run_to_end(proof: &mut impl Proof) -> u32 {
///     let mut co = Coroutine::new(|_y: &mut costack::Yielder<(), ()>, ()| 7u32);
///     match co.resume(proof, ()) {
///         Step::Return(v) => v,
///         Step::Yield(()) => unreachable!(),
///     }
/// }
///
/// let mut guard = costack::lock();
/// assert_eq!(run_to_end(&mut guard), 7);
/// let mut outer = Coroutine::new(|y: &mut costack::Yielder<(), ()>, ()| run_to_end(y));
/// assert_eq!(outer.resume(&mut guard, ()), Step::Return(7));
/// ```
pub trait Proof: sealed::Sealed {}

pub(crate) mod sealed {
    /// Keeps [`Proof`](super::Proof) implemented by this crate's types only.
    pub trait Sealed {}
}

/// The global mutex, held by this thread until the guard is dropped.
///
/// A guard is a [`Proof`]: pass `&mut guard` to
/// [`Coroutine::resume`](crate::Coroutine::resume) and `&guard` to
/// [`GlobalCell`](crate::GlobalCell)'s methods. It is not `Send`: a thread
/// unlocks what it locked.
///
/// A guard must be dropped in the coroutine (or outside any coroutine, on
/// the thread) where it was taken: dropping it inside another coroutine
/// would unlock the mutex while that coroutine still runs. Safe code cannot
/// do that (a guard lent to `resume` is borrowed until the coroutine
/// suspends), but code that runs coroutines through [`sys`]
/// can; it aborts the process with a message starting `costack:`.
///
/// ```
/// let guard = costack::lock();
/// assert!(costack::lock_held());
/// drop(guard);
/// assert!(!costack::lock_held());
/// ```
#[must_use = "the global mutex is unlocked as soon as the guard is dropped"]
pub struct Guard {
    /// The coroutine (or the thread's leader) that took the lock.
    owner: *mut sys::CostackCoroutine,
    /// Neither `Send` nor `Sync`. Not `Send`: the thread that locked the
    /// mutex is the one that unlocks it, at the drop. Not `Sync`: `&Guard`
    /// is a [`Proof`], and on another thread it would let code borrow a
    /// [`GlobalCell`](crate::GlobalCell) that does not hold the mutex.
    _not_send: PhantomData<*mut ()>,
}

impl sealed::Sealed for Guard {}
impl Proof for Guard {}

/// Locks the global mutex, waiting for other threads to release it.
///
/// # Panics
///
/// If the calling thread already holds it (the mutex is not recursive; inside
/// a coroutine, use its [`Yielder`](crate::Yielder) as the proof instead).
///
/// ```
/// use costack::{Coroutine, Step, Yielder};
///
/// let mut guard = costack::lock();
/// let mut co = Coroutine::new(|y: &mut Yielder<i32, &'static str>, first: i32| {
///     let second = y.suspend("hello");
///     first + second
/// });
/// assert_eq!(co.resume(&mut guard, 1), Step::Yield("hello"));
/// assert_eq!(co.resume(&mut guard, 2), Step::Return(3));
/// ```
pub fn lock() -> Guard {
    refuse_if_held("lock");
    // SAFETY: `costack_global_lock` may be called on any thread at any time;
    // the one misuse it knows, locking twice on a thread, aborts in C and
    // was turned into a panic just above.
    unsafe { sys::costack_global_lock() };
    Guard::new()
}

/// Locks the global mutex if no thread holds it; `None` if another thread
/// does.
///
/// # Panics
///
/// If the calling thread already holds it.
///
/// ```
/// let guard = costack::try_lock().expect("nobody else holds the mutex here");
/// assert!(costack::lock_held());
/// # drop(guard);
/// ```
pub fn try_lock() -> Option<Guard> {
    refuse_if_held("try_lock");
    // SAFETY: `costack_global_trylock` may be called on any thread at any
    // time; locking twice on a thread, which it aborts on, was turned into
    // a panic just above.
    if unsafe { sys::costack_global_trylock() } != 0 {
        Some(Guard::new())
    } else {
        None
    }
}

/// Whether the calling thread holds the global mutex (through a [`Guard`],
/// or C code that called `costack_global_lock`).
///
/// ```
/// assert!(!costack::lock_held());
/// let _guard = costack::lock();
/// assert!(costack::lock_held());
/// ```
pub fn lock_held() -> bool {
    // SAFETY: `costack_global_lock_held` only compares the mutex's owner
    // with the calling thread; any thread, any time.
    unsafe { sys::costack_global_lock_held() != 0 }
}

fn refuse_if_held(what: &str) {
    if lock_held() {
        panic!(
            "costack::{what}: this thread already holds the global lock (it is not \
             recursive; inside a coroutine, use its Yielder as the proof)"
        );
    }
}

impl Guard {
    fn new() -> Guard {
        Guard {
            // SAFETY: `costack_self` only reads the calling thread's costack
            // state (made on first use); any thread, any time.
            owner: unsafe { sys::costack_self() },
            _not_send: PhantomData,
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: as in `Guard::new`: `costack_self` only reads the calling
        // thread's state.
        if unsafe { sys::costack_self() } != self.owner {
            die(
                "costack: a lock guard was dropped in another coroutine than the one \
                 that took it (unlocking there would leave a running coroutine \
                 without the global lock)",
            );
        }
        // SAFETY: this thread holds the mutex: it took it when the guard was
        // made, the guard is not Send, and nothing else unlocks it (the safe
        // API never does; C code that unlocks what Rust locked breaks the
        // header's contract).
        // Tasks whose poll found the mutex taken (the async bridge) are woken
        // by the release hook, which runs inside this call.
        unsafe { sys::costack_global_unlock() }
    }
}

/// The wakers of tasks whose poll of a costack future found the global
/// mutex held by another thread ([`crate::future`]): woken at the next
/// release, by a [`Guard`] or by C code (`costack_global_unlock`, the C
/// event loop going to sleep), through the C core's release hook.
static RELEASE_WAITERS: StdMutex<Vec<Waker>> = StdMutex::new(Vec::new());
/// Whether `RELEASE_WAITERS` may hold wakers; read at every guard's drop.
static RELEASE_PENDING: AtomicBool = AtomicBool::new(false);

/// [`try_lock`] for a poll, which must not block: if another thread holds
/// the mutex, `waker` is woken when a [`Guard`] releases it, and `None`
/// comes back. The caller checked that this thread does not hold it.
pub(crate) fn try_lock_or_wake(waker: &Waker) -> Option<Guard> {
    if let Some(guard) = try_lock() {
        return Some(guard);
    }
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        // SAFETY: `release_hook` is an `extern "C"` function that takes no
        // lock of costack's, never blocks on the global mutex and never
        // unwinds (`CostackReleaseHook`'s contract); setting the hook is a
        // single atomic store in the C core.
        unsafe { sys::costack_global_set_release_hook(Some(release_hook)) }
    });
    {
        let mut waiters = RELEASE_WAITERS.lock().unwrap_or_else(|e| e.into_inner());
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
        RELEASE_PENDING.store(true, Ordering::Relaxed);
    }
    // A release between the failed try and the registration saw no waiter:
    // try again. The release hook fences after the unlock and reads the
    // flag; this fence orders the flag before this try, so one of the two
    // sees the other.
    fence(Ordering::SeqCst);
    try_lock()
}

/// The C core's release hook (`costack_global_set_release_hook`): runs
/// after every unlock of the global mutex, Rust's and C's. A waker that
/// panics must not unwind into C: that aborts, with a message.
extern "C" fn release_hook() {
    // Pairs with `try_lock_or_wake`'s fence.
    fence(Ordering::SeqCst);
    if RELEASE_PENDING.load(Ordering::Relaxed) && std::panic::catch_unwind(wake_released).is_err() {
        die("costack: a task's waker panicked when the global mutex was released");
    }
}

#[cold]
fn wake_released() {
    let waiters = {
        let mut waiters = RELEASE_WAITERS.lock().unwrap_or_else(|e| e.into_inner());
        RELEASE_PENDING.store(false, Ordering::Relaxed);
        std::mem::take(&mut *waiters)
    };
    for waker in waiters {
        waker.wake();
    }
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Guard")
    }
}
