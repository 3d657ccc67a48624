//! costack: stackful coroutines for Rust and C, in the tradition of QEMU's.
//!
//! A coroutine is a function with a stack of its own that can stop in the
//! middle of its work ([`Yielder::suspend`]) and be continued later
//! ([`Coroutine::resume`]), from the exact point where it stopped, with all
//! its local variables intact. So code that reads as synchronous can be
//! asynchronous underneath: a coroutine issues a request, suspends back to
//! an event loop, and the loop resumes it when the answer is there. The
//! crate has that loop ([`Loop`]: tasks, timers, fd readiness, and QEMU's
//! [`Queue`], [`Mutex`] and [`RwLock`] between tasks; see [`event_loop`]
//! and [`sync`]). The `echo` example (`cargo run --release --example echo`)
//! serves TCP on it: each connection is a task with plain `read`/`write`
//! calls that wait for the socket on `EAGAIN` while the loop runs the
//! others.
//!
//! ```
//! use costack::{Coroutine, Step, Yielder};
//!
//! let mut guard = costack::lock(); // the global mutex, shared with C
//! let mut co = Coroutine::new(|y: &mut Yielder<i32, &'static str>, first: i32| {
//!     let second = y.suspend("hello"); // hands a value out, gets the next one in
//!     first + second
//! });
//! assert_eq!(co.resume(&mut guard, 1), Step::Yield("hello"));
//! assert_eq!(co.resume(&mut guard, 2), Step::Return(3));
//! ```
//!
//! # The model
//!
//! - **Values both ways.** `Coroutine<I, Y, R>`: each resume passes an `I`
//!   in; the coroutine passes a `Y` out each time it suspends and an `R`
//!   when its closure returns ([`Step`]). The first `I` is the closure's
//!   argument, later ones are what `suspend` returns.
//! - **One coroutine at a time, process-wide.** The C core has one global
//!   mutex; a coroutine runs only while its thread holds it. `resume` takes a
//!   proof of that ([`Proof`]): the [`Guard`] from [`lock()`], or inside a
//!   coroutine, its [`Yielder`] (so coroutines nest: a coroutine can create
//!   and resume others). Locking twice on one thread panics.
//! - **Shared state without locks.** A [`GlobalCell`] is `Sync` and hands
//!   out its contents only for a proof; its borrows cannot live across a
//!   suspend or a nested resume (a compile error), and what the types cannot
//!   see is checked at run time.
//! - **Panics** inside a coroutine are caught at its root and resumed in the
//!   caller of `resume`, with their payload; the coroutine is then finished.
//!   Resuming a finished coroutine panics.
//! - **Drop** of a suspended coroutine unwinds its stack, running its
//!   destructors, then recycles the stack. The unwind is a panic to the
//!   code it passes: `std::thread::panicking()` is true there, and a
//!   `std::sync::Mutex` whose guard the coroutine held across its suspend
//!   is left poisoned, on purpose (the coroutine may have suspended in the
//!   middle of an update; see
//!   [`Coroutine`'s `Drop`](Coroutine#impl-Drop-for-Coroutine%3CI,+Y,+R%3E)).
//!   A destructor must not suspend during an unwind, nor borrow a
//!   [`GlobalCell`] that code further out still borrows: either aborts the
//!   process with a message starting `costack:`.
//! - **`panic = "abort"`**: a program built so cannot unwind, so dropping a
//!   suspended coroutine *leaks* it instead: its stack stays allocated and
//!   its destructors do not run. The first such drop says so on stderr, in
//!   one line starting `costack:`. Resume a coroutine to its end to free it.
//! - **Threads.** A [`Coroutine`] stays on its thread (it is not `Send`:
//!   its stack may hold references to thread-locals); [`Coroutine::into_send`]
//!   is the `unsafe` way out. Different threads can run coroutines, one
//!   thread at a time, taking turns on the mutex.
//! - **Stacks** are 1 MiB by default ([`Builder`] for another size, at
//!   least [`Builder::MIN_STACK_SIZE`], 32 KiB, which leaves a panic room
//!   to print its backtrace), mapped lazily with a guard below them (64 KiB
//!   by default, [`Builder::guard_size`]): overflowing one aborts with
//!   `costack: coroutine stack overflow (...)`. Finished coroutines' stacks
//!   are pooled, so creating a coroutine is cheap ([`set_pool_max`] sets how
//!   many; [`stats`] counts coroutines and stacks).
//!
//! # With C
//!
//! The same coroutines are available to C and C++ through
//! `include/costack.h` (the C library builds with CMake alone, no Rust
//! needed: see the README), and to Rust as the raw API in [`sys`]. The two
//! mix: a Rust coroutine can enter a coroutine made with `costack_create`
//! and the other way round, and C code that shares data with Rust
//! coroutines takes the same mutex (`costack_global_lock`). A program whose
//! C libraries link an installed costack builds this crate with the
//! `system` feature, so that the process has one core (one global mutex):
//! the crate then links the installed library (found with pkg-config)
//! instead of building its own copy.
//!
//! # Soundness
//!
//! The argument, invariant by invariant, is in the [`coroutine`] module's
//! documentation; [`mutex`] and [`cell`] describe their parts.

#![warn(missing_docs)]

mod abort;
pub mod cell;
pub mod coroutine;
mod errno;
pub mod event_loop;
pub mod future;
pub mod mutex;
mod pool;
pub mod stream;
pub mod sync;
pub mod sys;

pub use cell::{GlobalCell, Ref, RefMut};
pub use coroutine::{in_coroutine, Builder, Coroutine, SendCoroutine, Step, Yielder};
pub use event_loop::{JoinHandle, Loop, StopHandle, TaskCx, Unparker};
pub use future::{Cancelled, CoFuture, SendCoFuture, Waiter};
pub use mutex::{lock, lock_held, try_lock, Guard, Proof};
pub use pool::{pool_max, set_pool_max, stats, Stats};
pub use stream::{CoStream, SendCoStream};
pub use sync::{Mutex, MutexGuard, Queue, RwLock, RwLockReadGuard, RwLockWriteGuard, WaitCx};

/// The name of the switching backend compiled into the C core:
/// `"ucontext"`, `"sigaltstack"`, ...
///
/// ```
/// assert!(!costack::backend_name().is_empty());
/// ```
pub fn backend_name() -> &'static str {
    // SAFETY: the C core returns a pointer to a static NUL-terminated string.
    let name = unsafe { std::ffi::CStr::from_ptr(sys::costack_backend_name()) };
    name.to_str().unwrap_or("?")
}
