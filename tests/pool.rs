//! The pool limit and the C core's counters, through the safe API
//! (`costack::set_pool_max`, `pool_max`, `stats`). Both are process-wide, so
//! this binary holds one test: another creating coroutines at the same time
//! would move the counts.

use costack::{Builder, Coroutine, Step, Yielder};

/// The stack size of every coroutine here (the pool reuses a stack only
/// for a coroutine of the same size).
const STACK: usize = 64 << 10;

/// `n` coroutines, each suspended once (so live), that return on their next
/// resume.
fn suspended(n: usize, guard: &mut costack::Guard) -> Vec<Coroutine<(), (), ()>> {
    (0..n)
        .map(|_| {
            let mut co = Builder::new()
                .stack_size(STACK)
                .build(|y: &mut Yielder<(), ()>, ()| y.suspend(()))
                .unwrap();
            assert_eq!(co.resume(guard, ()), Step::Yield(()));
            co
        })
        .collect()
}

fn finish(cos: &mut [Coroutine<(), (), ()>], guard: &mut costack::Guard) {
    for co in cos {
        assert_eq!(co.resume(guard, ()), Step::Return(()));
    }
}

#[test]
fn the_pool_keeps_finished_coroutines_up_to_its_limit() {
    let mut guard = costack::lock();

    // Pooling off, nothing created yet: every counter is zero.
    costack::set_pool_max(0);
    assert_eq!(costack::pool_max(), 0);
    let s = costack::stats();
    assert_eq!(
        (s.live, s.pooled, s.stacks_mapped, s.stack_bytes_mapped),
        (0, 0, 0, 0)
    );

    // Live coroutines hold a stack each, guard page and all.
    let mut cos = suspended(4, &mut guard);
    let s = costack::stats();
    assert_eq!((s.live, s.pooled, s.stacks_mapped), (4, 0, 4), "{s:?}");
    assert!(s.stack_bytes_mapped > 4 * STACK, "{s:?}");
    // Finished, with pooling off: their stacks are freed.
    finish(&mut cos, &mut guard);
    let s = costack::stats();
    assert_eq!(
        (s.live, s.pooled, s.stacks_mapped, s.stack_bytes_mapped),
        (0, 0, 0, 0)
    );

    // With a limit, finished coroutines are kept up to it, the rest freed.
    costack::set_pool_max(3);
    let max = costack::pool_max();
    assert!(
        (1..=3).contains(&max),
        "pool_max {max} after set_pool_max(3)"
    );
    let mut cos = suspended(5, &mut guard);
    finish(&mut cos, &mut guard);
    let s = costack::stats();
    assert_eq!((s.live, s.pooled, s.stacks_mapped), (0, max, max), "{s:?}");

    // A new coroutine takes its stack from the pool: no new mapping.
    let mut cos = suspended(1, &mut guard);
    let s = costack::stats();
    assert_eq!(
        (s.live, s.pooled, s.stacks_mapped),
        (1, max - 1, max),
        "{s:?}"
    );
    finish(&mut cos, &mut guard);

    // Lowering the limit frees this thread's surplus at once.
    costack::set_pool_max(1);
    assert_eq!(costack::pool_max(), 1);
    let s = costack::stats();
    assert_eq!((s.live, s.pooled, s.stacks_mapped), (0, 1, 1), "{s:?}");
    costack::set_pool_max(0);
    assert_eq!(costack::stats().stacks_mapped, 0);

    // The guard a builder asks for is mapped below the stack, and counted
    // (not on Windows, where the system guards fiber stacks itself).
    #[cfg(not(windows))]
    for (guard_size, big) in [(None, false), (Some(4usize << 20), true)] {
        let mut builder = Builder::new().stack_size(STACK);
        if let Some(bytes) = guard_size {
            builder = builder.guard_size(bytes);
        }
        let co = builder.build(|_: &mut Yielder<(), ()>, ()| ()).unwrap();
        let s = costack::stats();
        assert_eq!(s.stacks_mapped, 1, "{s:?}");
        assert_eq!(s.stack_bytes_mapped >= STACK + (4 << 20), big, "{s:?}");
        drop(co);
    }
}
