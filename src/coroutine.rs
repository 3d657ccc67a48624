//! [`Coroutine`]: a closure that runs on its own stack and can suspend
//! itself; its [`Yielder`]; [`Builder`] for the stack size; [`Step`], what a
//! resume gives back.
//!
//! # How it maps onto the C core
//!
//! [`Builder::build`] asks the C core for a coroutine
//! (`costack_create_with`) whose entry function is a trampoline generic over
//! the closure type, with room in its *user data* (`costack_user_data`) for
//! a *block*: a small header holding the *link* through which values cross
//! the switch, then the closure. The user data lives with the C coroutine
//! object, and a coroutine reused from the C core's pool keeps its user data
//! for the next create, so a pooled create allocates nothing. (A closure too
//! large for the user data the pool keeps, `COSTACK_POOLED_USER_SIZE`, is
//! boxed, and the block holds the box.)
//! [`Coroutine::resume`] stores the input in the link and calls
//! `costack_enter`; [`Yielder::suspend`] stores the yielded value and calls
//! `costack_yield`. The first entry runs the trampoline, which gets the
//! block's address from `resume` (through a thread-local, set right before
//! the enter), moves the closure onto the coroutine's stack and calls it
//! inside `catch_unwind`. When it returns (or panics), the trampoline
//! stores the result (or the panic payload) in a slot in the frame of the `resume` that entered it
//! (the header points to it), and returns to the C core, which releases the
//! coroutine, user data and all, into its pool before `costack_enter`
//! returns: the C handle and the block are invalid from then on, so the
//! `Coroutine` itself keeps what outlives them (its state and stack size).
//! A resume allocates nothing.
//!
//! # Soundness
//!
//! The argument, invariant by invariant, with the `unsafe` code that relies
//! on each.
//!
//! **1. A coroutine runs only on a thread that holds the global mutex.**
//! `resume` demands `&mut impl Proof`. A [`Guard`](crate::Guard) exists only
//! on the thread that locked (it is not `Send`) and is dropped only in the
//! coroutine (or leader) where it was taken, which is not running anything
//! it resumed at that moment (checked at run time: dropping it elsewhere
//! aborts). A [`Yielder`] is reachable only inside its coroutine's closure
//! (the closure gets `&mut Yielder` under a higher-ranked lifetime, so it
//! cannot escape, and the closure is `'static`, so no outside reference to a
//! yielder can be captured), and that coroutine runs under the mutex by
//! induction. Dropping a suspended coroutine runs it once more (see 5); the
//! drop takes the mutex for that if the thread does not hold it. Only
//! `unsafe` code (entering a Rust coroutine through [`sys`], or
//! calling `costack_global_unlock` on a mutex Rust locked) can break this.
//! Relied on by: [`GlobalCell`](crate::GlobalCell)'s `Sync`.
//!
//! **2. Values cross a switch through the link and the outcome slot, and
//! only one side touches them at a time.** The caller writes the input and
//! the address of its outcome slot, then enters; the coroutine takes the
//! input, works, writes its yield value to the link (or its result to the
//! slot), then switches back; the caller takes that. Switches are
//! synchronous calls into C on one thread, the link and the slot are reached
//! only through raw pointers (never a reference held across a switch), and
//! the block's address came from C and the slot's was stored in the block,
//! so the compiler re-reads both after each call. Relied on by: the
//! raw-pointer accesses in `resume`, `force_unwind`, `suspend` and the
//! trampoline.
//!
//! **3. The block outlives every use of it.** It lives in the C
//! coroutine's user data, which the C core keeps until the coroutine ends
//! (its entry function, the trampoline, returns) or is destroyed. The
//! trampoline's last use of the block comes before it returns; what it
//! leaves for the caller goes to the caller's outcome slot, which lives in
//! the frame waiting in `costack_enter`, so the caller never reads the
//! block of a finished coroutine: `resume` looks at its slot first, and a
//! `Coroutine` whose state is `Finished` never touches its block or C handle
//! again. `Coroutine::drop` releases a coroutine that never ran with
//! `costack_destroy`, after moving the closure out of the block and before
//! dropping it (its destructor may create coroutines, which may reuse the
//! released user data); a suspended one is first run to its end (see 5).
//! `mem::forget` on a `Coroutine` leaks the C coroutine with its stack and
//! block, never used again, and so does the drop of a suspended coroutine
//! under `panic = "abort"` (see 5). A
//! coroutine's closure is `'static`, so nothing on its stack borrows from a
//! frame that could be gone when it is resumed (a coroutine that borrowed
//! its creator's locals could outlive them, suspended or leaked with
//! `mem::forget`); input, yield and return types may borrow, but they are
//! parameters of `Coroutine` and so outlive it, and `Coroutine` is
//! invariant in the input type, so an input lives as long as the closure
//! was written to expect.
//!
//! **4. No panic unwinds through a C frame.** The only Rust frames on a
//! coroutine's stack are above the trampoline, which catches every unwind
//! (`catch_unwind`) and hands the payload to `resume`, which resumes it on
//! the caller's side of `costack_enter`, above the C frames. The code after
//! the catch cannot panic: it moves values and, on misuse, writes a message
//! and aborts.
//!
//! **5. Dropping a suspended coroutine runs its destructors, and it can
//! never run again.** `drop` enters it with an *unwind* request in place of
//! an input; `suspend` finds it and starts a panic with a private payload
//! (`resume_unwind`, so no panic hook runs); the trampoline's catch
//! recognises it and finishes. A coroutine that catches that unwind and
//! then suspends again, or returns normally, or ends with another panic,
//! would either stay alive with its owner gone or report a result nobody
//! can take: it aborts with a message starting `costack:`. So does a
//! destructor that suspends during this unwind (or during a panic of the
//! coroutine's own): the panic in progress is counted in the thread, which
//! would carry it to whoever runs next; `suspend` tells such an unwind
//! from one further out, below its resumer, by what the resumer recorded at
//! the enter. Destructors that run during this unwind can borrow a
//! [`GlobalCell`](crate::GlobalCell) with a yielder they hold; the code that
//! dropped the coroutine may hold a borrow of the same cell (drop takes no
//! proof), which is why the cell keeps its run-time borrow count (and
//! aborts on a conflict found while the thread unwinds, where a panic would
//! be a panic during cleanup). Under `panic = "abort"` nothing can unwind:
//! drop leaves a suspended coroutine as it is and leaks it with its block
//! (3), so it never runs again either, and its destructors never run.
//! The trampoline tells the forced unwind's end apart from a coroutine that
//! caught it and suspended again by what it leaves in `force_unwind`'s
//! outcome slot (the `ForcedUnwind` payload, or nothing).
//!
//! **6. A coroutine is resumed only when it is suspended or new.** `resume`
//! takes `&mut self`, and a coroutine's closure cannot reach its own
//! `Coroutine` (it is `'static` and the `Coroutine` is made from it; shared
//! ownership through `Rc<RefCell<_>>` hits the `RefCell`'s check). A
//! finished coroutine panics on resume; the C core aborts on the rest
//! (`Co-routine re-entered recursively`).
//!
//! **7. A coroutine stays on one thread, unless the user promises.**
//! `Coroutine` is neither `Send` nor `Sync`: a suspended coroutine's stack
//! can hold a reference into a `thread_local!` (or a value such as `Rc`
//! that must not cross threads), which would dangle or race after a move,
//! and the compiler may cache a thread-local's address across the switch.
//! [`Coroutine::into_send`] is the `unsafe` way out, for code that knows its
//! coroutine holds no such thing across a suspend.

use crate::abort::die;
use crate::mutex::{sealed::Sealed, Proof};
use crate::sys;
use std::any::Any;
use std::cell::Cell;
use std::ffi::c_void;
use std::io;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::{self, NonNull};

/// What [`Coroutine::resume`] gives back: the coroutine suspended with a
/// value, or returned one (and is finished).
///
/// ```
/// use costack::{Coroutine, Step, Yielder};
///
/// let mut guard = costack::lock();
/// let mut co = Coroutine::new(|y: &mut Yielder<(), u8>, ()| {
///     y.suspend(1);
///     "done"
/// });
/// assert_eq!(co.resume(&mut guard, ()), Step::Yield(1));
/// assert_eq!(co.resume(&mut guard, ()), Step::Return("done"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step<Y, R> {
    /// The coroutine called [`Yielder::suspend`] with this value; resume it
    /// to continue.
    Yield(Y),
    /// The coroutine's closure returned this value; the coroutine is
    /// finished.
    Return(R),
}

/// Where a coroutine is in its life, as seen from Rust; kept in the
/// `Coroutine`, since the block goes with the C coroutine when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Created, never entered: the closure is in the block.
    New,
    /// Entered, not finished: running, or waiting in `suspend`. Its owner
    /// only ever sees it suspended (`resume` holds `&mut self` while it
    /// runs, invariant 6), so the two need no states of their own.
    Started,
    /// The closure returned or panicked; the C coroutine is released, and
    /// with it the block.
    Finished,
}

/// What the caller hands the coroutine with an enter.
enum Incoming<I> {
    /// Nothing (taken, or never given).
    Empty,
    /// The input of a resume.
    Value(I),
    /// Drop's request to unwind (never made under `panic = "abort"`, where
    /// drop leaks a suspended coroutine instead).
    #[cfg_attr(panic = "abort", allow(dead_code))]
    Unwind,
}

/// The part of the block that a [`Yielder`] sees (it does not know `R`).
struct Link<I, Y> {
    /// Set by `Coroutine::drop` for the trampoline: the coroutine is being
    /// unwound, so the only acceptable end is the `ForcedUnwind` panic.
    unwinding: bool,
    /// Whether the thread was already unwinding when the coroutine was last
    /// entered (a destructor resumed or dropped it during a panic), written
    /// at every enter. `suspend` compares it with `thread::panicking()` to
    /// tell an unwind of the coroutine's own stack, which must not suspend,
    /// from one further out, below the resumer.
    resumer_panicking: bool,
    /// Caller to coroutine.
    input: Incoming<I>,
    /// Coroutine to caller, on suspend.
    output: Option<Y>,
}

/// The payload of the panic that unwinds a dropped coroutine.
struct ForcedUnwind;

type Payload = Box<dyn Any + Send + 'static>;

/// How the closure ended: what it returned, or the payload of its panic.
/// `None` while it has not ended.
type Outcome<R> = Option<Result<R, Payload>>;

/// The type-erased head of the block; `Coroutine` holds a pointer to it.
#[repr(C)]
struct Header<I, Y, R> {
    link: Link<I, Y>,
    /// Coroutine to caller, when the closure has returned or panicked: the
    /// outcome slot of the `resume` (or `force_unwind`) that entered the
    /// coroutine last, written at every enter. Not in the block, which the
    /// C core releases with the coroutine before that enter returns.
    outcome: NonNull<Outcome<R>>,
    /// Takes the closure out of the block of a coroutine that never ran,
    /// destroys the C coroutine, then drops the closure; given the C
    /// coroutine and the block's address. Its type names none of `I`, `Y`,
    /// `R`: a function pointer taking the header would make the header, and
    /// so `Coroutine`, invariant in all three, whatever its marker says.
    discard: unsafe fn(*mut sys::CostackCoroutine, *mut ()),
}

/// The whole block, in the C coroutine's user data: the header, then the
/// closure (moved onto the coroutine's stack at its first entry).
#[repr(C)]
struct Block<I, Y, R, F> {
    header: Header<I, Y, R>,
    body: ManuallyDrop<F>,
}

thread_local! {
    /// The block of the coroutine that `resume` is about to enter for the
    /// first time, for its trampoline: set just before that
    /// `costack_enter`, taken (and cleared) by the trampoline at its start,
    /// on the same thread, with no Rust code run in between. Cheaper than
    /// asking the C core for `costack_user_data(costack_self())`.
    static FIRST_ENTRY: Cell<*mut ()> = const { Cell::new(ptr::null_mut()) };
}

/// The user data a block of type `B` needs: its size, and room to align it
/// where it needs more than the C core's alignment.
const fn user_size<B>() -> usize {
    let align = std::mem::align_of::<B>();
    let base = sys::COSTACK_USER_DATA_ALIGN as usize;
    std::mem::size_of::<B>() + align.saturating_sub(base)
}

/// Where the block of type `B` lies in the user data at `data` (aligned by
/// the C core to `COSTACK_USER_DATA_ALIGN`, `user_size::<B>()` bytes): at
/// its first address aligned for `B`, which leaves `size_of::<B>()` bytes
/// before the end.
fn block_in<B>(data: *mut c_void) -> *mut B {
    let align = std::mem::align_of::<B>();
    let pad = (data as usize).wrapping_neg() & (align - 1);
    data.cast::<u8>().wrapping_add(pad).cast()
}

/// A closure running on its own stack, which can suspend itself in the
/// middle of its work and be resumed later, passing values both ways.
///
/// - `I`: what [`resume`](Coroutine::resume) passes in (the first one is the
///   closure's second argument, later ones are what
///   [`suspend`](Yielder::suspend) returns);
/// - `Y`: what `suspend` passes out;
/// - `R`: what the closure returns.
///
/// A coroutine runs only while its thread holds the global mutex: `resume`
/// takes the proof. It is not `Send` (see [`into_send`](Coroutine::into_send)).
/// Dropping a suspended coroutine unwinds its stack, running its
/// destructors (under `panic = "abort"` it leaks it: see
/// [`Drop`](#impl-Drop-for-Coroutine%3CI,+Y,+R%3E)). The default stack is
/// 1 MiB (mapped lazily, with a guard below it; overflowing it aborts with
/// `costack: coroutine stack overflow`); see [`Builder`] for another size.
/// Stacks of finished coroutines are pooled and reused, so creating one is
/// cheap.
///
/// ```
/// use costack::{Coroutine, Step, Yielder};
///
/// let mut guard = costack::lock();
/// // A generator: yields the running sum of what it is given.
/// let mut sums = Coroutine::new(|y: &mut Yielder<u32, u32>, mut next: u32| {
///     let mut total = 0;
///     while next != 0 {
///         total += next;
///         next = y.suspend(total);
///     }
///     total
/// });
/// assert_eq!(sums.resume(&mut guard, 5), Step::Yield(5));
/// assert_eq!(sums.resume(&mut guard, 2), Step::Yield(7));
/// assert_eq!(sums.resume(&mut guard, 0), Step::Return(7));
/// assert!(sums.is_finished());
/// ```
pub struct Coroutine<I, Y, R> {
    /// The C coroutine; released by the C core once `state` is `Finished`.
    co: *mut sys::CostackCoroutine,
    /// The head of the block, in `co`'s user data; dangling once `state` is
    /// `Finished`.
    header: NonNull<Header<I, Y, R>>,
    state: State,
    /// Usable stack size, kept for after the C coroutine is gone.
    stack_size: usize,
    /// Invariant in `I`. Each input goes into the block, where the closure,
    /// compiled for exactly this `I`, takes it: covariance would let a
    /// `Coroutine<&'static str, ..>` be resumed with a shorter borrow, which
    /// the closure may keep for good. (Contravariance, `fn(I)`, would be
    /// sound as well, but the header pointer is covariant in `I`, so the
    /// two together would make `Coroutine` invariant all the same.)
    _input: PhantomData<fn(I) -> I>,
    /// Covariant in `Y` and `R`: yielded and returned values only come out
    /// to the caller, so a coroutine that yields `&'static str` can stand
    /// for one that yields shorter borrows. No marker of ownership is needed
    /// for the drop check: `Coroutine` implements `Drop`, so `I`, `Y` and
    /// `R` must outlive it anyway.
    _output: PhantomData<fn() -> (Y, R)>,
    /// Neither `Send` nor `Sync` (invariant 7): a suspended coroutine's stack
    /// may hold references into its thread's thread-locals, or an `Rc`.
    /// [`into_send`](Coroutine::into_send) is the way out.
    _not_send: PhantomData<*mut ()>,
}

/// The running coroutine's handle on itself: suspends it, and serves as the
/// proof that the global mutex is held inside it.
///
/// Given to the closure as `&mut Yielder`; it cannot leave the closure.
///
/// ```
/// use costack::{Coroutine, GlobalCell, Step, Yielder};
///
/// static SEEN: GlobalCell<u32> = GlobalCell::new(0);
/// let mut guard = costack::lock();
/// let mut co = Coroutine::new(|y: &mut Yielder<u32, ()>, first: u32| {
///     SEEN.set(y, first); // the yielder is the proof here
///     let second = y.suspend(());
///     SEEN.set(y, second);
/// });
/// co.resume(&mut guard, 1);
/// assert_eq!(SEEN.get(&guard), 1);
/// co.resume(&mut guard, 2);
/// assert_eq!(SEEN.get(&guard), 2);
/// ```
pub struct Yielder<I, Y> {
    link: NonNull<Link<I, Y>>,
    /// Covariant in `I`: `suspend` only hands inputs out to the closure.
    _input: PhantomData<fn() -> I>,
    /// Invariant in `Y`: `suspend` takes yielded values in and stores them
    /// where the caller reads them as exactly this `Y`; covariance would let
    /// a `Yielder<_, &'static str>` pass a shorter borrow out as a `'static`
    /// one. (The link pointer is covariant in both parameters; these
    /// markers decide.)
    _output: PhantomData<fn(Y) -> Y>,
    /// Neither `Send` nor `Sync`: a yielder suspends the coroutine running
    /// on this thread, and proves that this thread holds the global mutex.
    /// On another thread (one the closure spawns in a scope, say) it would
    /// switch stacks that thread is not on, and prove what is false there.
    _not_send: PhantomData<*mut ()>,
}

impl<I, Y> Sealed for Yielder<I, Y> {}
impl<I, Y> Proof for Yielder<I, Y> {}

/// Creates coroutines with a chosen stack and guard size, reporting failure
/// as an error instead of a panic.
///
/// ```
/// use costack::{Builder, Step, Yielder};
///
/// let mut co = Builder::new()
///     .stack_size(64 * 1024)
///     .build(|_y: &mut Yielder<(), ()>, ()| 42)
///     .expect("out of memory or mappings");
/// assert!(co.stack_size() >= 64 * 1024);
/// assert_eq!(co.resume(&mut costack::lock(), ()), Step::Return(42));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    /// `None`: the C core's default (1 MiB).
    stack_size: Option<usize>,
    /// `None`: the C core's default (64 KiB).
    guard_size: Option<usize>,
}

impl Builder {
    /// The smallest stack a Rust coroutine may have: 32 KiB (the C core
    /// accepts 16 KiB, [`sys::COSTACK_MIN_STACK_SIZE`]).
    ///
    /// A panic needs room on the stack where it starts: the panic hook runs
    /// there, and with `RUST_BACKTRACE` set (`1` or `full`) it walks and
    /// symbolizes the stack, which takes about 20 to 24 KiB (the first
    /// backtrace of a process loads the symbolizer and takes the most). On a
    /// stack too small for that, a panic dies as a stack overflow instead of
    /// reaching the caller of [`resume`](Coroutine::resume). This minimum
    /// leaves room for it on top of shallow code; code that goes deep needs
    /// its own depth on top (measure it with
    /// [`stack_high_water`](Coroutine::stack_high_water)), and so does a
    /// panic hook of your own that uses more stack than the default one.
    ///
    /// ```
    /// use costack::{Builder, Yielder};
    ///
    /// let co = Builder::new()
    ///     .stack_size(Builder::MIN_STACK_SIZE)
    ///     .build(|_: &mut Yielder<(), ()>, ()| ())
    ///     .unwrap();
    /// assert!(co.stack_size() >= Builder::MIN_STACK_SIZE);
    /// ```
    pub const MIN_STACK_SIZE: usize = 32 << 10;

    /// A builder with the default settings (a 1 MiB stack, a 64 KiB guard).
    ///
    /// ```
    /// let co = costack::Builder::new().build(|_: &mut costack::Yielder<(), ()>, ()| ()).unwrap();
    /// assert_eq!(co.stack_size(), 1 << 20);
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// The usable stack size in bytes, not counting the guard: rounded up to
    /// the page size, at least [`MIN_STACK_SIZE`](Builder::MIN_STACK_SIZE)
    /// (32 KiB) and at most 1 GiB, else [`build`](Builder::build) fails with
    /// `InvalidInput`. Without a call, the stack is 1 MiB.
    ///
    /// 0 fails like any other size below the minimum. (In the C API, 0 in
    /// `CostackOptions` means the default, because a zeroed struct must be
    /// valid; a builder gets the default by not setting the size, so a 0
    /// here is most likely a size computed wrong, and is reported.)
    ///
    /// ```
    /// let co = costack::Builder::new()
    ///     .stack_size(100_000)
    ///     .build(|_: &mut costack::Yielder<(), ()>, ()| ())
    ///     .unwrap();
    /// assert!(co.stack_size() >= 100_000);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// The size in bytes of the guard, the inaccessible memory below the
    /// stack where an overflow faults (and is reported as
    /// `costack: coroutine stack overflow`): rounded up to the page size,
    /// at least 1 byte (so one page) and at most 64 MiB
    /// ([`sys::COSTACK_MAX_GUARD_SIZE`]), else [`build`](Builder::build)
    /// fails with `InvalidInput`. Without a call, the guard is 64 KiB.
    ///
    /// A single frame larger than the guard (a large local array) in code
    /// built without stack probes (C without `-fstack-clash-protection`, for
    /// one) can jump it and write into whatever lies below, another
    /// coroutine's stack included, so code with such frames needs a larger
    /// guard (see "Stack overflow" in `include/costack.h`). A guard costs
    /// address space and a few page-table entries, not memory. 0 is
    /// refused, as for [`stack_size`](Builder::stack_size): a stack always
    /// has a guard. Ignored on Windows, where the system guards fiber stacks
    /// and every frame larger than a page probes its pages (the bounds are
    /// still checked).
    ///
    /// ```
    /// use costack::{Builder, Step, Yielder};
    ///
    /// let mut co = Builder::new()
    ///     .guard_size(1 << 20) // for frames up to 1 MiB
    ///     .build(|_: &mut Yielder<(), ()>, ()| {
    ///         let big = [7u8; 512 << 10];
    ///         std::hint::black_box(&big)[1000]
    ///     })
    ///     .unwrap();
    /// assert_eq!(co.resume(&mut costack::lock(), ()), Step::Return(7));
    /// ```
    pub fn guard_size(mut self, bytes: usize) -> Builder {
        self.guard_size = Some(bytes);
        self
    }

    /// Creates a coroutine that will run `body` when first resumed.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a stack size below
    /// [`MIN_STACK_SIZE`](Builder::MIN_STACK_SIZE) or above 1 GiB, or a
    /// guard size of 0 or above 64 MiB; `OutOfMemory` (`ENOMEM`) when memory
    /// or mappings are exhausted. `body` is dropped then.
    ///
    /// ```
    /// let err = costack::Builder::new()
    ///     .stack_size(1024)
    ///     .build(|_: &mut costack::Yielder<(), ()>, ()| ())
    ///     .err()
    ///     .unwrap();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn build<I, Y, R, F>(self, body: F) -> io::Result<Coroutine<I, Y, R>>
    where
        F: FnOnce(&mut Yielder<I, Y>, I) -> R + 'static,
    {
        self.c_options()?;
        if user_size::<Block<I, Y, R, F>>() <= sys::COSTACK_POOLED_USER_SIZE as usize {
            self.build_in_place(body)
        } else {
            // Too large to stay with a pooled coroutine: boxed, so that the
            // block holds a pointer and the pool keeps small user data.
            let body = Box::new(body);
            self.build_in_place(move |y: &mut Yielder<I, Y>, input: I| body(y, input))
        }
    }

    /// The C core's options for these settings (no user data), after the
    /// checks of what the C core would not refuse itself (the maximums it
    /// checks): the errors [`build`](Builder::build) documents. Also used
    /// by [`Loop::spawn_with`](crate::Loop::spawn_with). Inline: called
    /// out of line, twice per create, it made every create return the
    /// options through memory (`docs/performance.md`).
    #[inline]
    pub(crate) fn c_options(&self) -> io::Result<sys::CostackOptions> {
        if self.stack_size.is_some_and(|n| n < Builder::MIN_STACK_SIZE) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "costack: stack size below Builder::MIN_STACK_SIZE (32 KiB)",
            ));
        }
        if self.guard_size == Some(0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "costack: guard size 0 (a stack always has a guard, at least one page)",
            ));
        }
        // SAFETY: `CostackOptions` is plain C data (sizes and flags), for
        // which all-zero bytes are valid and mean the defaults, as the C API
        // asks. The flags stay 0: Rust code never changes the
        // floating-point control state.
        let mut options: sys::CostackOptions = unsafe { std::mem::zeroed() };
        // `None` becomes 0, the C core's default.
        options.stack_size = self.stack_size.unwrap_or(0);
        options.guard_size = self.guard_size.unwrap_or(0);
        Ok(options)
    }

    /// `build`, after the checks, with the closure in the block.
    fn build_in_place<I, Y, R, F>(self, body: F) -> io::Result<Coroutine<I, Y, R>>
    where
        F: FnOnce(&mut Yielder<I, Y>, I) -> R + 'static,
    {
        let mut options = self.c_options()?;
        options.user_size = user_size::<Block<I, Y, R, F>>();
        // SAFETY: the trampoline gets its block (in the user data, written
        // below, before anything can enter the coroutine) from the first
        // `resume`; the opaque is unused.
        let co = unsafe {
            sys::costack_create_with(Some(trampoline::<I, Y, R, F>), ptr::null_mut(), &options)
        };
        if co.is_null() {
            // `body` is dropped after errno is read.
            return Err(crate::errno::last_error());
        }
        // SAFETY: `co` is a fresh, valid coroutine, created with
        // `user_size::<Block<..>>()` bytes of user data (not 0, so not
        // null), which `block_in` places the block in; nothing else uses
        // them until the coroutine is entered (invariant 2), and they stay
        // until it ends or is destroyed (invariant 3). The user data is
        // uninitialised: `write` drops nothing.
        let (block, stack_size) = unsafe {
            let block = block_in::<Block<I, Y, R, F>>(sys::costack_user_data(co));
            ptr::write(
                block,
                Block {
                    header: Header {
                        link: Link {
                            unwinding: false,
                            resumer_panicking: false,
                            input: Incoming::Empty,
                            output: None,
                        },
                        outcome: NonNull::dangling(),
                        discard: discard::<I, Y, R, F>,
                    },
                    body: ManuallyDrop::new(body),
                },
            );
            let stack_size = match self.stack_size {
                // The default, 1 MiB, is a multiple of every page size, so
                // the C core keeps it as it is.
                None => sys::COSTACK_DEFAULT_STACK_SIZE as usize,
                Some(_) => sys::costack_stack_size(co),
            };
            (block, stack_size)
        };
        Ok(Coroutine {
            co,
            // SAFETY: in the user data, which is not null (above).
            header: unsafe { NonNull::new_unchecked(block.cast()) },
            state: State::New,
            stack_size,
            _input: PhantomData,
            _output: PhantomData,
            _not_send: PhantomData,
        })
    }
}

impl<I, Y, R> Coroutine<I, Y, R> {
    /// Creates a coroutine with the default 1 MiB stack that will run `body`
    /// when first resumed. The closure gets the coroutine's [`Yielder`] and
    /// the first resume's input; what it returns is the last
    /// [`Step::Return`].
    ///
    /// # Panics
    ///
    /// If the C core cannot create it (out of memory or mappings); use
    /// [`Builder::build`] to get an error instead.
    ///
    /// ```
    /// let mut co = costack::Coroutine::new(|_y: &mut costack::Yielder<i32, ()>, x: i32| x * 2);
    /// assert_eq!(co.resume(&mut costack::lock(), 21), costack::Step::Return(42));
    /// ```
    pub fn new<F>(body: F) -> Coroutine<I, Y, R>
    where
        F: FnOnce(&mut Yielder<I, Y>, I) -> R + 'static,
    {
        match Builder::new().build(body) {
            Ok(co) => co,
            Err(e) => panic!("costack: cannot create a coroutine: {e}"),
        }
    }

    /// Runs the coroutine until it suspends or returns, passing it `input`,
    /// and gives back what it passed out.
    ///
    /// `proof` shows that this thread holds the global mutex: a
    /// [`Guard`](crate::Guard), or inside a coroutine, its [`Yielder`]
    /// (coroutines nest). It is borrowed mutably, so no
    /// [`GlobalCell`](crate::GlobalCell) borrow made with it survives the
    /// call.
    ///
    /// # Panics
    ///
    /// - If the coroutine panicked: with the same payload, and the coroutine
    ///   is finished.
    /// - If it is already finished.
    ///
    /// ```
    /// use costack::{Coroutine, Step, Yielder};
    ///
    /// let mut guard = costack::lock();
    /// let mut outer = Coroutine::new(|y: &mut Yielder<(), &'static str>, ()| {
    ///     let mut inner = Coroutine::new(|_: &mut Yielder<(), ()>, ()| "inner done");
    ///     // Nested resume: the outer coroutine's yielder is the proof.
    ///     let Step::Return(msg) = inner.resume(y, ()) else { unreachable!() };
    ///     y.suspend(msg);
    /// });
    /// assert_eq!(outer.resume(&mut guard, ()), Step::Yield("inner done"));
    /// assert_eq!(outer.resume(&mut guard, ()), Step::Return(()));
    ///
    /// let mut bad = Coroutine::new(|_: &mut Yielder<(), ()>, ()| -> () { panic!("boom") });
    /// let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    ///     bad.resume(&mut guard, ())
    /// }))
    /// .unwrap_err();
    /// assert_eq!(err.downcast_ref::<&str>(), Some(&"boom"));
    /// assert!(bad.is_finished());
    /// ```
    #[inline]
    pub fn resume(&mut self, proof: &mut impl Proof, input: I) -> Step<Y, R> {
        match self.enter(proof, Some(input)) {
            Some(step) => step,
            None => die(
                "costack: a Rust coroutine switched back without suspend or return \
                 (costack_yield called directly on it, or it waited in costack_wait, \
                 which only a coroutine driven by a loop or as a future may do)",
            ),
        }
    }

    /// `resume` for the async bridge ([`crate::future`]): `input` is `None`
    /// when the coroutine waits in `costack_wait` (it took no input there)
    /// and was woken; the result is `None` when the coroutine went back to
    /// `costack_wait` (or `costack_yield`) instead of suspending or
    /// returning. A new coroutine must get an input.
    #[inline]
    pub(crate) fn enter(&mut self, proof: &mut impl Proof, input: Option<I>) -> Option<Step<Y, R>> {
        let _ = proof;
        let h = self.header.as_ptr();
        if self.state != State::Started {
            self.first_resume();
        }
        let mut outcome: Outcome<R> = None;
        // SAFETY: not finished, so `h` is our live block (invariant 3); no
        // reference into it exists, and the coroutine is not running
        // (invariant 6), so nobody else touches it until we enter. The
        // coroutine took the previous input (`Empty` now): `write` drops
        // nothing.
        unsafe {
            if let Some(input) = input {
                ptr::write(ptr::addr_of_mut!((*h).link.input), Incoming::Value(input));
            }
            (*h).link.resumer_panicking = std::thread::panicking();
            (*h).outcome = NonNull::from(&mut outcome);
        }
        // SAFETY: `co` is valid while not finished, and suspended or new
        // (invariant 6), or woken from `costack_wait` (the bridge's case);
        // the thread holds the global mutex (`proof`, invariant 1).
        unsafe { sys::costack_enter(self.co) };
        // Back: the coroutine finished (the outcome, written through the
        // pointer in the block) or suspended (its output, in the block).
        match outcome {
            None => {}
            Some(Ok(r)) => {
                self.state = State::Finished;
                return Some(Step::Return(r));
            }
            Some(Err(payload)) => {
                self.state = State::Finished;
                panic::resume_unwind(payload);
            }
        }
        // SAFETY: not finished, so the block is still live (invariant 3),
        // and the coroutine is suspended, not touching it (invariant 2).
        unsafe { (*h).link.output.take() }.map(Step::Yield)
    }

    /// What `resume` does first when the coroutine is not `Started`: panics
    /// if it is finished; if it is new, hands the block to the trampoline
    /// (`FIRST_ENTRY`), which the enter that follows runs, and marks it
    /// started.
    #[inline]
    fn first_resume(&mut self) {
        if self.state == State::Finished {
            finished();
        }
        FIRST_ENTRY.set(self.header.as_ptr().cast());
        self.state = State::Started;
    }

    /// Whether the coroutine has returned or panicked (resuming it panics).
    ///
    /// ```
    /// let mut co = costack::Coroutine::new(|_: &mut costack::Yielder<(), ()>, ()| ());
    /// assert!(!co.is_finished());
    /// co.resume(&mut costack::lock(), ());
    /// assert!(co.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.state() == State::Finished
    }

    /// Whether the coroutine has been resumed at least once.
    ///
    /// ```
    /// let mut co = costack::Coroutine::new(|y: &mut costack::Yielder<(), ()>, ()| y.suspend(()));
    /// assert!(!co.is_started());
    /// co.resume(&mut costack::lock(), ());
    /// assert!(co.is_started());
    /// ```
    pub fn is_started(&self) -> bool {
        self.state() != State::New
    }

    /// The usable size of the coroutine's stack in bytes (without the guard
    /// page).
    ///
    /// ```
    /// let co = costack::Coroutine::new(|_: &mut costack::Yielder<(), ()>, ()| ());
    /// assert_eq!(co.stack_size(), 1 << 20);
    /// ```
    pub fn stack_size(&self) -> usize {
        self.stack_size
    }

    /// How deep the coroutine's stack has been used so far, in bytes from
    /// its top (whole pages), for choosing stack sizes from measurements;
    /// `None` once the coroutine has finished (its stack went back to the
    /// pool), so measure before its last resume.
    ///
    /// It is the lowest page of the stack that the system has backed with
    /// memory (which costs nothing at resume or suspend, and a system call
    /// or so here). A stack reused from the pool also counts what earlier
    /// coroutines on it used (for one coroutine's own use, create it with
    /// the pool disabled: [`set_pool_max(0)`](crate::set_pool_max)); see
    /// `costack_stack_high_water` in `include/costack.h` for this and the
    /// other caveats.
    ///
    /// ```
    /// use costack::{Builder, Yielder};
    ///
    /// let mut co = Builder::new()
    ///     .stack_size(256 << 10)
    ///     .build(|y: &mut Yielder<(), ()>, ()| {
    ///         let buf = [1u8; 100 << 10]; // 100 KiB on the stack
    ///         std::hint::black_box(&buf);
    ///         y.suspend(());
    ///     })
    ///     .unwrap();
    /// co.resume(&mut costack::lock(), ());
    /// let used = co.stack_high_water().unwrap();
    /// assert!(used >= 100 << 10 && used <= co.stack_size());
    /// co.resume(&mut costack::lock(), ());
    /// assert_eq!(co.stack_high_water(), None);
    /// ```
    pub fn stack_high_water(&self) -> Option<usize> {
        let co = self.as_raw();
        if co.is_null() {
            return None;
        }
        // SAFETY: `co` is this coroutine's C object, not released (the
        // coroutine has not finished) and not running a switch now (`&self`
        // cannot coexist with `resume`'s `&mut self`); the call only reads
        // its state and asks the system about its stack.
        Some(unsafe { sys::costack_stack_high_water(co) })
    }

    /// The underlying C coroutine, for comparing with
    /// [`sys::costack_self`] and the like; null
    /// once the coroutine is finished (the C core has released it).
    ///
    /// Do not enter, yield or destroy it through [`sys`]: a Rust
    /// coroutine is driven only through `resume` and `suspend`.
    ///
    /// ```
    /// use costack::{sys, Coroutine, Step, Yielder};
    ///
    /// let mut guard = costack::lock();
    /// let mut co = Coroutine::new(|y: &mut Yielder<(), usize>, ()| {
    ///     // SAFETY: costack_self only reads this thread's costack state.
    ///     y.suspend(unsafe { sys::costack_self() } as usize);
    /// });
    /// let raw = co.as_raw();
    /// assert_eq!(co.resume(&mut guard, ()), Step::Yield(raw as usize));
    /// co.resume(&mut guard, ());
    /// assert!(co.as_raw().is_null());
    /// ```
    pub fn as_raw(&self) -> *mut sys::CostackCoroutine {
        if self.is_finished() {
            ptr::null_mut()
        } else {
            self.co
        }
    }

    /// Makes the coroutine `Send`, so it can be resumed (and dropped) on
    /// another thread.
    ///
    /// # Safety
    ///
    /// Whenever the coroutine is suspended, nothing on its stack may be tied
    /// to the thread it runs on: no reference into a `thread_local!`, no
    /// `Rc`, `MutexGuard` or other value that must stay on its thread, and
    /// no pointer whose validity depends on the thread. The closure and its
    /// captures count too. (`I`, `Y` and `R` are checked: they must be
    /// `Send` for the result to be.)
    ///
    /// ```
    /// use costack::{Coroutine, Step, Yielder};
    ///
    /// let co = Coroutine::new(|y: &mut Yielder<u32, u32>, x: u32| y.suspend(x + 1) * 2);
    /// // SAFETY: the coroutine holds only integers across its suspend.
    /// let mut co = unsafe { co.into_send() };
    /// assert_eq!(co.resume(&mut costack::lock(), 1), Step::Yield(2));
    /// let out = std::thread::spawn(move || co.resume(&mut costack::lock(), 5))
    ///     .join()
    ///     .unwrap();
    /// assert_eq!(out, Step::Return(10));
    /// ```
    pub unsafe fn into_send(self) -> SendCoroutine<I, Y, R> {
        SendCoroutine(self)
    }

    fn state(&self) -> State {
        self.state
    }
}

impl<I, Y, R> Drop for Coroutine<I, Y, R> {
    /// Drops the coroutine. A suspended one is resumed one last time to
    /// unwind its stack, so its destructors run (under the global mutex,
    /// which the drop takes for that if this thread does not hold it), and
    /// its stack goes back to the pool. A coroutine that catches that unwind
    /// and goes on aborts the process, and so does one whose destructor
    /// suspends during it (see [`Yielder::suspend`]).
    ///
    /// The unwind is a panic as far as the code on the coroutine's stack can
    /// tell (with a private payload, and no panic hook runs):
    /// `std::thread::panicking()` is true in its destructors, a destructor
    /// that panics aborts the process, and a `std::sync::Mutex` (or
    /// `RwLock`) whose guard the coroutine held across the suspend is left
    /// **poisoned**. That is on purpose: poisoning reports a critical section
    /// that was abandoned, and a coroutine dropped while it holds a guard
    /// abandons one at its suspend point, possibly in the middle of an
    /// update it meant to finish after the suspend (locked, changed half,
    /// waited for I/O); nothing tells a finished update from a half-done
    /// one, so the mutex cannot soundly be left looking clean. Release such
    /// guards before suspending (holding one across a suspend also
    /// deadlocks any other coroutine that locks the mutex meanwhile: the
    /// holder cannot run to release it), or recover the data with
    /// `PoisonError::into_inner`.
    ///
    /// # Under `panic = "abort"`
    ///
    /// A program built with `panic = "abort"` cannot unwind, so a suspended
    /// coroutine's drop **leaks it** instead: its stack and its C coroutine
    /// (which holds the wrapper's state) stay allocated (counted as
    /// [`live`](crate::Stats::live) by [`stats`](crate::stats)), nothing on
    /// its stack is dropped, and it never runs again. The first such drop in
    /// the process says so on stderr, in one line starting `costack:`; later
    /// ones are silent. A coroutine that was never resumed, or that has
    /// finished, is freed as usual. To free a suspended coroutine's stack
    /// under `panic = "abort"`, resume it until it returns.
    ///
    /// ```
    /// use costack::{Coroutine, Yielder};
    /// use std::{cell::Cell, rc::Rc};
    ///
    /// struct CountDrop(Rc<Cell<u32>>);
    /// impl Drop for CountDrop {
    ///     fn drop(&mut self) {
    ///         self.0.set(self.0.get() + 1);
    ///     }
    /// }
    ///
    /// let drops = Rc::new(Cell::new(0));
    /// let counter = CountDrop(drops.clone());
    /// let mut co = Coroutine::new(move |y: &mut Yielder<(), ()>, ()| {
    ///     let _counter = counter; // now on the coroutine's stack
    ///     y.suspend(());
    ///     unreachable!("never resumed");
    /// });
    /// co.resume(&mut costack::lock(), ());
    /// assert_eq!(drops.get(), 0);
    /// drop(co); // takes the lock (not held here) and unwinds the coroutine
    /// assert_eq!(drops.get(), 1);
    /// ```
    #[inline]
    fn drop(&mut self) {
        let h = self.header.as_ptr();
        match self.state {
            // SAFETY: never entered, so `co` is valid and its block, made by
            // `build_in_place` with the `discard` it names, still holds the
            // closure; nothing runs on the coroutine's stack, and neither is
            // used again (invariant 3).
            State::New => unsafe { ((*h).discard)(self.co, h.cast()) },
            // SAFETY: started and not finished, so suspended (invariant 6):
            // `co` and the block are live (invariant 3), and no reference
            // into the block exists (invariant 2).
            #[cfg(not(panic = "abort"))]
            State::Started => unsafe { force_unwind(h, self.co) },
            #[cfg(panic = "abort")]
            State::Started => leak_suspended(),
            State::Finished => {}
        }
    }
}

/// What drop does with a suspended coroutine where nothing can unwind:
/// nothing, but say so, once per process. The C coroutine stays allocated
/// with its block, as `mem::forget` would leave it (invariant 3): the
/// suspended stack still points into the block, and neither is used again.
#[cfg(panic = "abort")]
fn leak_suspended() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static REPORTED: AtomicBool = AtomicBool::new(false);
    if !REPORTED.swap(true, Ordering::Relaxed) {
        crate::abort::report(
            "costack: a suspended coroutine was dropped in a program built with \
             panic = \"abort\", where its stack cannot be unwound: it is leaked (its \
             stack stays allocated, its destructors do not run), as is every \
             suspended coroutine dropped after it; this is said once per process",
        );
    }
}

/// Runs a suspended coroutine to its end by unwinding its stack.
///
/// # Safety
///
/// `co` is a suspended Rust coroutine, `h` the head of its live block
/// (invariant 3), and no reference into the block exists. Neither is used
/// afterwards: the coroutine ends (or the process aborts).
#[cfg(not(panic = "abort"))]
#[inline(never)]
unsafe fn force_unwind<I, Y, R>(h: *mut Header<I, Y, R>, co: *mut sys::CostackCoroutine) {
    let _guard = if crate::lock_held() {
        None
    } else {
        Some(crate::lock())
    };
    let mut outcome: Outcome<R> = None;
    // SAFETY: `h` is live and nothing else touches it: the coroutine is
    // suspended (the caller's contract) and touches the block only once
    // entered. It took its last input, so `input` is `Empty` and writing over
    // it drops nothing.
    unsafe {
        (*h).link.unwinding = true;
        (*h).link.resumer_panicking = std::thread::panicking();
        ptr::write(ptr::addr_of_mut!((*h).link.input), Incoming::Unwind);
        (*h).outcome = NonNull::from(&mut outcome);
    }
    // SAFETY: `co` is valid and enterable: the coroutine is suspended, not
    // finished, so the C core has not released it. This thread holds the
    // global mutex, taken above if it was not held (invariant 1).
    unsafe { sys::costack_enter(co) };
    // The trampoline finished it (its outcome is the `ForcedUnwind`
    // payload), or aborted. No outcome means the coroutine caught the unwind
    // and suspended again. The block is not read: if the coroutine finished,
    // the C core released it.
    if outcome.is_none() {
        die(
            "costack: a coroutine being dropped caught the unwind that drops it \
             and suspended again",
        );
    }
}

/// `Header::discard` for a block made by `build_in_place` with these `I`,
/// `Y`, `R`, `F`: releases a coroutine that never ran, and drops its
/// closure.
///
/// # Safety
///
/// `co` is a coroutine that was never entered, `block` the address of its
/// block, which still holds the closure; neither is used afterwards.
unsafe fn discard<I, Y, R, F>(co: *mut sys::CostackCoroutine, block: *mut ()) {
    // SAFETY: the closure is in the block (the caller's contract) and is
    // moved out exactly once, here. Then the C coroutine, which never ran
    // and so has nothing on its stack, goes back to the pool with the block,
    // before the closure is dropped: its destructor may create coroutines,
    // which may reuse that very user data.
    let body = unsafe {
        let block = block.cast::<Block<I, Y, R, F>>();
        let body = ManuallyDrop::take(&mut *ptr::addr_of_mut!((*block).body));
        sys::costack_destroy(co);
        body
    };
    drop(body);
}

/// The entry function of every Rust coroutine: runs the closure in the
/// block in the coroutine's user data and records how it ended.
///
/// # Safety
///
/// Called by the C core only, at the first entry of the coroutine that
/// `build_in_place` made for this `trampoline::<I, Y, R, F>`, which placed
/// its block in the coroutine's user data; that entry is made by `resume`,
/// which hands over the block's address in `FIRST_ENTRY`.
unsafe extern "C" fn trampoline<I, Y, R, F>(_opaque: *mut c_void)
where
    F: FnOnce(&mut Yielder<I, Y>, I) -> R,
{
    let block = FIRST_ENTRY.replace(ptr::null_mut());
    if block.is_null() {
        die("costack: a Rust coroutine was entered for the first time, but not by resume");
    }
    // SAFETY: `resume` entered us (`FIRST_ENTRY` is set only there, right
    // before its enter of a new coroutine, and the C core runs the entry
    // function at the first enter), so `block` is the block in our user
    // data, which `build_in_place` wrote, of this very type (the caller's
    // contract); it outlives this function (invariant 3). Its owner waits in `costack_enter` and touches nothing
    // until we switch back (invariant 2). This is the first entry (the
    // owner's state went from `New` to `Started` before it), so the closure
    // is still in the block: it is taken out exactly once, here, and
    // `discard` will not run.
    let (h, link, body, incoming) = unsafe {
        let block = block.cast::<Block<I, Y, R, F>>();
        let h = ptr::addr_of_mut!((*block).header);
        let body = ManuallyDrop::take(&mut *ptr::addr_of_mut!((*block).body));
        let link = ptr::addr_of_mut!((*h).link);
        let incoming = ptr::replace(ptr::addr_of_mut!((*link).input), Incoming::Empty);
        (h, link, body, incoming)
    };
    let input = match incoming {
        Incoming::Value(input) => input,
        _ => die("costack: a Rust coroutine was entered without input"),
    };
    let mut yielder = Yielder {
        // SAFETY: `link` points into the user data, which is not null.
        link: unsafe { NonNull::new_unchecked(link) },
        _input: PhantomData,
        _output: PhantomData,
        _not_send: PhantomData,
    };
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| body(&mut yielder, input)));
    // From here on nothing may panic (invariant 4).
    // SAFETY: the block is live and ours alone, as at the start: the owner
    // waits in `costack_enter` (from `resume` or `force_unwind`), and the
    // closure, the only user of the yielder, has ended.
    if unsafe { (*link).unwinding } {
        match outcome {
            Err(ref payload) if payload.is::<ForcedUnwind>() => {}
            Err(payload) => {
                std::mem::forget(payload);
                die(
                    "costack: a coroutine being dropped caught the unwind that drops it \
                     and panicked with something else",
                );
            }
            Ok(value) => {
                std::mem::forget(value);
                die(
                    "costack: a coroutine being dropped caught the unwind that drops it \
                     and returned normally",
                );
            }
        }
    }
    // SAFETY: the block is live, as above, and `outcome` points to the slot
    // of the `resume` or `force_unwind` that entered us last, in its frame,
    // which waits in `costack_enter` (invariant 2); the slot is `None` (only
    // this line fills it), so `write` drops nothing. This is the last use of
    // the block: we return to the C core, which releases it with the
    // coroutine before switching back.
    unsafe { ptr::write((*h).outcome.as_ptr(), Some(outcome)) };
}

impl<I, Y> Yielder<I, Y> {
    /// Suspends the coroutine, passing `value` out to the caller of
    /// [`resume`](Coroutine::resume); returns the input of the next resume.
    ///
    /// Borrows the yielder mutably, so no [`GlobalCell`](crate::GlobalCell)
    /// borrow made with it lives across the switch.
    ///
    /// If the coroutine is dropped while suspended here, this does not
    /// return: it unwinds the coroutine's stack with a private panic
    /// payload. Do not catch that (or if you catch every panic, re-raise
    /// the ones you do not know with `resume_unwind`): a coroutine that goes
    /// on aborts the process.
    ///
    /// Suspending while the coroutine's own stack unwinds (from a
    /// destructor, during a panic of the coroutine or the unwind of its
    /// drop) aborts the process with a message starting `costack:`: an
    /// unwind cannot be suspended (the panic in progress belongs to the
    /// thread, which the resumer would then run on as a panicking thread).
    /// A destructor that may suspend should not when
    /// `std::thread::panicking()` is true. Suspending is fine in a
    /// coroutine resumed by a destructor while the resumer's thread unwinds:
    /// that unwind is not the coroutine's.
    ///
    /// ```
    /// use costack::{Coroutine, Step, Yielder};
    ///
    /// let mut guard = costack::lock();
    /// let mut echo = Coroutine::new(|y: &mut Yielder<String, String>, mut s: String| loop {
    ///     s = y.suspend(s.to_uppercase());
    /// });
    /// assert_eq!(echo.resume(&mut guard, "a".into()), Step::Yield("A".to_string()));
    /// assert_eq!(echo.resume(&mut guard, "b".into()), Step::Yield("B".to_string()));
    /// ```
    #[inline]
    pub fn suspend(&mut self, value: Y) -> I {
        let link = self.link.as_ptr();
        // SAFETY: the yielder exists only while its coroutine runs, and the
        // block outlives the coroutine (invariant 3); accesses alternate
        // with the caller's (invariant 2).
        unsafe {
            // The coroutine's own stack unwinds (so a destructor suspends):
            // the forced unwind of its drop, or a panic that started in it
            // (the thread unwinds, and did not when it was entered).
            if std::thread::panicking() && ((*link).unwinding || !(*link).resumer_panicking) {
                suspend_while_unwinding();
            }
            // The caller took the previous output (`None` now): write
            // without dropping.
            ptr::write(ptr::addr_of_mut!((*link).output), Some(value));
            // SAFETY (yield): we run inside this coroutine, entered by
            // `resume` (or `force_unwind`), which waits for us. A coroutine
            // that caught its forced unwind and suspends again lands in
            // `force_unwind`, which aborts.
            sys::costack_yield();
            match ptr::replace(ptr::addr_of_mut!((*link).input), Incoming::Empty) {
                Incoming::Value(input) => input,
                Incoming::Unwind => panic::resume_unwind(Box::new(ForcedUnwind)),
                Incoming::Empty => die("costack: a Rust coroutine was entered without input"),
            }
        }
    }
}

/// Ends the process when a coroutine suspends while its own stack unwinds
/// (a destructor called `suspend` during a panic of the coroutine, or
/// during the forced unwind of its drop).
///
/// An unwind cannot be suspended. The panic in progress is counted per
/// thread, not per coroutine: the resumer would go on as a panicking thread
/// (`thread::panicking()` true, every `MutexGuard` it drops poisoning its
/// mutex), and the thread that later finishes the unwind would have its
/// count taken down for a panic it never started; dropping the coroutine
/// instead would start a second unwind out of the destructor, which Rust
/// aborts as a panic during cleanup without saying why.
#[cold]
#[inline(never)]
fn suspend_while_unwinding() -> ! {
    die(
        "costack: a coroutine suspended while its stack was unwinding (a destructor \
         called Yielder::suspend during a panic, or while the coroutine was being \
         dropped); an unwind cannot be suspended, so the process aborts. A destructor \
         that may suspend must not do so when std::thread::panicking() is true",
    )
}

impl<I, Y> std::fmt::Debug for Yielder<I, Y> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Yielder")
    }
}

impl<I, Y, R> std::fmt::Debug for Coroutine<I, Y, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coroutine")
            .field("state", &self.state())
            .field("stack_size", &self.stack_size())
            .finish()
    }
}

#[cold]
#[inline(never)]
fn finished() -> ! {
    panic!("costack: resume of a finished coroutine (it returned or panicked)")
}

/// A [`Coroutine`] that may move to another thread; made by the `unsafe`
/// [`Coroutine::into_send`], whose contract it carries. Derefs to the
/// coroutine.
///
/// ```
/// use costack::{Coroutine, Step, Yielder};
///
/// let co = Coroutine::new(|_: &mut Yielder<(), ()>, ()| 1u8);
/// // SAFETY: the coroutine never suspends.
/// let mut co: costack::SendCoroutine<(), (), u8> = unsafe { co.into_send() };
/// let r = std::thread::spawn(move || co.resume(&mut costack::lock(), ())).join().unwrap();
/// assert_eq!(r, Step::Return(1));
/// ```
pub struct SendCoroutine<I, Y, R>(
    // Variance is the coroutine's; only `Send` differs (the `unsafe impl`
    // below).
    Coroutine<I, Y, R>,
);

// SAFETY: the contract of `into_send`: nothing the coroutine holds across a
// suspend is tied to its thread; the values that cross are `Send`. The C
// core supports entering a coroutine from another thread (it reads its
// thread state afresh after each switch), and `resume` still demands the
// new thread's proof.
unsafe impl<I: Send, Y: Send, R: Send> Send for SendCoroutine<I, Y, R> {}

impl<I, Y, R> SendCoroutine<I, Y, R> {
    /// The coroutine, no longer `Send`.
    ///
    /// ```
    /// let co = costack::Coroutine::new(|_: &mut costack::Yielder<(), ()>, ()| ());
    /// // SAFETY: the coroutine never suspends.
    /// let co: costack::Coroutine<(), (), ()> = unsafe { co.into_send() }.into_inner();
    /// # drop(co);
    /// ```
    pub fn into_inner(self) -> Coroutine<I, Y, R> {
        self.0
    }
}

impl<I, Y, R> Deref for SendCoroutine<I, Y, R> {
    type Target = Coroutine<I, Y, R>;
    fn deref(&self) -> &Coroutine<I, Y, R> {
        &self.0
    }
}

impl<I, Y, R> DerefMut for SendCoroutine<I, Y, R> {
    fn deref_mut(&mut self) -> &mut Coroutine<I, Y, R> {
        &mut self.0
    }
}

impl<I, Y, R> std::fmt::Debug for SendCoroutine<I, Y, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Whether the calling code runs inside a coroutine (a Rust one or one made
/// through the C API).
///
/// ```
/// use costack::{in_coroutine, Coroutine, Step, Yielder};
///
/// assert!(!in_coroutine());
/// let mut co = Coroutine::new(|_: &mut Yielder<(), ()>, ()| in_coroutine());
/// assert_eq!(co.resume(&mut costack::lock(), ()), Step::Return(true));
/// ```
pub fn in_coroutine() -> bool {
    // SAFETY: `costack_in_coroutine` only reads the calling thread's costack
    // state (made on first use); any thread, any time.
    unsafe { sys::costack_in_coroutine() != 0 }
}
