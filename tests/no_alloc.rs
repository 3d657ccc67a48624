//! A resume + suspend round trip allocates nothing; neither does creating,
//! running and dropping a coroutine whose stack comes from the C core's
//! pool (its block lives in the pooled coroutine's user data), unless its
//! closure is too large for that (then the closure is boxed).
//! Alone in its binary: it installs a counting global allocator.

use costack::{Coroutine, Step, Yielder};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call goes to the system allocator with the caller's
// arguments unchanged, so the contract holds as it does for `System`; the
// counting touches only a const-initialised thread-local, which neither
// allocates nor panics (`try_with` gives up quietly during thread teardown).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: `layout` is as `GlobalAlloc::alloc`'s caller promised.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through `alloc` or `realloc`
        // above, with this `layout`, as `dealloc`'s caller promised.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: as in `dealloc`, and `new_size` is as `realloc`'s caller
        // promised.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

#[test]
fn resume_and_suspend_do_not_allocate() {
    let mut guard = costack::lock();
    let mut co = Coroutine::new(|y: &mut Yielder<u64, u64>, mut x: u64| loop {
        x = y.suspend(x + 1);
    });
    // Warm up: first entry, thread setup in the C core.
    assert_eq!(co.resume(&mut guard, 0), Step::Yield(1));
    let before = allocs();
    for i in 0..10_000u64 {
        assert_eq!(co.resume(&mut guard, i), Step::Yield(i + 1));
    }
    assert_eq!(allocs() - before, 0);
}

#[test]
fn a_pooled_create_run_and_drop_allocates_nothing() {
    let mut guard = costack::lock();
    // Warm the pool so the stack (and user data) is reused.
    for _ in 0..2 {
        let mut co = Coroutine::new(|_: &mut Yielder<(), ()>, ()| ());
        co.resume(&mut guard, ());
    }
    let before = allocs();
    for i in 0..1000u64 {
        // Run to the end.
        let mut co = Coroutine::new(move |_: &mut Yielder<(), ()>, ()| i);
        assert_eq!(co.resume(&mut guard, ()), Step::Return(i));
        drop(co);
        // Suspended, then finished. (Dropping a suspended one unwinds its
        // stack, and the unwinder allocates its exception.)
        let mut co = Coroutine::new(|y: &mut Yielder<(), ()>, ()| y.suspend(()));
        assert_eq!(co.resume(&mut guard, ()), Step::Yield(()));
        assert_eq!(co.resume(&mut guard, ()), Step::Return(()));
        drop(co);
        // Dropped unstarted.
        drop(Coroutine::new(move |_: &mut Yielder<(), ()>, ()| i));
    }
    assert_eq!(allocs() - before, 0);
}

#[test]
fn a_large_closure_is_boxed_once() {
    let mut guard = costack::lock();
    let big = [7u8; 4096];
    for _ in 0..2 {
        let mut co = Coroutine::new(move |_: &mut Yielder<(), ()>, ()| big[100]);
        co.resume(&mut guard, ());
    }
    let before = allocs();
    let mut co = Coroutine::new(move |_: &mut Yielder<(), ()>, ()| big[4095]);
    assert_eq!(co.resume(&mut guard, ()), Step::Return(7));
    drop(co);
    assert_eq!(allocs() - before, 1);
}
