//! Waiting and locking between coroutines: [`Queue`], [`Mutex`] and
//! [`RwLock`], QEMU's `CoQueue`, `CoMutex` and `CoRwlock` (the C core's
//! `CostackQueue`, `CostackMutex`, `CostackRwlock`), for the tasks of a
//! [`Loop`](crate::Loop) and for coroutines driven as futures
//! ([`CoFuture`](crate::CoFuture), [`CoStream`](crate::CoStream)).
//!
//! A task that waits on one of them suspends; its driver runs other tasks
//! meanwhile (the loop, or the async executor: the future's poll returns
//! `Pending`), and continues it when it is woken (a future's waker is
//! woken, and the coroutine runs in its own task's next poll). Nothing
//! here blocks the thread.
//!
//! # The rules the types keep
//!
//! - **Only tasks wait.** Every wait and every lock takes the waiting
//!   coroutine's context, a [`WaitCx`]: a loop task's [`TaskCx`] (see the
//!   [event loop](crate::event_loop) module) or a future's
//!   [`Waiter`](crate::Waiter) (see the [`future`](crate::future) module).
//!   Other code has none, and a context used in another coroutine than
//!   its own (a `Coroutine` resumed with it as its input) panics before
//!   anything waits. Both are [`Proof`]s, borrowed mutably
//!   by every wait, so no [`GlobalCell`](crate::GlobalCell) borrow lives
//!   across one.
//! - **Guards stay in their task.** A guard borrows its lock and carries a
//!   lifetime that the context's brand bounds (`'t: 'a` for a
//!   `TaskCx<'t>` or a `Waiter<'t>`), and `'t` is the task's own (its
//!   closure gets it higher-ranked): a guard cannot be returned from the
//!   task, stored where something outside it (or another task) could reach
//!   it, or moved into another task (all compile errors), and it is not
//!   `Send`. It *can* be held across waits (a `sleep`, an fd wait, a
//!   [`Waiter::wait`](crate::Waiter::wait) on any future, another lock):
//!   that is what a coroutine lock is for, and the other tasks that want
//!   it wait meanwhile. The waits borrow the context, not the guard, so the
//!   compiler lets that through, and the lock's own FIFO keeps the data
//!   consistent.
//! - **Unlock hands over.** Dropping a [`MutexGuard`] gives the mutex to the
//!   first waiter (FIFO); no task can take it in between. An [`RwLock`] is
//!   FIFO and fair: a reader that arrives while a writer waits waits too.
//! - **One thread.** None of these types is `Sync`: they are shared
//!   between the tasks of one thread (with `Rc`): a loop's, and the
//!   futures of a single-threaded executor. Dropping a
//!   guard anywhere else than in the task that took it (possible only by
//!   handing it to a `Coroutine` as its input) aborts with the C core's
//!   message. A guard that is forgotten (`mem::forget`) keeps its lock held
//!   for good, and its task's end aborts (the C core's check that a
//!   coroutine ends holding no lock).
//!
//! ```
//! use costack::{Loop, Mutex};
//! use std::rc::Rc;
//! use std::time::Duration;
//!
//! let lp = Loop::new().unwrap();
//! let total = Rc::new(Mutex::new(0u32));
//! for _ in 0..3 {
//!     let total = total.clone();
//!     lp.spawn(move |cx| {
//!         let mut n = total.lock(cx);
//!         let seen = *n;
//!         cx.sleep(Duration::from_millis(1)); // the guard is held across the wait
//!         *n = seen + 1; // no other task changed it meanwhile
//!     });
//! }
//! lp.run().unwrap();
//! assert_eq!(Rc::try_unwrap(total).unwrap().into_inner(), 3);
//! ```
//!
//! The same with coroutines driven as futures, on any single-threaded
//! executor:
//!
//! ```
//! use costack::{CoFuture, Mutex};
//! use std::rc::Rc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let total = Rc::new(Mutex::new(0u32));
//! let local = tokio::task::LocalSet::new();
//! for _ in 0..3 {
//!     let total = total.clone();
//!     local.spawn_local(CoFuture::new(move |w| {
//!         let mut n = total.lock(w);
//!         let seen = *n;
//!         w.wait(tokio::task::yield_now()); // the guard is held across the wait
//!         *n = seen + 1;
//!     }));
//! }
//! local.await;
//! assert_eq!(Rc::try_unwrap(total).unwrap().into_inner(), 3);
//! # }
//! ```

use crate::event_loop::{nanos, TaskCx};
use crate::mutex::Proof;
use crate::sys;
use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr;
use std::time::Duration;

mod owner {
    /// The part of [`WaitCx`](super::WaitCx) that is the crate's own: the
    /// check that the running coroutine is the context's.
    pub trait Owner {
        /// Panics, naming `what`, unless the running coroutine is the one
        /// this context belongs to.
        fn check_owner(&self, what: &str);
    }
}
pub(crate) use owner::Owner;

/// The context of a coroutine that may wait on a [`Queue`], [`Mutex`] or
/// [`RwLock`]: what their waits and locks take, as `&mut impl
/// WaitCx<'t>`. A loop task's [`TaskCx<'t>`](TaskCx) and a
/// [`CoFuture`](crate::CoFuture)'s or [`CoStream`](crate::CoStream)'s
/// [`Waiter<'t, _>`](crate::Waiter) are the two (the trait is sealed).
///
/// `'t` is the task's brand: the guards it bounds cannot leave the task
/// (see the [module](crate::sync)). A `WaitCx` is a [`Proof`].
///
/// Code that locks the same way under both drivers takes one:
///
/// ```
/// use costack::{CoFuture, Loop, Mutex, WaitCx};
/// use std::rc::Rc;
///
/// fn bump<'t>(counter: &Mutex<u32>, cx: &mut impl WaitCx<'t>) -> u32 {
///     let mut n = counter.lock(cx);
///     *n += 1;
///     *n
/// }
///
/// let counter = Rc::new(Mutex::new(0));
/// let lp = Loop::new().unwrap();
/// let c = counter.clone();
/// assert_eq!(lp.spawn(move |cx| bump(&c, cx)).join(), 1);
/// let c = counter.clone();
/// assert_eq!(futures_executor::block_on(CoFuture::new(move |w| bump(&c, w))), 2);
/// ```
pub trait WaitCx<'t>: Proof + Owner {}

impl Owner for TaskCx<'_> {
    fn check_owner(&self, what: &str) {
        self.check(what);
    }
}

impl<'t> WaitCx<'t> for TaskCx<'t> {}

const fn raw_queue() -> sys::CostackQueue {
    sys::CostackQueue {
        first_: ptr::null_mut(),
        last_: ptr::null_mut(),
        debug_thread_: ptr::null_mut(),
    }
}

/// A FIFO of waiting tasks (QEMU's `CoQueue`): a task waits on it until
/// another task (or the thread, outside any task) wakes it.
///
/// Wakes are deferred, QEMU's way: a woken loop task runs when the loop
/// next dispatches, in the order the wakes were made; a woken future's
/// waker is woken, and it runs in its next poll.
///
/// ```
/// use costack::{Loop, Queue};
/// use std::rc::Rc;
///
/// let lp = Loop::new().unwrap();
/// let q = Rc::new(Queue::new());
/// let waiter = {
///     let q = q.clone();
///     lp.spawn(move |cx| {
///         q.wait(cx);
///         "woken"
///     })
/// };
/// lp.spawn(move |_cx| assert!(q.notify_one()));
/// assert_eq!(waiter.join(), "woken");
/// ```
///
/// Between futures:
///
/// ```
/// use costack::{CoFuture, Queue};
/// use std::future::Future;
/// use std::rc::Rc;
/// use std::task::{Context, Poll, Waker};
///
/// let q = Rc::new(Queue::new());
/// let q2 = q.clone();
/// let mut waiter = Box::pin(CoFuture::new(move |w| {
///     q2.wait(w);
///     "woken"
/// }));
/// let mut cx = Context::from_waker(Waker::noop());
/// assert!(waiter.as_mut().poll(&mut cx).is_pending()); // it waits on `q`
/// futures_executor::block_on(CoFuture::new(move |_w| assert!(q.notify_one())));
/// assert_eq!(waiter.as_mut().poll(&mut cx), Poll::Ready("woken"));
/// ```
pub struct Queue {
    raw: UnsafeCell<sys::CostackQueue>,
    /// Not `Send` either: a waiting task's links point into the queue's
    /// thread's tasks.
    _not_send: PhantomData<*mut ()>,
}

impl Queue {
    /// An empty queue. `const`.
    ///
    /// ```
    /// let q = costack::Queue::new();
    /// assert!(q.is_empty());
    /// ```
    pub const fn new() -> Queue {
        Queue {
            raw: UnsafeCell::new(raw_queue()),
            _not_send: PhantomData,
        }
    }

    fn raw(&self) -> *mut sys::CostackQueue {
        self.raw.get()
    }

    /// Waits at the tail of the queue until woken.
    ///
    /// # Panics
    ///
    /// If `cx` is not the running coroutine's own (see the
    /// [module](crate::sync)).
    ///
    /// ```
    /// use costack::{Loop, Queue};
    /// use std::rc::Rc;
    ///
    /// let lp = Loop::new().unwrap();
    /// let q = Rc::new(Queue::new());
    /// let q2 = q.clone();
    /// let h = lp.spawn(move |cx| q2.wait(cx));
    /// lp.run_once().unwrap(); // the task now waits
    /// assert!(!q.is_empty());
    /// assert_eq!(q.notify_all(), 1);
    /// h.join();
    /// ```
    pub fn wait<'t>(&self, cx: &mut impl WaitCx<'t>) {
        cx.check_owner("Queue::wait");
        // SAFETY: in the context's own coroutine (checked), under the global
        // mutex (a loop's dispatch or a future's poll: the context is a
        // Proof); the queue outlives the wait (borrowed).
        unsafe { sys::costack_queue_wait(self.raw()) }
    }

    /// Waits at the head of the queue (in front of the tasks already
    /// waiting) until woken.
    ///
    /// # Panics
    ///
    /// As [`wait`](Queue::wait).
    ///
    /// ```
    /// use costack::{GlobalCell, Loop, Queue};
    /// use std::rc::Rc;
    ///
    /// static ORDER: GlobalCell<Vec<&str>> = GlobalCell::new(Vec::new());
    /// let lp = Loop::new().unwrap();
    /// let q = Rc::new(Queue::new());
    /// let q1 = q.clone();
    /// lp.spawn(move |cx| { q1.wait(cx); ORDER.borrow_mut(cx).push("tail"); });
    /// let q2 = q.clone();
    /// lp.spawn(move |cx| { q2.wait_head(cx); ORDER.borrow_mut(cx).push("head"); });
    /// lp.run_once().unwrap(); // both wait now
    /// q.notify_all();
    /// lp.run().unwrap();
    /// assert_eq!(*ORDER.borrow(&costack::lock()), ["head", "tail"]);
    /// ```
    pub fn wait_head<'t>(&self, cx: &mut impl WaitCx<'t>) {
        cx.check_owner("Queue::wait_head");
        // SAFETY: as in `wait`.
        unsafe { sys::costack_queue_wait_head(self.raw()) }
    }

    /// Waits at the tail until woken (`true`) or `timeout` passed
    /// (`false`, and the task is off the queue). A loop's task only: the
    /// loop times the wait (a future times its waits with its executor's
    /// timers and [`Waiter::wait`](crate::Waiter::wait)).
    ///
    /// # Panics
    ///
    /// As [`wait`](Queue::wait).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lp = costack::Loop::new().unwrap();
    /// let h = lp.spawn(|cx| {
    ///     let q = costack::Queue::new();
    ///     let woken = q.wait_timeout(cx, Duration::from_millis(2));
    ///     (woken, q.is_empty())
    /// });
    /// assert_eq!(h.join(), (false, true));
    /// ```
    pub fn wait_timeout(&self, cx: &mut TaskCx<'_>, timeout: Duration) -> bool {
        cx.check("Queue::wait_timeout");
        // SAFETY: as in `wait`; the task's loop times the wait.
        unsafe { sys::costack_queue_wait_timeout(self.raw(), nanos(timeout)) != 0 }
    }

    /// Wakes the first waiting task; whether there was one. It runs when
    /// its loop next dispatches, or its future is next polled.
    ///
    /// ```
    /// let q = costack::Queue::new();
    /// assert!(!q.notify_one()); // nobody waits
    /// ```
    pub fn notify_one(&self) -> bool {
        // SAFETY: the queue is on its thread (not `Sync`); every coroutine
        // waiting on it waited with a `WaitCx`, so it is a loop's task or a
        // bridged future's, whose wake hook only queues it for the loop's
        // next dispatch or wakes its task's waker (nothing is entered here).
        unsafe { sys::costack_queue_next(self.raw()) != 0 }
    }

    /// Wakes every waiting task, in order; how many.
    ///
    /// ```
    /// let q = costack::Queue::new();
    /// assert_eq!(q.notify_all(), 0);
    /// ```
    pub fn notify_all(&self) -> usize {
        // SAFETY: as in `notify_one`.
        unsafe { sys::costack_queue_wake_all(self.raw()) }
    }

    /// Whether no task waits on the queue.
    ///
    /// ```
    /// assert!(costack::Queue::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        // SAFETY: reads the queue's links, on its thread.
        unsafe { sys::costack_queue_empty(self.raw()) != 0 }
    }
}

impl Default for Queue {
    fn default() -> Queue {
        Queue::new()
    }
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("empty", &self.is_empty())
            .finish()
    }
}

/// A coroutine mutex protecting a `T` (QEMU's `CoMutex`): [`lock`] waits,
/// without blocking the thread, while another task holds it; unlocking
/// (dropping the guard) hands it to the first waiter, FIFO.
///
/// Not recursive: a task that locks a mutex it holds aborts with the C
/// core's message. See the [module](crate::sync) for the rules the guard
/// keeps; the tasks may be a loop's or futures (both in the
/// [module](crate::sync)'s examples).
///
/// [`lock`]: Mutex::lock
///
/// ```
/// use costack::{Loop, Mutex};
/// use std::rc::Rc;
///
/// let lp = Loop::new().unwrap();
/// let log = Rc::new(Mutex::new(Vec::new()));
/// for id in 0..3 {
///     let log = log.clone();
///     lp.spawn(move |cx| {
///         let mut v = log.lock(cx);
///         cx.yield_now(); // the others queue up meanwhile
///         v.push(id);
///     });
/// }
/// lp.run().unwrap();
/// assert_eq!(*Rc::try_unwrap(log).unwrap().get_mut(), [0, 1, 2]);
/// ```
pub struct Mutex<T: ?Sized> {
    raw: UnsafeCell<sys::CostackMutex>,
    _not_send: PhantomData<*mut ()>,
    value: UnsafeCell<T>,
}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`. `const`.
    ///
    /// ```
    /// let m = costack::Mutex::new(5);
    /// assert_eq!(m.into_inner(), 5);
    /// ```
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            raw: UnsafeCell::new(sys::CostackMutex {
                holder_: ptr::null_mut(),
                waiters_: raw_queue(),
            }),
            _not_send: PhantomData,
            value: UnsafeCell::new(value),
        }
    }

    /// The value, consuming the mutex.
    ///
    /// ```
    /// assert_eq!(costack::Mutex::new("x").into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, waiting while another task holds it (this task's
    /// turn comes in arrival order).
    ///
    /// The guard may be held across waits; it cannot leave the task (see
    /// the [module](crate::sync)).
    ///
    /// # Panics
    ///
    /// If `cx` is not the running coroutine's own. Locking a mutex the
    /// task already holds aborts the process (the C core's check).
    ///
    /// ```
    /// let lp = costack::Loop::new().unwrap();
    /// let h = lp.spawn(|cx| {
    ///     let m = costack::Mutex::new(1);
    ///     *m.lock(cx) += 1;
    ///     m.into_inner()
    /// });
    /// assert_eq!(h.join(), 2);
    /// ```
    pub fn lock<'a, 't: 'a>(&'a self, cx: &mut impl WaitCx<'t>) -> MutexGuard<'a, T> {
        cx.check_owner("Mutex::lock");
        // SAFETY: in the context's own coroutine (checked), under the global
        // mutex (the context is a Proof); the mutex outlives the wait and
        // the guard (borrowed 'a).
        unsafe { sys::costack_mutex_lock(self.raw.get()) };
        MutexGuard {
            mutex: self,
            _not_send: PhantomData,
        }
    }

    /// Locks the mutex if it is free; `None` if a task holds it (nothing
    /// waits).
    ///
    /// # Panics
    ///
    /// As [`lock`](Mutex::lock).
    ///
    /// ```
    /// let lp = costack::Loop::new().unwrap();
    /// let h = lp.spawn(|cx| {
    ///     let m = costack::Mutex::new(());
    ///     let first = m.try_lock(cx);
    ///     assert!(first.is_some());
    ///     let second = m.try_lock(cx);
    ///     second.is_none()
    /// });
    /// assert!(h.join());
    /// ```
    pub fn try_lock<'a, 't: 'a>(&'a self, cx: &mut impl WaitCx<'t>) -> Option<MutexGuard<'a, T>> {
        cx.check_owner("Mutex::try_lock");
        // SAFETY: as in `lock`; trylock never waits.
        if unsafe { sys::costack_mutex_trylock(self.raw.get()) } != 0 {
            Some(MutexGuard {
                mutex: self,
                _not_send: PhantomData,
            })
        } else {
            None
        }
    }

    /// The value, through `&mut` (no lock needed: nobody else can reach
    /// it).
    ///
    /// ```
    /// let mut m = costack::Mutex::new(1);
    /// *m.get_mut() += 1;
    /// assert_eq!(m.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Mutex { .. }")
    }
}

/// The lock of a [`Mutex`], held by a task: derefs to the value; dropping
/// it unlocks (handing the mutex to the first waiter). Cannot leave its
/// task, not `Send`.
///
/// ```
/// let lp = costack::Loop::new().unwrap();
/// let h = lp.spawn(|cx| {
///     let m = costack::Mutex::new(String::new());
///     let mut g: costack::MutexGuard<'_, String> = m.lock(cx);
///     g.push_str("held");
///     drop(g);
///     m.into_inner()
/// });
/// assert_eq!(h.join(), "held");
/// ```
#[must_use = "the mutex is unlocked as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    _not_send: PhantomData<*mut ()>,
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the task holds the C mutex, so no other guard exists.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes the borrow unique.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the mutex is locked by this guard's task, on this thread
        // (the guard cannot leave the task; a coroutine it was handed to as
        // its input makes the C core abort: another coroutine holds it).
        // Unlock never switches: the next holder is woken for later.
        unsafe { sys::costack_mutex_unlock(self.mutex.raw.get()) }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A coroutine read-write lock protecting a `T` (QEMU's `CoRwlock`): any
/// number of reading tasks, or one writing task. FIFO and fair: a reader
/// that arrives while a writer waits waits too, so writers do not starve.
///
/// ```
/// use costack::{Loop, RwLock};
/// use std::rc::Rc;
///
/// let lp = Loop::new().unwrap();
/// let config = Rc::new(RwLock::new(String::from("v1")));
/// let reader = {
///     let config = config.clone();
///     lp.spawn(move |cx| config.read(cx).clone())
/// };
/// let writer = {
///     let config = config.clone();
///     lp.spawn(move |cx| *config.write(cx) = String::from("v2"))
/// };
/// assert_eq!(reader.join(), "v1");
/// writer.join();
/// assert_eq!(*Rc::try_unwrap(config).unwrap().get_mut(), "v2");
/// ```
pub struct RwLock<T: ?Sized> {
    raw: UnsafeCell<sys::CostackRwlock>,
    _not_send: PhantomData<*mut ()>,
    value: UnsafeCell<T>,
}

impl<T> RwLock<T> {
    /// An unlocked lock holding `value`. `const`.
    ///
    /// ```
    /// let l = costack::RwLock::new(5);
    /// assert_eq!(l.into_inner(), 5);
    /// ```
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            raw: UnsafeCell::new(sys::CostackRwlock {
                readers_: 0,
                writer_: ptr::null_mut(),
                waiters_: raw_queue(),
            }),
            _not_send: PhantomData,
            value: UnsafeCell::new(value),
        }
    }

    /// The value, consuming the lock.
    ///
    /// ```
    /// assert_eq!(costack::RwLock::new(1).into_inner(), 1);
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    fn raw(&self) -> *mut sys::CostackRwlock {
        self.raw.get()
    }

    /// Locks for reading, waiting while a writer holds the lock or waits
    /// for it.
    ///
    /// # Panics
    ///
    /// If `cx` is not the running coroutine's own.
    ///
    /// ```
    /// let lp = costack::Loop::new().unwrap();
    /// let h = lp.spawn(|cx| {
    ///     let l = costack::RwLock::new(3);
    ///     let a = l.read(cx);
    ///     let b = l.read(cx); // readers share
    ///     *a + *b
    /// });
    /// assert_eq!(h.join(), 6);
    /// ```
    pub fn read<'a, 't: 'a>(&'a self, cx: &mut impl WaitCx<'t>) -> RwLockReadGuard<'a, T> {
        cx.check_owner("RwLock::read");
        // SAFETY: in the context's own coroutine (checked), under the global
        // mutex (the context is a Proof); the lock outlives the wait and the
        // guard (borrowed 'a).
        unsafe { sys::costack_rwlock_rdlock(self.raw()) };
        RwLockReadGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// Locks for writing, waiting while any task holds the lock or waits
    /// before this one.
    ///
    /// # Panics
    ///
    /// As [`read`](RwLock::read).
    ///
    /// ```
    /// let lp = costack::Loop::new().unwrap();
    /// let h = lp.spawn(|cx| {
    ///     let l = costack::RwLock::new(3);
    ///     *l.write(cx) += 1;
    ///     l.into_inner()
    /// });
    /// assert_eq!(h.join(), 4);
    /// ```
    pub fn write<'a, 't: 'a>(&'a self, cx: &mut impl WaitCx<'t>) -> RwLockWriteGuard<'a, T> {
        cx.check_owner("RwLock::write");
        // SAFETY: as in `read`.
        unsafe { sys::costack_rwlock_wrlock(self.raw()) };
        RwLockWriteGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// The value, through `&mut` (no lock needed).
    ///
    /// ```
    /// let mut l = costack::RwLock::new(1);
    /// *l.get_mut() = 2;
    /// assert_eq!(l.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RwLock { .. }")
    }
}

/// A read lock of an [`RwLock`], held by a task: derefs to the value;
/// dropping it unlocks. Cannot leave its task, not `Send`.
///
/// ```
/// let lp = costack::Loop::new().unwrap();
/// let h = lp.spawn(|cx| {
///     let l = costack::RwLock::new(vec![1, 2]);
///     let g: costack::RwLockReadGuard<'_, Vec<i32>> = l.read(cx);
///     g.len()
/// });
/// assert_eq!(h.join(), 2);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*mut ()>,
}

impl<'a, T: ?Sized> RwLockReadGuard<'a, T> {
    /// Becomes the writer: at once if this task is the only reader and
    /// nobody waits; otherwise it releases its read lock and waits as a
    /// writer, so another writer may change the value in between (as
    /// QEMU's `qemu_co_rwlock_upgrade`).
    ///
    /// # Panics
    ///
    /// As [`RwLock::read`].
    ///
    /// ```
    /// let lp = costack::Loop::new().unwrap();
    /// let h = lp.spawn(|cx| {
    ///     let l = costack::RwLock::new(1);
    ///     let r = l.read(cx);
    ///     let mut w = r.upgrade(cx);
    ///     *w += 1;
    ///     drop(w);
    ///     l.into_inner()
    /// });
    /// assert_eq!(h.join(), 2);
    /// ```
    pub fn upgrade<'t: 'a>(self, cx: &mut impl WaitCx<'t>) -> RwLockWriteGuard<'a, T> {
        cx.check_owner("RwLockReadGuard::upgrade");
        let lock = self.lock;
        std::mem::forget(self);
        // SAFETY: in the context's own coroutine (checked), which holds a read
        // lock of `lock` (the guard, now forgotten, becomes the write guard).
        unsafe { sys::costack_rwlock_upgrade(lock.raw()) };
        RwLockWriteGuard {
            lock,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the task holds a read lock: no writer exists.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this guard's task holds a read lock, on this thread (as
        // for `MutexGuard`). Unlock never switches.
        unsafe { sys::costack_rwlock_unlock(self.lock.raw()) }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The write lock of an [`RwLock`], held by a task: derefs mutably to the
/// value; dropping it unlocks. Cannot leave its task, not `Send`.
///
/// ```
/// let lp = costack::Loop::new().unwrap();
/// let h = lp.spawn(|cx| {
///     let l = costack::RwLock::new(0);
///     let mut g: costack::RwLockWriteGuard<'_, i32> = l.write(cx);
///     *g = 9;
///     drop(g);
///     l.into_inner()
/// });
/// assert_eq!(h.join(), 9);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*mut ()>,
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Becomes a reader, never waiting; readers waiting at the head of the
    /// queue get the lock too.
    ///
    /// ```
    /// let lp = costack::Loop::new().unwrap();
    /// let h = lp.spawn(|cx| {
    ///     let l = costack::RwLock::new(1);
    ///     let mut w = l.write(cx);
    ///     *w = 5;
    ///     let r = w.downgrade();
    ///     let also = l.read(cx); // another read lock is fine now
    ///     *r + *also
    /// });
    /// assert_eq!(h.join(), 10);
    /// ```
    pub fn downgrade(self) -> RwLockReadGuard<'a, T> {
        let lock = self.lock;
        std::mem::forget(self);
        // SAFETY: this guard's task holds the write lock (the guard, now
        // forgotten, becomes the read guard); downgrade never switches.
        unsafe { sys::costack_rwlock_downgrade(lock.raw()) };
        RwLockReadGuard {
            lock,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the task holds the write lock: no other guard exists.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes the borrow unique.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this guard's task holds the write lock, on this thread.
        unsafe { sys::costack_rwlock_unlock(self.lock.raw()) }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
