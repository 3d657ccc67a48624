//! Queues, mutexes and rwlocks between the tasks of a loop: wake order,
//! timeouts, FIFO hand-off, fairness, upgrade and downgrade.

use costack::{Loop, Mutex, Queue, RwLock, TaskCx};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

type Log = Rc<RefCell<Vec<String>>>;

fn log(log: &Log, entry: impl Into<String>) {
    log.borrow_mut().push(entry.into());
}

fn entries(log: &Log) -> Vec<String> {
    log.borrow().clone()
}

#[test]
fn a_queue_wakes_its_waiters_in_arrival_order() {
    let lp = Loop::new().unwrap();
    let q = Rc::new(Queue::new());
    let l: Log = Rc::default();
    for id in 0..4 {
        let (q, l) = (q.clone(), l.clone());
        lp.spawn(move |cx| {
            q.wait(cx);
            log(&l, format!("woken {id}"));
        });
    }
    assert_eq!(lp.run_once().unwrap(), 4); // all four wait now
    assert!(!q.is_empty());
    let (q2, l2) = (q.clone(), l.clone());
    lp.spawn(move |cx| {
        assert!(q2.notify_one());
        assert!(q2.notify_one());
        cx.yield_now(); // the two woken run before this task goes on
        log(&l2, "notifier");
        assert_eq!(q2.notify_all(), 2);
        assert!(!q2.notify_one());
    });
    lp.run().unwrap();
    assert!(q.is_empty());
    assert_eq!(
        entries(&l),
        ["woken 0", "woken 1", "notifier", "woken 2", "woken 3"]
    );
}

#[test]
fn a_woken_task_runs_after_its_waker_suspends() {
    // QEMU's order: a wake from inside a task does not switch; the woken
    // task runs once the waker waits (or ends).
    let lp = Loop::new().unwrap();
    let q = Rc::new(Queue::new());
    let l: Log = Rc::default();
    let (q1, l1) = (q.clone(), l.clone());
    lp.spawn(move |cx| {
        q1.wait(cx);
        log(&l1, "woken");
    });
    let (q2, l2) = (q.clone(), l.clone());
    lp.spawn(move |_cx| {
        log(&l2, "before notify");
        q2.notify_one();
        log(&l2, "after notify");
    });
    lp.run().unwrap();
    assert_eq!(entries(&l), ["before notify", "after notify", "woken"]);
}

#[test]
fn wait_head_goes_before_the_waiters() {
    let lp = Loop::new().unwrap();
    let q = Rc::new(Queue::new());
    let l: Log = Rc::default();
    for (id, head) in [(0, false), (1, false), (2, true)] {
        let (q, l) = (q.clone(), l.clone());
        lp.spawn(move |cx| {
            if head {
                q.wait_head(cx);
            } else {
                q.wait(cx);
            }
            log(&l, format!("{id}"));
        });
    }
    lp.run_once().unwrap();
    assert_eq!(q.notify_all(), 3);
    lp.run().unwrap();
    assert_eq!(entries(&l), ["2", "0", "1"]);
}

#[test]
fn queue_waits_time_out_or_are_woken() {
    let lp = Loop::new().unwrap();
    let q = Rc::new(Queue::new());
    let q1 = q.clone();
    let timed_out = lp.spawn(move |cx| {
        let woken = q1.wait_timeout(cx, Duration::from_millis(5));
        (woken, q1.is_empty())
    });
    assert_eq!(timed_out.join(), (false, true));

    let q2 = q.clone();
    let woken = lp.spawn(move |cx| q2.wait_timeout(cx, Duration::from_secs(3600)));
    let q3 = q.clone();
    lp.spawn(move |cx| {
        cx.sleep(Duration::from_millis(1));
        assert!(q3.notify_one());
    });
    assert!(woken.join());
    assert!(q.is_empty());
}

#[test]
fn mutex_unlock_hands_over_in_fifo_order_without_barging() {
    let lp = Loop::new().unwrap();
    let m = Rc::new(Mutex::new(Vec::<String>::new()));
    // "a" takes the mutex, "b", "c", "d" queue up behind it in that order;
    // "a" unlocks and relocks at once: it must queue behind "d".
    let m1 = m.clone();
    lp.spawn(move |cx| {
        let mut g = m1.lock(cx);
        g.push("a".into());
        cx.yield_now(); // the others try to lock meanwhile
        drop(g);
        m1.lock(cx).push("a again".into());
    });
    for name in ["b", "c", "d"] {
        let m = m.clone();
        lp.spawn(move |cx| {
            let mut g = m.lock(cx);
            g.push(name.into());
            cx.yield_now(); // hold it across a suspend
        });
    }
    lp.run().unwrap();
    let m = Rc::try_unwrap(m).unwrap();
    assert_eq!(m.into_inner(), ["a", "b", "c", "d", "a again"]);
}

#[test]
fn try_lock_fails_while_another_task_holds_the_mutex() {
    let lp = Loop::new().unwrap();
    let m = Rc::new(Mutex::new(0));
    let m1 = m.clone();
    let holder = lp.spawn(move |cx| {
        let mut g = m1.lock(cx);
        cx.sleep(Duration::from_millis(2));
        *g += 1;
    });
    let m2 = m.clone();
    let tryer = lp.spawn(move |cx: &mut TaskCx<'_>| {
        let busy = m2.try_lock(cx).is_none();
        let n = *m2.lock(cx); // waits for the holder
        let free = m2.try_lock(cx).is_some();
        (busy, n, free)
    });
    holder.join();
    assert_eq!(tryer.join(), (true, 1, true));
}

#[test]
fn a_mutex_keeps_read_modify_write_across_waits_whole() {
    let lp = Loop::new().unwrap();
    let counter = Rc::new(Mutex::new(0u32));
    for i in 0..8u64 {
        let counter = counter.clone();
        lp.spawn(move |cx| {
            for _ in 0..3 {
                let mut g = counter.lock(cx);
                let seen = *g;
                cx.sleep(Duration::from_micros(100 * (i % 3)));
                *g = seen + 1;
            }
        });
    }
    lp.run().unwrap();
    assert_eq!(Rc::try_unwrap(counter).unwrap().into_inner(), 24);
}

#[test]
fn readers_share_and_a_writer_excludes_them() {
    let lp = Loop::new().unwrap();
    let l = Rc::new(RwLock::new(0u32));
    let together = Rc::new(RefCell::new((0u32, 0u32))); // (now, most)
    for _ in 0..3 {
        let (l, together) = (l.clone(), together.clone());
        lp.spawn(move |cx| {
            let g = l.read(cx);
            {
                let mut t = together.borrow_mut();
                t.0 += 1;
                t.1 = t.1.max(t.0);
            }
            cx.yield_now();
            together.borrow_mut().0 -= 1;
            *g
        });
    }
    lp.run().unwrap();
    assert_eq!(
        together.borrow().1,
        3,
        "the readers did not hold the lock together"
    );

    let l2 = l.clone();
    let w = lp.spawn(move |cx| {
        let mut g = l2.write(cx);
        *g = 5;
        cx.yield_now();
        *g += 1;
    });
    let l3 = l.clone();
    let r = lp.spawn(move |cx| *l3.read(cx));
    w.join();
    assert_eq!(r.join(), 6, "a reader saw the writer's half-done update");
}

#[test]
fn rwlock_is_fair_a_reader_queues_behind_a_waiting_writer() {
    let lp = Loop::new().unwrap();
    let lock = Rc::new(RwLock::new(()));
    let l: Log = Rc::default();
    let task = |name: &'static str, write: bool| {
        let (lock, l) = (lock.clone(), l.clone());
        move |cx: &mut TaskCx<'_>| {
            if write {
                let _g = lock.write(cx);
                log(&l, format!("{name} in"));
                cx.yield_now();
                log(&l, format!("{name} out"));
            } else {
                let _g = lock.read(cx);
                log(&l, format!("{name} in"));
                cx.yield_now();
                cx.yield_now();
                log(&l, format!("{name} out"));
            }
        }
    };
    // r1 reads; w arrives and waits; r2 arrives while w waits, so it
    // waits too, although only readers hold the lock.
    lp.spawn(task("r1", false));
    lp.spawn(task("w", true));
    lp.spawn(task("r2", false));
    lp.run().unwrap();
    assert_eq!(
        entries(&l),
        ["r1 in", "r1 out", "w in", "w out", "r2 in", "r2 out"]
    );
}

#[test]
fn upgrade_and_downgrade() {
    let lp = Loop::new().unwrap();
    let lock = Rc::new(RwLock::new(Vec::<&str>::new()));
    let (l1, l2) = (lock.clone(), lock.clone());
    let upgrader = lp.spawn(move |cx| {
        let r = l1.read(cx);
        let n = r.len();
        let mut w = r.upgrade(cx); // the only reader: at once
        w.push("upgraded");
        let r = w.downgrade();
        cx.yield_now(); // a reader may join us now
        (n, r.len())
    });
    let reader = lp.spawn(move |cx| {
        let r = l2.read(cx); // waits for the write lock, then shares
        r.clone()
    });
    assert_eq!(upgrader.join(), (0, 1));
    assert_eq!(reader.join(), ["upgraded"]);

    // An upgrade that must wait: another reader holds the lock, so the
    // upgrader releases its read lock and waits as a writer.
    let l: Log = Rc::default();
    let (l3, log3) = (lock.clone(), l.clone());
    lp.spawn(move |cx| {
        let r = l3.read(cx);
        cx.yield_now();
        log(&log3, "other reader out");
        drop(r);
    });
    let (l4, log4) = (lock.clone(), l.clone());
    lp.spawn(move |cx| {
        let r = l4.read(cx);
        let mut w = r.upgrade(cx);
        log(&log4, "writer in");
        w.push("second");
    });
    lp.run().unwrap();
    assert_eq!(entries(&l), ["other reader out", "writer in"]);
    let v = Rc::try_unwrap(lock).unwrap().into_inner();
    assert_eq!(v, ["upgraded", "second"]);
}
