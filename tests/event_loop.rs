//! The event loop from Rust: tasks and their join handles, sleeps, yields,
//! fd readiness, other threads (stop, unpark), worker threads. That only
//! the loop's tasks wait is a compile error otherwise (tests/ui/), and the
//! run-time check behind it a unit test of `event_loop`.

use costack::{Coroutine, GlobalCell, Loop, Queue, Step, TaskCx, Yielder};
use std::cell::{Cell, RefCell};
use std::io::ErrorKind;
#[cfg(unix)]
use std::io::{Read, Write};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Counts its drops into a shared counter.
struct CountDrop(Rc<Cell<u32>>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<not a string>".into()
    }
}

#[test]
fn spawn_and_join_give_each_task_its_value() {
    let lp = Loop::new().unwrap();
    let words = lp.spawn(|cx| {
        cx.yield_now();
        vec!["a".to_string(), "b".to_string()]
    });
    let number = lp.spawn(|_cx| 41u64 + 1);
    let unit = lp.spawn(|_cx| ());
    assert!(!words.is_finished() && !number.is_finished());
    // Joining the second first runs the loop until it ended.
    assert_eq!(number.join(), 42);
    assert_eq!(words.join(), ["a", "b"]);
    unit.join();
}

#[test]
fn a_task_joins_tasks_it_spawned_and_ones_spawned_outside() {
    let lp = Loop::new().unwrap();
    let outside = lp.spawn(|cx| {
        cx.sleep(Duration::from_millis(2));
        10
    });
    let sum = lp.spawn(move |cx| {
        let children: Vec<_> = (1..=4).map(|n| cx.spawn(move |_cx| n)).collect();
        let mut sum = cx.join(outside);
        for child in children {
            sum += cx.join(child);
        }
        sum
    });
    lp.run().unwrap();
    assert!(sum.is_finished());
    assert_eq!(sum.join(), 20);
}

#[test]
fn a_panicking_task_resumes_its_panic_in_whoever_joins_it() {
    let lp = Loop::new().unwrap();
    let bad = lp.spawn(|cx| -> u32 {
        cx.yield_now();
        panic!("task {} failed", 7)
    });
    let err = catch_unwind(AssertUnwindSafe(|| bad.join())).unwrap_err();
    assert_eq!(panic_message(&*err), "task 7 failed");

    // Joined from another task: the panic comes out of TaskCx::join there,
    // where the joiner can catch it and go on.
    let joiner = lp.spawn(|cx| {
        let bad = cx.spawn(|_cx| -> () { panic!("inner") });
        let caught = catch_unwind(AssertUnwindSafe(|| cx.join(bad))).unwrap_err();
        cx.yield_now();
        panic_message(&*caught)
    });
    assert_eq!(joiner.join(), "inner");
    // The loop is still usable after both panics.
    assert_eq!(lp.spawn(|_cx| 5).join(), 5);
}

#[test]
fn sleepers_wake_in_deadline_order_and_not_early() {
    static ORDER: GlobalCell<Vec<u64>> = GlobalCell::new(Vec::new());
    let lp = Loop::new().unwrap();
    let mut handles = Vec::new();
    for ms in [30u64, 10, 20, 0] {
        handles.push(lp.spawn(move |cx| {
            let start = Instant::now();
            cx.sleep(Duration::from_millis(ms));
            let slept = start.elapsed();
            ORDER.borrow_mut(cx).push(ms);
            slept >= Duration::from_millis(ms)
        }));
    }
    lp.run().unwrap();
    for h in handles {
        assert!(h.join(), "a sleep returned before its duration");
    }
    assert_eq!(*ORDER.borrow(&costack::lock()), [0, 10, 20, 30]);
}

#[test]
fn yield_now_lets_the_other_ready_tasks_run_in_turn() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let lp = Loop::new().unwrap();
    for name in ["a", "b"] {
        let log = log.clone();
        lp.spawn(move |cx| {
            for round in 0..3 {
                log.borrow_mut().push(format!("{name}{round}"));
                cx.yield_now();
            }
        });
    }
    lp.run().unwrap();
    assert_eq!(*log.borrow(), ["a0", "b0", "a1", "b1", "a2", "b2"]);
}

#[test]
fn run_once_dispatches_what_is_ready_without_blocking() {
    let lp = Loop::new().unwrap();
    assert_eq!(lp.run_once().unwrap(), 0);
    let h = lp.spawn(|cx| cx.sleep(Duration::from_secs(3600)));
    // The first dispatch enters the task, which then sleeps: nothing is
    // ready after that, and run_once does not wait for the timer.
    assert_eq!(lp.run_once().unwrap(), 1);
    assert_eq!(lp.run_once().unwrap(), 0);
    assert!(!h.is_finished());
    drop(h); // detached: left sleeping (and leaked with the loop)
}

#[cfg(unix)]
#[test]
fn fd_readiness_on_a_unix_stream_pair() {
    let lp = Loop::new().unwrap();
    let (mut a, mut b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    // The writer starts when the reader's first wait timed out.
    let go = Rc::new(Queue::new());
    let go2 = go.clone();
    let reader = lp.spawn(move |cx| {
        // Nothing written yet: the wait times out.
        let early = cx.readable(&b, Some(Duration::from_millis(5))).unwrap();
        assert!(go2.notify_one());
        let mut got = Vec::new();
        let mut buf = [0u8; 4];
        loop {
            match b.read(&mut buf) {
                Ok(0) => break, // the writer hung up
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(cx.readable(&b, None).unwrap());
                }
                Err(e) => panic!("{e}"),
            }
        }
        (early, got)
    });
    let writer = lp.spawn(move |cx| {
        go.wait(cx);
        for chunk in [&b"hello "[..], b"from ", b"a task"] {
            assert!(cx.writable(&a, Some(Duration::from_secs(10))).unwrap());
            a.write_all(chunk).unwrap();
            cx.sleep(Duration::from_millis(1));
        }
        // Dropping `a` closes it: the reader sees end-of-file.
    });
    writer.join();
    let (early, got) = reader.join();
    assert!(!early, "readable before anything was written");
    assert_eq!(got, b"hello from a task");
}

#[test]
fn a_thread_stops_the_loop() {
    let lp = Loop::new().unwrap();
    let stop = lp.stop_handle();
    let (tx, rx) = mpsc::channel::<()>();
    let never = Rc::new(Queue::new());
    let q = never.clone();
    // Waits until the queue is notified: without the stop, run would not
    // return.
    let waiter = lp.spawn(move |cx| {
        tx.send(()).unwrap();
        q.wait(cx);
        "notified"
    });
    let thread = std::thread::spawn(move || {
        rx.recv().unwrap();
        stop.stop();
    });
    lp.run().unwrap();
    thread.join().unwrap();
    assert!(!waiter.is_finished());
    assert_eq!(never.notify_all(), 1);
    assert_eq!(waiter.join(), "notified");
}

#[test]
fn a_stop_handle_outlives_its_loop() {
    let lp = Loop::new().unwrap();
    let stop = lp.stop_handle();
    drop(lp);
    std::thread::spawn(move || stop.stop()).join().unwrap();
}

#[test]
fn threads_unpark_tasks_and_no_wake_is_lost() {
    // Each round the task tells a thread it is about to park, and the
    // thread unparks it at once: the unpark races with the park and with
    // the loop going to sleep. A lost wake would hang the test.
    const ROUNDS: u32 = 2000;
    let lp = Loop::new().unwrap();
    let (tx, rx) = mpsc::channel::<costack::Unparker>();
    let task = lp.spawn(move |cx| {
        let mut parks = 0u32;
        for _ in 0..ROUNDS {
            tx.send(cx.unparker()).unwrap();
            cx.park();
            parks += 1;
        }
        parks
    });
    let thread = std::thread::spawn(move || {
        let mut n = 0u32;
        for unparker in rx {
            unparker.unpark();
            n += 1;
        }
        n
    });
    assert_eq!(task.join(), ROUNDS);
    assert_eq!(thread.join().unwrap(), ROUNDS);
}

#[test]
fn an_unpark_before_the_park_is_kept_as_one_token() {
    let lp = Loop::new().unwrap();
    let h = lp.spawn(|cx| {
        let u = cx.unparker();
        u.unpark();
        u.unpark();
        cx.park(); // the token: returns at once
                   // No token left: a second park waits until another task unparks.
        let waker = cx.spawn(move |_cx| u.unpark());
        cx.park();
        cx.join(waker);
        "done"
    });
    assert_eq!(h.join(), "done");
}

#[test]
fn other_threads_run_coroutines_while_the_loop_sleeps() {
    // The loop releases the global mutex while it sleeps: a thread that
    // takes the mutex can run a coroutine meanwhile, and tells the
    // sleeping task so.
    let lp = Loop::new().unwrap();
    let task = lp.spawn(|cx| {
        let u = cx.unparker();
        let thread = std::thread::spawn(move || {
            let mut guard = costack::lock();
            let mut co = Coroutine::new(|_: &mut Yielder<(), ()>, ()| 3u8);
            let step = co.resume(&mut guard, ());
            drop(guard);
            u.unpark();
            step
        });
        cx.park(); // sleeps in epoll without the mutex until the unpark
        thread.join().unwrap()
    });
    assert_eq!(task.join(), Step::Return(3));
}

#[test]
fn dropping_a_join_handle_detaches_the_task() {
    let drops = Rc::new(Cell::new(0));
    let ran = Rc::new(Cell::new(false));
    let lp = Loop::new().unwrap();
    let (d, r) = (drops.clone(), ran.clone());
    let h = lp.spawn(move |cx| {
        cx.yield_now();
        r.set(true);
        CountDrop(d) // the result: dropped by the task, nobody joins it
    });
    drop(h); // before the task even started
    let panicky = lp.spawn(|_cx| -> () { panic!("nobody joins this") });
    drop(panicky);
    lp.run().unwrap(); // neither the drop nor the panic reaches here
    assert!(ran.get());
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_finished_tasks_value_is_dropped_with_its_handle() {
    let drops = Rc::new(Cell::new(0));
    let lp = Loop::new().unwrap();
    let d = drops.clone();
    let h = lp.spawn(move |_cx| CountDrop(d));
    lp.run().unwrap();
    assert!(h.is_finished());
    assert_eq!(drops.get(), 0);
    drop(h);
    assert_eq!(drops.get(), 1);
}

#[test]
fn run_blocking_runs_on_another_thread_and_carries_panics() {
    let lp = Loop::new().unwrap();
    let here = std::thread::current().id();
    let h = lp.spawn(move |cx| {
        let there = cx.run_blocking(|| std::thread::current().id()).unwrap();
        let sum = cx.run_blocking(|| (1..=100u32).sum::<u32>()).unwrap();
        let err = catch_unwind(AssertUnwindSafe(|| {
            cx.run_blocking(|| -> () { panic!("on the worker") })
        }))
        .unwrap_err();
        (there, sum, panic_message(&*err))
    });
    let (there, sum, msg) = h.join();
    assert_ne!(there, here);
    assert_eq!(sum, 5050);
    assert_eq!(msg, "on the worker");
}

#[test]
fn global_cells_take_the_task_context_as_proof() {
    static SEEN: GlobalCell<u32> = GlobalCell::new(0);
    let lp = Loop::new().unwrap();
    for _ in 0..5 {
        lp.spawn(|cx: &mut TaskCx<'_>| {
            let n = SEEN.get(cx);
            cx.yield_now();
            SEEN.set(cx, n + 1);
        });
    }
    lp.run().unwrap();
    // Each task read before any wrote: the interleaving is the loop's.
    assert_eq!(SEEN.get(&costack::lock()), 1);
}

#[test]
fn the_loop_is_run_outside_coroutines_without_the_mutex() {
    let lp = Rc::new(Loop::new().unwrap());
    let inner = lp.clone();
    let h = lp.spawn(move |_cx| {
        let err = catch_unwind(AssertUnwindSafe(|| inner.run())).unwrap_err();
        panic_message(&*err)
    });
    assert!(h.join().contains("inside a coroutine"));

    let guard = costack::lock();
    let err = catch_unwind(AssertUnwindSafe(|| lp.run())).unwrap_err();
    assert!(panic_message(&*err).contains("holds the global mutex"));
    drop(guard);
    lp.run().unwrap();
}

#[test]
fn spawn_with_checks_the_builder() {
    let lp = Loop::new().unwrap();
    let err = lp
        .spawn_with(&costack::Builder::new().stack_size(1024), |_cx| ())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let h = lp
        .spawn_with(&costack::Builder::new().stack_size(64 << 10), |_cx| 9)
        .unwrap();
    assert_eq!(h.join(), 9);
}

#[test]
fn dropping_a_loop_with_a_waiting_task_leaks_it_quietly() {
    let drops = Rc::new(Cell::new(0));
    let lp = Loop::new().unwrap();
    let q = Rc::new(Queue::new());
    let (d, q2) = (CountDrop(drops.clone()), q.clone());
    lp.spawn(move |cx| {
        let _d = d;
        q2.wait(cx);
    });
    assert_eq!(lp.run_once().unwrap(), 1);
    drop(lp);
    // The task is never resumed, so what its stack holds is never dropped.
    assert_eq!(drops.get(), 0);
    assert!(!q.is_empty());
}

#[test]
fn a_join_that_the_loop_stop_interrupts_panics_and_detaches() {
    let lp = Loop::new().unwrap();
    let stop = lp.stop_handle();
    let q = Rc::new(Queue::new());
    let (q2, done) = (q.clone(), Rc::new(Cell::new(false)));
    let d = done.clone();
    let h = lp.spawn(move |cx| {
        stop.stop();
        q2.wait(cx);
        d.set(true);
    });
    let err = catch_unwind(AssertUnwindSafe(|| h.join())).unwrap_err();
    assert!(panic_message(&*err).contains("JoinHandle::join"));
    // The task lives on, detached.
    assert_eq!(q.notify_all(), 1);
    lp.run().unwrap();
    assert!(done.get());
}

#[test]
fn a_task_that_joins_itself_panics() {
    let lp = Loop::new().unwrap();
    let slot: Rc<RefCell<Option<costack::JoinHandle<()>>>> = Rc::default();
    let msg = Rc::new(RefCell::new(String::new()));
    let (s, m) = (slot.clone(), msg.clone());
    let h = lp.spawn(move |cx| {
        cx.yield_now();
        let me = s.borrow_mut().take().unwrap();
        let err = catch_unwind(AssertUnwindSafe(|| cx.join(me))).unwrap_err();
        *m.borrow_mut() = panic_message(&*err);
    });
    *slot.borrow_mut() = Some(h);
    lp.run().unwrap();
    assert!(msg.borrow().contains("TaskCx::join"), "{}", msg.borrow());
}

#[test]
fn eight_threads_unpark_thousands_of_tasks_each_once() {
    // Cross-thread wakes under load: every task parks once and is unparked
    // by one of 8 threads; each must run to its end exactly once.
    const TASKS: usize = 4000;
    const THREADS: usize = 8;
    let lp = Loop::new().unwrap();
    let ran = Rc::new(Cell::new(0usize));
    let mut senders = Vec::new();
    let mut threads = Vec::new();
    for _ in 0..THREADS {
        let (tx, rx) = mpsc::channel::<costack::Unparker>();
        senders.push(tx);
        threads.push(std::thread::spawn(move || {
            let mut n = 0usize;
            for unparker in rx {
                unparker.unpark();
                n += 1;
            }
            n
        }));
    }
    let small = costack::Builder::new().stack_size(64 << 10);
    for i in 0..TASKS {
        let tx = senders[i % THREADS].clone();
        let ran = ran.clone();
        lp.spawn_with(&small, move |cx| {
            tx.send(cx.unparker()).unwrap();
            drop(tx);
            cx.park();
            ran.set(ran.get() + 1);
        })
        .unwrap();
    }
    drop(senders); // the threads end when every task's sender is gone
    lp.run().unwrap();
    assert_eq!(ran.get(), TASKS);
    let unparked: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(unparked, TASKS);
}
