//! A backtrace taken inside a coroutine (`std::backtrace::Backtrace`, which
//! walks the stack with the platform unwinder) finishes: it passes through
//! the coroutine's frames and stops, without looping or crashing, on a
//! coroutine's first run, after a suspension, and nested in another one.

use costack::{Coroutine, Step, Yielder};
use std::backtrace::Backtrace;

/// Far more frames than any stack here has: a walk that does not stop at
/// the bottom of a coroutine's stack (a loop, or garbage read as frames)
/// goes past it.
const MAX_FRAMES: usize = 200;

/// Captures a backtrace from a frame of its own, with a name to find in it.
#[inline(never)]
fn capture_here_marker() -> String {
    Backtrace::force_capture().to_string()
}

/// The number of frames in a formatted backtrace ("  12: symbol" lines).
fn frames(bt: &str) -> usize {
    bt.lines()
        .filter(|l| {
            let t = l.trim_start();
            t.split_once(": ")
                .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .count()
}

fn assert_finished_walk(bt: &str, what: &str) {
    let n = frames(bt);
    assert!(
        bt.contains("capture_here_marker"),
        "{what}: the walk misses the frame that captured it:\n{bt}"
    );
    assert!(
        (3..MAX_FRAMES).contains(&n),
        "{what}: {n} frames, expected a walk that stops:\n{bt}"
    );
}

#[test]
fn backtrace_inside_a_coroutine_finishes() {
    let mut guard = costack::lock();
    let mut co = Coroutine::new(|y: &mut Yielder<(), String>, ()| {
        let first = capture_here_marker();
        y.suspend(first);
        capture_here_marker()
    });
    let Step::Yield(first) = co.resume(&mut guard, ()) else {
        panic!("expected the first backtrace")
    };
    let Step::Return(second) = co.resume(&mut guard, ()) else {
        panic!("expected the second backtrace")
    };
    assert_finished_walk(&first, "first run");
    assert_finished_walk(&second, "after a suspension");
}

#[test]
fn backtrace_inside_a_nested_coroutine_finishes() {
    let mut guard = costack::lock();
    let mut outer = Coroutine::new(|y: &mut Yielder<(), ()>, ()| {
        let mut inner = Coroutine::new(|_: &mut Yielder<(), ()>, ()| capture_here_marker());
        let Step::Return(bt) = inner.resume(y, ()) else {
            panic!("the inner coroutine should finish")
        };
        (bt, capture_here_marker())
    });
    let Step::Return((inner_bt, outer_bt)) = outer.resume(&mut guard, ()) else {
        panic!("the outer coroutine should finish")
    };
    assert_finished_walk(&inner_bt, "nested");
    assert_finished_walk(&outer_bt, "outer");
}
