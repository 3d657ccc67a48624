//! The C core's process-wide counters of coroutines and stacks
//! ([`stats`]), and the limit on the finished coroutines it keeps for reuse
//! ([`pool_max`], [`set_pool_max`]).
//!
//! A coroutine that finishes (its closure returned or panicked, or it was
//! dropped) goes, stack and all, to a pool from which the next creation
//! takes it, so creating a coroutine seldom maps a stack. The counts cover
//! every coroutine of the process, Rust ones and those made through
//! [`sys`], on every thread.

use crate::sys;

/// A snapshot of the C core's process-wide counters, from [`stats`].
///
/// Each field is read atomically, but not all at the same instant: while
/// other threads create and finish coroutines, the fields can be a moment
/// out of step with each other.
///
/// ```
/// let s = costack::stats();
/// assert_eq!(s.stacks_mapped, s.live + s.pooled);
/// println!("{s:?}");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Stats {
    /// Coroutines created and not yet finished or destroyed: running,
    /// suspended, or never resumed.
    pub live: usize,
    /// Finished coroutines kept, stack and all, for reuse by the next
    /// creation (at most [`pool_max`]).
    pub pooled: usize,
    /// Coroutine stacks currently allocated (of live and pooled
    /// coroutines). Each is a mapping of its own or, where the kernel has
    /// `MADV_GUARD_INSTALL` (Linux 6.13+), a slot carved from a larger
    /// mapping (a slab) shared with other stacks of the same size.
    pub stacks_mapped: usize,
    /// Bytes of address space those stacks occupy, guard pages included
    /// (reserved, not resident: see
    /// [`Coroutine::stack_high_water`](crate::Coroutine::stack_high_water)
    /// for what a stack actually uses).
    pub stack_bytes_mapped: usize,
    /// Bytes of address space the C core holds for stacks: the stacks'
    /// own plus slab slots that hold no stack and empty slabs kept for
    /// reuse ([`set_pool_max`] gives the empty slabs back). Reserved, not
    /// resident.
    pub stack_address_space: usize,
}

/// The C core's counters of coroutines and stacks, now, over the whole
/// process.
///
/// ```
/// use costack::{Coroutine, Yielder};
///
/// let before = costack::stats();
/// let mut co = Coroutine::new(|y: &mut Yielder<(), ()>, ()| y.suspend(()));
/// co.resume(&mut costack::lock(), ());
/// assert_eq!(costack::stats().live, before.live + 1); // suspended: live
/// drop(co); // unwinds it: finished, its stack pooled
/// assert_eq!(costack::stats().live, before.live);
/// ```
pub fn stats() -> Stats {
    let mut raw = sys::CostackStats {
        live: 0,
        pooled: 0,
        stacks_mapped: 0,
        stack_bytes_mapped: 0,
        stack_address_space: 0,
    };
    // SAFETY: `raw` is a valid, writable `CostackStats`, which the C
    // function only fills in; any thread, any time.
    unsafe { sys::costack_stats(&mut raw) };
    Stats {
        live: raw.live,
        pooled: raw.pooled,
        stacks_mapped: raw.stacks_mapped,
        stack_bytes_mapped: raw.stack_bytes_mapped,
        stack_address_space: raw.stack_address_space,
    }
}

/// The most finished coroutines kept for reuse, over all threads: the limit
/// set with [`set_pool_max`] (or the C core's default), after the cap
/// described there.
///
/// ```
/// costack::set_pool_max(16);
/// assert!(costack::pool_max() <= 16);
/// ```
pub fn pool_max() -> usize {
    // SAFETY: `costack_pool_max` only reads the limit (and works out the
    // platform's cap on first use); any thread, any time.
    unsafe { sys::costack_pool_max() }
}

/// Sets the most finished coroutines kept for reuse, over all threads (each
/// thread keeps a small batch of its own, the rest is shared). 0 disables
/// pooling: every finished coroutine's stack is freed.
///
/// Where every stack needs a kernel mapping of its own (Linux before 6.13,
/// or `COSTACK_NO_MADV_GUARD=1` in the environment), the limit in force is
/// also capped by the kernel's mapping limit (`vm.max_map_count`), as QEMU
/// does; stacks carved from slabs need none. [`pool_max`] gives the limit in
/// force.
///
/// Surplus coroutines of the shared pool and of the calling thread's batch
/// are freed at once; other threads' batches shrink when those threads next
/// finish a coroutine, or go to the shared pool when they exit.
///
/// ```
/// use costack::{Coroutine, Yielder};
///
/// costack::set_pool_max(0);
/// assert_eq!(costack::pool_max(), 0);
/// let mut co = Coroutine::new(|_: &mut Yielder<(), ()>, ()| ());
/// co.resume(&mut costack::lock(), ()); // finishes: its stack is freed
/// assert_eq!(costack::stats().pooled, 0);
/// ```
pub fn set_pool_max(max: usize) {
    // SAFETY: `costack_pool_set_max` takes any value, on any thread, at any
    // time; what it frees is finished coroutines in the pool, which nothing
    // refers to.
    unsafe { sys::costack_pool_set_max(max) }
}
