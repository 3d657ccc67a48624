//! [`GlobalCell`]: data shared between threads and coroutines, protected by
//! the global mutex instead of a lock of its own.
//!
//! In the spirit of QEMU's `BqlCell`/`BqlRefCell` (data protected by the
//! big QEMU lock), with the check moved to compile time where the types can
//! see it:
//!
//! - every access takes a [`Proof`] that the calling thread holds the
//!   global mutex, so two threads never touch the contents at once; that is
//!   why the cell is `Sync` for any `T: Send`;
//! - a borrow borrows the proof (shared), while
//!   [`Yielder::suspend`](crate::Yielder::suspend) and
//!   [`Coroutine::resume`](crate::Coroutine::resume) borrow it mutably: a
//!   borrow of the cell cannot be held across a switch, so another
//!   coroutine never finds the cell borrowed by a suspended one. Both are
//!   compile errors:
//!
//! ```compile_fail
//! use costack::{Coroutine, GlobalCell, Yielder};
//! static COUNT: GlobalCell<u32> = GlobalCell::new(0);
//! let _co = Coroutine::new(|y: &mut Yielder<(), ()>, ()| {
//!     let mut n = COUNT.borrow_mut(y);
//!     y.suspend(()); // error: `*y` is borrowed by `n`
//!     *n += 1;
//! });
//! ```
//!
//! - what the types cannot see is checked at run time, as `RefCell` does:
//!   overlapping borrows made with the same proof, and borrows made by
//!   destructors that run while a dropped coroutine unwinds (its `Drop`
//!   takes no proof). A conflicting borrow panics, except while the thread
//!   is unwinding (a destructor run by a panic, or by the drop of a
//!   suspended coroutine, borrows a cell that code further out still
//!   borrows): a panic there would escape a destructor during cleanup, which
//!   Rust turns into an abort that does not say why, so the conflict aborts
//!   at once with a message starting `costack:` that names it. Release such
//!   outer borrows before dropping a coroutine, or before code that may
//!   panic, when destructors on the way borrow the same cell.

use crate::abort::die;
use crate::mutex::Proof;
use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// A value shared by threads and coroutines, reachable only with a proof
/// that the caller holds the global mutex.
///
/// Can be a `static`. Borrows are checked as `RefCell`'s are, and cannot
/// outlive the proof they were made with (see the [module](crate::cell)).
///
/// ```
/// use costack::{Coroutine, GlobalCell, Step, Yielder};
///
/// static LOG: GlobalCell<Vec<&str>> = GlobalCell::new(Vec::new());
///
/// let mut guard = costack::lock();
/// let mut co = Coroutine::new(|y: &mut Yielder<(), ()>, ()| {
///     LOG.borrow_mut(y).push("coroutine: before suspend");
///     y.suspend(());
///     LOG.borrow_mut(y).push("coroutine: after suspend");
/// });
/// co.resume(&mut guard, ());
/// LOG.borrow_mut(&guard).push("caller");
/// co.resume(&mut guard, ());
/// assert_eq!(
///     *LOG.borrow(&guard),
///     ["coroutine: before suspend", "caller", "coroutine: after suspend"]
/// );
/// ```
pub struct GlobalCell<T: ?Sized> {
    /// 0: free; n > 0: n shared borrows; -1: borrowed mutably. Only touched
    /// with the global mutex held.
    borrows: Cell<isize>,
    /// Variance: invariant in `T`, as `RefCell<T>` is. Any holder of a proof
    /// can write through `&GlobalCell<T>` (`set`, `borrow_mut`): covariance
    /// would let code that sees a `GlobalCell<&'static str>` as a
    /// `GlobalCell<&'a str>` store a shorter borrow, and readers of the
    /// `'static` type find it dangling. (`value` is invariant too; the
    /// marker says it on its own.) A `Cell` marker, like `value`, is `Send`
    /// when `T` is and never `Sync`: `Sync` comes only from the `unsafe
    /// impl` below.
    _variance: PhantomData<Cell<T>>,
    value: UnsafeCell<T>,
}

// SAFETY: every access to `borrows` and `value` through `&GlobalCell` goes
// through a method that takes a `Proof`, so it happens on the one thread that
// holds the global mutex; the mutex orders the accesses of successive
// holders. The contents move between threads that way, hence `T: Send`; they
// are never touched by two threads at once, hence no `T: Sync`. The guards
// (`Ref`, `RefMut`) are neither Send nor Sync and borrow the proof, so they
// end before the mutex can be released.
unsafe impl<T: ?Sized + Send> Sync for GlobalCell<T> {}

impl<T> GlobalCell<T> {
    /// A cell holding `value`. `const`, so it can initialise a `static`.
    ///
    /// ```
    /// static COUNTER: costack::GlobalCell<u64> = costack::GlobalCell::new(0);
    /// let guard = costack::lock();
    /// COUNTER.set(&guard, COUNTER.get(&guard) + 1);
    /// ```
    pub const fn new(value: T) -> GlobalCell<T> {
        GlobalCell {
            borrows: Cell::new(0),
            _variance: PhantomData,
            value: UnsafeCell::new(value),
        }
    }

    /// The contents, consuming the cell (no proof needed: nobody else can
    /// reach it).
    ///
    /// ```
    /// let cell = costack::GlobalCell::new(String::from("x"));
    /// assert_eq!(cell.into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }

    /// Replaces the contents, returning the old value.
    ///
    /// # Panics
    ///
    /// If the cell is borrowed (aborts instead while the thread unwinds, as
    /// [`borrow_mut`](GlobalCell::borrow_mut) does).
    ///
    /// ```
    /// let cell = costack::GlobalCell::new(1);
    /// let guard = costack::lock();
    /// assert_eq!(cell.replace(&guard, 2), 1);
    /// assert_eq!(cell.get(&guard), 2);
    /// ```
    pub fn replace(&self, proof: &impl Proof, value: T) -> T {
        std::mem::replace(&mut *self.borrow_mut(proof), value)
    }

    /// Stores `value`, dropping the old contents.
    ///
    /// # Panics
    ///
    /// If the cell is borrowed (aborts instead while the thread unwinds, as
    /// [`borrow_mut`](GlobalCell::borrow_mut) does).
    ///
    /// ```
    /// let cell = costack::GlobalCell::new(1);
    /// let guard = costack::lock();
    /// cell.set(&guard, 5);
    /// assert_eq!(cell.get(&guard), 5);
    /// ```
    pub fn set(&self, proof: &impl Proof, value: T) {
        drop(self.replace(proof, value));
    }
}

impl<T: Copy> GlobalCell<T> {
    /// A copy of the contents.
    ///
    /// # Panics
    ///
    /// If the cell is borrowed mutably (aborts instead while the thread
    /// unwinds, as [`borrow`](GlobalCell::borrow) does).
    ///
    /// ```
    /// let cell = costack::GlobalCell::new(3);
    /// let guard = costack::lock();
    /// assert_eq!(cell.get(&guard), 3);
    /// ```
    pub fn get(&self, proof: &impl Proof) -> T {
        *self.borrow(proof)
    }
}

impl<T: ?Sized> GlobalCell<T> {
    /// Borrows the contents shared, for as long as `proof` stays borrowed.
    ///
    /// # Panics
    ///
    /// If the cell is borrowed mutably. While the thread unwinds (in a
    /// destructor run by a panic or by the drop of a coroutine), the
    /// process aborts instead, with a message starting `costack:` (see the
    /// [module](crate::cell)).
    ///
    /// ```
    /// let cell = costack::GlobalCell::new(vec![1, 2]);
    /// let guard = costack::lock();
    /// let (a, b) = (cell.borrow(&guard), cell.borrow(&guard));
    /// assert_eq!(a.len() + b.len(), 4);
    /// ```
    pub fn borrow<'a>(&'a self, _proof: &'a impl Proof) -> Ref<'a, T> {
        let n = self.borrows.get();
        if n < 0 {
            if std::thread::panicking() {
                die(
                    "costack: GlobalCell::borrow: the cell is already borrowed mutably, \
                     and this thread is unwinding (a destructor run by a panic or by the \
                     drop of a suspended coroutine borrowed a cell that code further out \
                     still borrows); a panic here cannot be recovered, so the process \
                     aborts. Release the outer borrow before dropping the coroutine or \
                     running code that may panic",
                );
            }
            panic!("costack::GlobalCell::borrow: already borrowed mutably");
        }
        self.borrows.set(n + 1);
        Ref {
            borrow: CellBorrow::new(self),
            _variance: PhantomData,
        }
    }

    /// Borrows the contents mutably, for as long as `proof` stays borrowed.
    ///
    /// # Panics
    ///
    /// If the cell is borrowed. While the thread unwinds (in a destructor run
    /// by a panic or by the drop of a coroutine), the process aborts
    /// instead, with a message starting `costack:` (see the
    /// [module](crate::cell)).
    ///
    /// ```
    /// let cell = costack::GlobalCell::new(vec![1]);
    /// let guard = costack::lock();
    /// cell.borrow_mut(&guard).push(2);
    /// assert_eq!(*cell.borrow(&guard), [1, 2]);
    /// ```
    pub fn borrow_mut<'a>(&'a self, _proof: &'a impl Proof) -> RefMut<'a, T> {
        if self.borrows.get() != 0 {
            if std::thread::panicking() {
                die(
                    "costack: GlobalCell::borrow_mut: the cell is already borrowed, and \
                     this thread is unwinding (a destructor run by a panic or by the drop \
                     of a suspended coroutine borrowed a cell that code further out still \
                     borrows); a panic here cannot be recovered, so the process aborts. \
                     Release the outer borrow before dropping the coroutine or running \
                     code that may panic",
                );
            }
            panic!("costack::GlobalCell::borrow_mut: already borrowed");
        }
        self.borrows.set(-1);
        RefMut {
            borrow: CellBorrow::new(self),
            _variance: PhantomData,
        }
    }

    /// The contents, through exclusive access to the cell (no proof needed:
    /// `&mut self` already shows nobody else can reach it).
    ///
    /// ```
    /// let mut cell = costack::GlobalCell::new(1);
    /// *cell.get_mut() += 1;
    /// assert_eq!(cell.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: Default> Default for GlobalCell<T> {
    /// A cell holding `T::default()`.
    ///
    /// ```
    /// let cell: costack::GlobalCell<u8> = Default::default();
    /// assert_eq!(cell.into_inner(), 0);
    /// ```
    fn default() -> Self {
        GlobalCell::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for GlobalCell<T> {
    /// Shows no contents (that would need the proof).
    ///
    /// ```
    /// assert_eq!(format!("{:?}", costack::GlobalCell::new(1)), "GlobalCell { .. }");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GlobalCell { .. }")
    }
}

/// What [`Ref`] and [`RefMut`] hold: the contents, and the borrow count
/// they are counted in.
struct CellBorrow<'a, T: ?Sized> {
    value: NonNull<T>,
    borrows: &'a Cell<isize>,
    /// Neither `Send` nor `Sync`: dropping a borrow updates the cell's
    /// count and dereferencing it reads the contents, which only the thread
    /// that holds the global mutex may do (the cell asks only `T: Send`, so
    /// the contents may not bear reads from two threads at once).
    _not_send: PhantomData<*mut ()>,
}

impl<'a, T: ?Sized> CellBorrow<'a, T> {
    /// A borrow of `cell`'s contents, which the caller has counted.
    fn new(cell: &'a GlobalCell<T>) -> CellBorrow<'a, T> {
        CellBorrow {
            // SAFETY: `UnsafeCell::get` gives the address of the contents,
            // derived from a reference, so never null.
            value: unsafe { NonNull::new_unchecked(cell.value.get()) },
            borrows: &cell.borrows,
            _not_send: PhantomData,
        }
    }
}

/// A shared borrow of a [`GlobalCell`]'s contents.
///
/// ```
/// let cell = costack::GlobalCell::new(String::from("hi"));
/// let guard = costack::lock();
/// let r: costack::Ref<'_, String> = cell.borrow(&guard);
/// assert_eq!(r.len(), 2);
/// ```
pub struct Ref<'a, T: ?Sized> {
    /// Makes `Ref` neither `Send` nor `Sync` (see `CellBorrow`).
    borrow: CellBorrow<'a, T>,
    /// Variance: covariant in `'a` and `T`, as `&'a T` is: a `Ref` only
    /// reads the contents, so a shorter borrow or a less precise type is
    /// always fine.
    _variance: PhantomData<&'a T>,
}

impl<T: ?Sized> Deref for Ref<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the borrow count keeps `RefMut`s away while this `Ref`
        // lives, and the cell outlives `'a`.
        unsafe { self.borrow.value.as_ref() }
    }
}

impl<T: ?Sized> Drop for Ref<'_, T> {
    fn drop(&mut self) {
        let borrows = self.borrow.borrows;
        borrows.set(borrows.get() - 1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// A mutable borrow of a [`GlobalCell`]'s contents.
///
/// ```
/// let cell = costack::GlobalCell::new(1);
/// let guard = costack::lock();
/// let mut r: costack::RefMut<'_, i32> = cell.borrow_mut(&guard);
/// *r += 1;
/// assert_eq!(*r, 2);
/// ```
pub struct RefMut<'a, T: ?Sized> {
    /// Makes `RefMut` neither `Send` nor `Sync` (see `CellBorrow`).
    borrow: CellBorrow<'a, T>,
    /// Variance: covariant in `'a`, invariant in `T`, as `&'a mut T` is: a
    /// `RefMut` writes the contents, so seeing a `RefMut<&'static str>` as
    /// a `RefMut<&'b str>` would let it store a shorter borrow into a cell
    /// of `&'static str`.
    _variance: PhantomData<&'a mut T>,
}

impl<T: ?Sized> Deref for RefMut<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the borrow count (-1) keeps every other borrow away while
        // this `RefMut` lives, and the cell outlives `'a`.
        unsafe { self.borrow.value.as_ref() }
    }
}

impl<T: ?Sized> DerefMut for RefMut<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only use.
        unsafe { self.borrow.value.as_mut() }
    }
}

impl<T: ?Sized> Drop for RefMut<'_, T> {
    fn drop(&mut self) {
        self.borrow.borrows.set(0);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RefMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
