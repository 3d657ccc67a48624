//! The safe API: values, nesting, panics, drop, the lock, the cell, threads.

use costack::{Builder, Coroutine, GlobalCell, Step, Yielder};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

/// Counts its drops into a shared counter.
struct CountDrop(Rc<Cell<u32>>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn values_cross_both_ways_in_order() {
    let mut guard = costack::lock();
    let mut co = Coroutine::new(|y: &mut Yielder<String, usize>, first: String| {
        let mut seen = vec![first];
        for round in 0..3 {
            let next = y.suspend(seen.len() * 10 + round);
            seen.push(next);
        }
        seen.join(",")
    });
    assert!(!co.is_started());
    assert_eq!(co.resume(&mut guard, "a".into()), Step::Yield(10));
    assert!(co.is_started() && !co.is_finished());
    assert_eq!(co.resume(&mut guard, "b".into()), Step::Yield(21));
    assert_eq!(co.resume(&mut guard, "c".into()), Step::Yield(32));
    assert_eq!(
        co.resume(&mut guard, "d".into()),
        Step::Return("a,b,c,d".into())
    );
    assert!(co.is_finished());
}

#[test]
fn nested_coroutines_run_in_order() {
    let log = Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut guard = costack::lock();
    let l = log.clone();
    let mut outer = Coroutine::new(move |y: &mut Yielder<(), ()>, ()| {
        l.borrow_mut().push("outer start");
        let l2 = l.clone();
        let mut inner = Coroutine::new(move |yi: &mut Yielder<(), u32>, ()| {
            l2.borrow_mut().push("inner start");
            yi.suspend(1);
            l2.borrow_mut().push("inner again");
            2u32
        });
        assert_eq!(inner.resume(y, ()), Step::Yield(1));
        l.borrow_mut().push("outer between");
        y.suspend(());
        l.borrow_mut().push("outer resumed");
        assert_eq!(inner.resume(y, ()), Step::Return(2));
        l.borrow_mut().push("outer end");
    });
    assert_eq!(outer.resume(&mut guard, ()), Step::Yield(()));
    log.borrow_mut().push("top");
    assert_eq!(outer.resume(&mut guard, ()), Step::Return(()));
    assert_eq!(
        *log.borrow(),
        [
            "outer start",
            "inner start",
            "outer between",
            "top",
            "outer resumed",
            "inner again",
            "outer end"
        ]
    );
}

#[test]
fn deep_nesting_returns_through_every_level() {
    fn level(n: u32, proof: &mut impl costack::Proof) -> u32 {
        if n == 0 {
            return 0;
        }
        let mut co = Builder::new()
            .stack_size(64 * 1024)
            .build(move |y: &mut Yielder<(), ()>, ()| level(n - 1, y) + 1)
            .unwrap();
        match co.resume(proof, ()) {
            Step::Return(v) => v,
            Step::Yield(()) => unreachable!(),
        }
    }
    assert_eq!(level(50, &mut costack::lock()), 50);
}

#[test]
fn a_panic_reaches_the_caller_with_its_payload() {
    let mut guard = costack::lock();
    let drops = Rc::new(Cell::new(0));
    let d = CountDrop(drops.clone());
    let mut co = Coroutine::new(move |y: &mut Yielder<(), ()>, ()| {
        let _d = d;
        y.suspend(());
        std::panic::panic_any(1234u64);
    });
    assert_eq!(co.resume(&mut guard, ()), Step::Yield(()));
    let err = catch_unwind(AssertUnwindSafe(|| co.resume(&mut guard, ()))).unwrap_err();
    assert_eq!(err.downcast_ref::<u64>(), Some(&1234));
    assert_eq!(
        drops.get(),
        1,
        "the coroutine's locals were dropped by the unwind"
    );
    assert!(co.is_finished());
    assert!(co.as_raw().is_null());
    // The caller's state is intact: the mutex is still held, coroutines work.
    assert!(costack::lock_held());
    let mut again = Coroutine::new(|_: &mut Yielder<(), ()>, ()| 5);
    assert_eq!(again.resume(&mut guard, ()), Step::Return(5));
}

#[test]
fn a_panic_in_a_nested_coroutine_crosses_both_levels() {
    let mut guard = costack::lock();
    let mut outer = Coroutine::new(|y: &mut Yielder<(), ()>, ()| {
        let mut inner = Coroutine::new(|_: &mut Yielder<(), ()>, ()| -> () {
            panic!("from inner");
        });
        inner.resume(y, ());
    });
    let err = catch_unwind(AssertUnwindSafe(|| outer.resume(&mut guard, ()))).unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"from inner"));
    assert!(outer.is_finished());
}

#[test]
fn resuming_a_finished_coroutine_panics() {
    let mut guard = costack::lock();
    let mut co = Coroutine::new(|_: &mut Yielder<(), ()>, ()| ());
    assert_eq!(co.resume(&mut guard, ()), Step::Return(()));
    let err = catch_unwind(AssertUnwindSafe(|| co.resume(&mut guard, ()))).unwrap_err();
    let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("finished coroutine"), "{msg}");
}

#[test]
fn drop_of_a_suspended_coroutine_runs_its_destructors() {
    let drops = Rc::new(Cell::new(0));
    let mut guard = costack::lock();
    let mut cos = Vec::new();
    for depth in 0..5u32 {
        let (a, b) = (CountDrop(drops.clone()), CountDrop(drops.clone()));
        let mut co = Coroutine::new(move |y: &mut Yielder<(), ()>, ()| {
            let _a = a;
            // Destructors in deeper frames too.
            fn recurse(y: &mut Yielder<(), ()>, n: u32, b: CountDrop) {
                let _b = b;
                if n == 0 {
                    loop {
                        y.suspend(());
                    }
                }
                recurse(y, n - 1, CountDrop(_b.0.clone()));
            }
            recurse(y, depth, b);
        });
        assert_eq!(co.resume(&mut guard, ()), Step::Yield(()));
        cos.push(co);
    }
    assert_eq!(drops.get(), 0);
    // Dropped with the lock held by this thread.
    let first = cos.remove(0);
    drop(first);
    assert_eq!(drops.get(), 2);
    drop(guard);
    // Dropped without the lock: drop takes it.
    let expected: u32 = 2 + (1..5).map(|depth| 2 + depth).sum::<u32>();
    drop(cos);
    assert_eq!(drops.get(), expected);
    assert!(!costack::lock_held());
}

#[test]
fn drop_of_a_new_coroutine_drops_its_closure() {
    let drops = Rc::new(Cell::new(0));
    let d = CountDrop(drops.clone());
    let co = Coroutine::new(move |_: &mut Yielder<(), ()>, ()| drop(d));
    assert_eq!(drops.get(), 0);
    drop(co);
    assert_eq!(drops.get(), 1);
}

#[test]
fn drop_inside_a_coroutine_unwinds_the_nested_one() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let mut guard = costack::lock();
    let mut outer = Coroutine::new(move |y: &mut Yielder<(), u32>, ()| {
        let c = CountDrop(d.clone());
        let mut inner = Coroutine::new(move |yi: &mut Yielder<(), ()>, ()| {
            let _c = c;
            yi.suspend(());
        });
        inner.resume(y, ());
        drop(inner);
        y.suspend(d.get());
    });
    assert_eq!(outer.resume(&mut guard, ()), Step::Yield(1));
}

#[test]
fn destructors_see_that_they_run_during_the_forced_unwind() {
    struct Probe(Rc<Cell<bool>>);
    impl Drop for Probe {
        fn drop(&mut self) {
            self.0
                .set(std::thread::panicking() && costack::in_coroutine());
        }
    }
    let saw = Rc::new(Cell::new(false));
    let probe = Probe(saw.clone());
    let mut co = Coroutine::new(move |y: &mut Yielder<(), ()>, ()| {
        let _p = probe;
        y.suspend(());
    });
    co.resume(&mut costack::lock(), ());
    drop(co);
    assert!(saw.get());
}

#[test]
fn catching_and_rethrowing_the_forced_unwind_is_fine() {
    let drops = Rc::new(Cell::new(0));
    let d = CountDrop(drops.clone());
    let mut co = Coroutine::new(move |y: &mut Yielder<(), ()>, ()| {
        let _d = d;
        let r = catch_unwind(AssertUnwindSafe(|| y.suspend(())));
        if let Err(payload) = r {
            std::panic::resume_unwind(payload);
        }
    });
    co.resume(&mut costack::lock(), ());
    drop(co);
    assert_eq!(drops.get(), 1);
}

#[test]
fn drop_while_the_caller_is_panicking() {
    let drops = Rc::new(Cell::new(0));
    let d = CountDrop(drops.clone());
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut co = Coroutine::new(move |y: &mut Yielder<(), ()>, ()| {
            let _d = d;
            y.suspend(());
        });
        co.resume(&mut costack::lock(), ());
        panic!("caller fails with the coroutine suspended");
    }));
    assert!(r.is_err());
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_coroutine_resumed_while_its_resumer_unwinds_may_suspend() {
    // A destructor drives a coroutine during the caller's panic: that
    // unwind is not the coroutine's, so it suspends as usual.
    struct DrivesOnDrop(Coroutine<(), u32, ()>, Rc<Cell<u32>>);
    impl Drop for DrivesOnDrop {
        fn drop(&mut self) {
            if let Step::Yield(n) = self.0.resume(&mut costack::lock(), ()) {
                self.1.set(n);
            }
        }
    }
    let seen = Rc::new(Cell::new(0));
    let co = Coroutine::new(|y: &mut Yielder<(), u32>, ()| {
        y.suspend(1);
        y.suspend(2);
    });
    let s = seen.clone();
    let r = catch_unwind(AssertUnwindSafe(move || {
        let _drives = DrivesOnDrop(co, s);
        panic!("the caller fails");
    }));
    assert_eq!(
        r.unwrap_err().downcast_ref::<&str>(),
        Some(&"the caller fails")
    );
    assert_eq!(seen.get(), 1);
}

#[test]
fn a_coroutine_resumed_by_an_unwinding_coroutine_may_suspend() {
    // The same one level down: a destructor of a panicking coroutine
    // resumes a nested one, which suspends back to it.
    struct DrivesOnDrop<'a>(
        &'a mut Yielder<(), ()>,
        Coroutine<(), u32, ()>,
        Rc<Cell<u32>>,
    );
    impl Drop for DrivesOnDrop<'_> {
        fn drop(&mut self) {
            if let Step::Yield(n) = self.1.resume(self.0, ()) {
                self.2.set(n);
            }
        }
    }
    let seen = Rc::new(Cell::new(0));
    let s = seen.clone();
    let mut outer = Coroutine::new(move |y: &mut Yielder<(), ()>, ()| -> () {
        let inner = Coroutine::new(|yi: &mut Yielder<(), u32>, ()| {
            yi.suspend(7);
        });
        let _drives = DrivesOnDrop(y, inner, s);
        panic!("the outer coroutine fails");
    });
    let r = catch_unwind(AssertUnwindSafe(|| outer.resume(&mut costack::lock(), ())));
    assert_eq!(
        r.unwrap_err().downcast_ref::<&str>(),
        Some(&"the outer coroutine fails")
    );
    assert_eq!(seen.get(), 7);
    assert!(outer.is_finished());
}

#[test]
fn locking_twice_on_a_thread_panics() {
    let _guard = costack::lock();
    let err = catch_unwind(costack::lock).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("already holds the global lock"), "{msg}");
    let err = catch_unwind(costack::try_lock).unwrap_err();
    assert!(err.downcast_ref::<String>().is_some());
    assert!(costack::lock_held());
}

#[test]
fn locking_inside_a_coroutine_panics_and_the_panic_reaches_the_caller() {
    let mut guard = costack::lock();
    let mut co = Coroutine::new(|_: &mut Yielder<(), ()>, ()| {
        let _g = costack::lock();
    });
    let err = catch_unwind(AssertUnwindSafe(|| co.resume(&mut guard, ()))).unwrap_err();
    assert!(err
        .downcast_ref::<String>()
        .unwrap()
        .contains("already holds"));
}

#[test]
fn try_lock_fails_while_another_thread_holds_the_lock() {
    let guard = costack::lock();
    let other = std::thread::spawn(|| costack::try_lock().is_none())
        .join()
        .unwrap();
    assert!(other);
    drop(guard);
}

#[test]
fn builder_reports_bad_stack_sizes_and_keeps_good_ones() {
    let drops = Rc::new(Cell::new(0));
    let d = CountDrop(drops.clone());
    let err = Builder::new()
        .stack_size(4096)
        .build(move |_: &mut Yielder<(), ()>, ()| drop(d))
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(drops.get(), 1, "the closure is dropped on failure");
    let co = Builder::new()
        .stack_size(40_000)
        .build(|_: &mut Yielder<(), ()>, ()| ())
        .unwrap();
    assert!(co.stack_size() >= 40_000 && co.stack_size() < 40_000 + 65536);
    assert_eq!(co.stack_size() % 4096, 0);
}

#[test]
fn builder_refuses_stacks_below_the_rust_minimum_zero_included() {
    let min = Builder::MIN_STACK_SIZE;
    // The C core would take these (its minimum is 16 KiB, and 0 is its
    // default); a Rust coroutine needs room for a panic.
    for bytes in [0, 16 << 10, min - 1] {
        let err = Builder::new()
            .stack_size(bytes)
            .build(|_: &mut Yielder<(), ()>, ()| ())
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{bytes}");
    }
    let co = Builder::new()
        .stack_size(min)
        .build(|_: &mut Yielder<(), ()>, ()| ())
        .unwrap();
    assert_eq!(co.stack_size(), min);
    // Not setting the size gives the default.
    let co = Builder::new()
        .build(|_: &mut Yielder<(), ()>, ()| ())
        .unwrap();
    assert_eq!(co.stack_size(), 1 << 20);
}

#[test]
fn builder_checks_the_guard_size() {
    let max = costack::sys::COSTACK_MAX_GUARD_SIZE as usize;
    let drops = Rc::new(Cell::new(0));
    for bytes in [0, max + 1] {
        let d = CountDrop(drops.clone());
        let err = Builder::new()
            .guard_size(bytes)
            .build(move |_: &mut Yielder<(), ()>, ()| drop(d))
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{bytes}");
    }
    assert_eq!(drops.get(), 2, "the closure is dropped on failure");
    // The smallest and the largest guard: address space, not memory.
    for bytes in [1, max] {
        let mut co = Builder::new()
            .stack_size(64 << 10)
            .guard_size(bytes)
            .build(|y: &mut Yielder<(), u32>, ()| {
                y.suspend(1);
                2
            })
            .unwrap();
        let mut guard = costack::lock();
        assert_eq!(co.resume(&mut guard, ()), Step::Yield(1));
        assert_eq!(co.resume(&mut guard, ()), Step::Return(2));
    }
}

#[test]
fn dropping_a_coroutine_that_holds_a_std_mutex_guard_poisons_the_mutex() {
    use std::sync::{Arc, Mutex};
    // A coroutine that suspends in the middle of an update it means to
    // finish later: the forced unwind of its drop abandons the update, and
    // the mutex says so, as it would after a panic at that point.
    let data = Arc::new(Mutex::new(vec![0u32]));
    let d = data.clone();
    let mut co = Coroutine::new(move |y: &mut Yielder<(), ()>, ()| {
        let mut v = d.lock().unwrap();
        v.push(1); // first half
        y.suspend(()); // waits for the rest, guard held
        v.push(2); // second half, never reached
    });
    co.resume(&mut costack::lock(), ());
    drop(co);
    assert!(data.is_poisoned());
    let v = data.lock().unwrap_err().into_inner();
    assert_eq!(*v, [0, 1], "the data is there, half updated");
    drop(v);

    // A guard released before the suspend leaves the mutex clean.
    let clean = Arc::new(Mutex::new(0u32));
    let c = clean.clone();
    let mut co = Coroutine::new(move |y: &mut Yielder<(), ()>, ()| {
        *c.lock().unwrap() += 1;
        y.suspend(());
    });
    co.resume(&mut costack::lock(), ());
    drop(co);
    assert!(!clean.is_poisoned());
    assert_eq!(*clean.lock().unwrap(), 1);
}

#[test]
fn ten_thousand_coroutines_alive_at_once() {
    const N: u64 = 10_000;
    let mut guard = costack::lock();
    let mut cos: Vec<Coroutine<u64, u64, u64>> = (0..N)
        .map(|i| {
            Coroutine::new(move |y: &mut Yielder<u64, u64>, x: u64| {
                let local = [i; 8]; // lives on the coroutine's stack
                let next = y.suspend(x + local[7]);
                next * 2 + local[0]
            })
        })
        .collect();
    for (i, co) in cos.iter_mut().enumerate() {
        assert_eq!(co.resume(&mut guard, 1), Step::Yield(i as u64 + 1));
    }
    let stats = costack::stats();
    assert!(stats.live >= N as usize, "{stats:?}");
    for (i, co) in cos.iter_mut().enumerate().rev() {
        assert_eq!(co.resume(&mut guard, 3), Step::Return(6 + i as u64));
    }
}

static SHARED: GlobalCell<Vec<(usize, u32)>> = GlobalCell::new(Vec::new());
static TOTAL: GlobalCell<u64> = GlobalCell::new(0);

#[test]
fn the_cell_is_shared_by_threads_that_take_the_lock() {
    const THREADS: usize = 4;
    const ROUNDS: u32 = 200;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    let mut guard = costack::lock();
                    let mut co = Coroutine::new(move |y: &mut Yielder<(), ()>, ()| {
                        let before = TOTAL.get(y);
                        y.suspend(());
                        // Nobody else ran between: one thread at a time.
                        TOTAL.set(y, before + 1);
                        SHARED.borrow_mut(y).push((t, round));
                    });
                    co.resume(&mut guard, ());
                    let mid = TOTAL.get(&guard);
                    co.resume(&mut guard, ());
                    assert_eq!(TOTAL.get(&guard), mid + 1);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let guard = costack::lock();
    assert_eq!(TOTAL.get(&guard), THREADS as u64 * ROUNDS as u64);
    let shared = SHARED.borrow(&guard);
    for t in 0..THREADS {
        let mine: Vec<u32> = shared.iter().filter(|e| e.0 == t).map(|e| e.1).collect();
        assert_eq!(mine, (0..ROUNDS).collect::<Vec<_>>());
    }
}

#[test]
fn cell_borrows_conflict_at_run_time_where_types_cannot_see() {
    static CELL: GlobalCell<u32> = GlobalCell::new(0);
    let guard = costack::lock();
    let held = CELL.borrow_mut(&guard);
    let err = catch_unwind(AssertUnwindSafe(|| *CELL.borrow(&guard))).unwrap_err();
    assert!(err
        .downcast_ref::<&str>()
        .unwrap()
        .contains("borrowed mutably"));
    drop(held);
    let a = CELL.borrow(&guard);
    let b = CELL.borrow(&guard);
    assert!(catch_unwind(AssertUnwindSafe(|| drop(CELL.borrow_mut(&guard)))).is_err());
    drop((a, b));
    *CELL.borrow_mut(&guard) += 1;
    assert_eq!(CELL.get(&guard), 1);
}

#[test]
fn a_coroutine_cannot_resume_itself_through_shared_ownership() {
    type Shared = Rc<std::cell::RefCell<Option<Coroutine<(), (), ()>>>>;
    let me: Shared = Rc::default();
    let inside = me.clone();
    *me.borrow_mut() = Some(Coroutine::new(move |y: &mut Yielder<(), ()>, ()| {
        // The RefCell is borrowed by the resume that runs us.
        assert!(inside.try_borrow_mut().is_err());
        y.suspend(());
    }));
    let mut guard = costack::lock();
    let step = me.borrow_mut().as_mut().unwrap().resume(&mut guard, ());
    assert_eq!(step, Step::Yield(()));
    // Break the cycle (the coroutine holds an Rc to itself).
    let co = me.borrow_mut().take();
    drop(guard);
    drop(co);
}

#[test]
fn a_send_coroutine_moves_between_threads() {
    let co = Builder::new()
        .stack_size(64 * 1024)
        .build(|y: &mut Yielder<u64, u64>, mut x: u64| {
            for _ in 0..3 {
                x = y.suspend(x * 2);
            }
            x
        })
        .unwrap();
    // SAFETY: the coroutine holds only integers across its suspends.
    let mut co = unsafe { co.into_send() };
    let mut value = 1;
    for _ in 0..3 {
        let (back, step) = std::thread::spawn(move || {
            let step = co.resume(&mut costack::lock(), value);
            (co, step)
        })
        .join()
        .unwrap();
        co = back;
        match step {
            Step::Yield(v) => value = v + 1,
            Step::Return(_) => unreachable!(),
        }
    }
    assert_eq!(value, 15);
    assert_eq!(co.resume(&mut costack::lock(), 100), Step::Return(100));
    drop(co.into_inner());
}

#[test]
fn non_static_value_types_work() {
    let text = String::from("borrowed text");
    let mut guard = costack::lock();
    let mut co = Coroutine::new(|y: &mut Yielder<&str, usize>, first: &str| {
        let second = y.suspend(first.len());
        second.len()
    });
    assert_eq!(co.resume(&mut guard, &text), Step::Yield(13));
    assert_eq!(co.resume(&mut guard, &text[..3]), Step::Return(3));
}

#[test]
fn a_backtrace_taken_inside_a_coroutine_ends_at_its_stack() {
    // Stack walkers (panic backtraces with RUST_BACKTRACE set, debuggers)
    // must stop at the bottom of the coroutine's stack, not wander off
    // through whatever the backend left below it (and crash).
    let mut guard = costack::lock();
    for _ in 0..3 {
        let mut co = Coroutine::new(|y: &mut Yielder<(), String>, ()| {
            let bt = std::backtrace::Backtrace::force_capture().to_string();
            y.suspend(bt);
            std::backtrace::Backtrace::force_capture().to_string()
        });
        for step in [co.resume(&mut guard, ()), co.resume(&mut guard, ())] {
            let bt = match step {
                Step::Yield(s) | Step::Return(s) => s,
            };
            assert!(bt.contains("trampoline"), "{bt}");
            assert!(
                !bt.contains("test::run_test"),
                "walked off the coroutine's stack:\n{bt}"
            );
        }
    }
}

#[test]
fn backend_name_is_one_of_ours() {
    assert!(["ucontext", "sigaltstack", "fibers", "asm"].contains(&costack::backend_name()));
}

#[test]
fn a_finished_coroutine_keeps_its_state_when_its_c_coroutine_is_reused() {
    let mut guard = costack::lock();
    let build = || {
        Builder::new()
            .stack_size(96 << 10)
            .build(|y: &mut Yielder<u32, u32>, x: u32| y.suspend(x + 1) * 2)
            .unwrap()
    };
    let mut a = build();
    let raw = a.as_raw();
    assert_eq!(a.resume(&mut guard, 1), Step::Yield(2));
    assert_eq!(a.resume(&mut guard, 5), Step::Return(10));
    // The pool hands `a`'s C coroutine, user data and all, to `b`.
    let mut b = build();
    assert_eq!(b.as_raw(), raw);
    assert_eq!(b.resume(&mut guard, 3), Step::Yield(4));
    assert!(a.is_finished() && a.is_started());
    assert!(a.as_raw().is_null());
    assert_eq!(a.stack_size(), 96 << 10);
    let err = catch_unwind(AssertUnwindSafe(|| a.resume(&mut guard, 0))).unwrap_err();
    assert!(err.downcast_ref::<&str>().unwrap().contains("finished"));
    drop(a);
    // `b` is untouched by all that.
    assert!(!b.is_finished());
    assert_eq!(b.resume(&mut guard, 7), Step::Return(14));
}

/// A value that needs more alignment than the C core gives user data.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(align(128))]
struct Aligned(u64);

#[test]
fn closures_and_values_with_large_alignment() {
    let mut guard = costack::lock();
    for round in 0..4u64 {
        let captured = Aligned(round);
        let mut co = Coroutine::new(move |y: &mut Yielder<Aligned, Aligned>, a: Aligned| {
            assert_eq!(&captured as *const Aligned as usize % 128, 0);
            let b = y.suspend(Aligned(a.0 + captured.0));
            Aligned(b.0 * 2)
        });
        assert_eq!(
            co.resume(&mut guard, Aligned(10)),
            Step::Yield(Aligned(10 + round))
        );
        assert_eq!(co.resume(&mut guard, Aligned(4)), Step::Return(Aligned(8)));
    }
}

#[test]
fn large_closures_run_drop_and_unwind() {
    let mut guard = costack::lock();
    let drops = Rc::new(Cell::new(0));
    let big = [3u8; 8192];
    // Run to the end.
    let counter = CountDrop(drops.clone());
    let mut co = Coroutine::new(move |y: &mut Yielder<usize, u8>, i: usize| {
        let _counter = counter;
        let j = y.suspend(big[i]);
        big[j] + 1
    });
    assert_eq!(co.resume(&mut guard, 5), Step::Yield(3));
    assert_eq!(co.resume(&mut guard, 8191), Step::Return(4));
    assert_eq!(drops.get(), 1);
    // Dropped unstarted: the closure is dropped.
    let counter = CountDrop(drops.clone());
    drop(Coroutine::new(move |_: &mut Yielder<(), u8>, ()| {
        let _counter = counter;
        big[0]
    }));
    assert_eq!(drops.get(), 2);
    // Dropped suspended: unwound.
    let counter = CountDrop(drops.clone());
    let mut co = Coroutine::new(move |y: &mut Yielder<(), u8>, ()| {
        let _counter = counter;
        y.suspend(big[1]);
        unreachable!()
    });
    assert_eq!(co.resume(&mut guard, ()), Step::Yield(3));
    drop(guard);
    drop(co);
    assert_eq!(drops.get(), 3);
}

/// Creates (and runs) a coroutine when dropped.
struct CreatesOnDrop(Rc<Cell<u32>>);

impl Drop for CreatesOnDrop {
    fn drop(&mut self) {
        let mut co = Coroutine::new(|y: &mut Yielder<u32, u32>, x: u32| y.suspend(x) + 1);
        let mut guard = costack::lock();
        assert_eq!(co.resume(&mut guard, 41), Step::Yield(41));
        assert_eq!(co.resume(&mut guard, 41), Step::Return(42));
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn a_dropped_closure_may_create_coroutines_in_its_destructor() {
    let ran = Rc::new(Cell::new(0));
    for _ in 0..3 {
        let on_drop = CreatesOnDrop(ran.clone());
        // Same block type as the coroutine the destructor creates, so that
        // it may well reuse this one's C coroutine and user data.
        let co = Coroutine::new(move |y: &mut Yielder<u32, u32>, x: u32| {
            let _on_drop = &on_drop;
            y.suspend(x) + 1
        });
        drop(co);
    }
    assert_eq!(ran.get(), 3);
}
