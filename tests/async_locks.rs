//! costack's safe `Queue`, `Mutex` and `RwLock` waited on by coroutines
//! driven as futures (`CoFuture`), on tokio's `current_thread` runtime and
//! on `futures_executor`: a waiting coroutine is woken through its wake
//! hook, and continues inside its own task's poll, never inside another's.

use costack::{CoFuture, Mutex, Queue, RwLock, Waiter};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

thread_local! {
    /// The name of the task whose poll runs now (set by `Named`).
    static POLLING: Cell<&'static str> = const { Cell::new("") };
}

/// Polls its future with `POLLING` set to its name.
struct Named<F>(&'static str, Pin<Box<F>>);

impl<F: Future> Future for Named<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let outer = POLLING.replace(self.0);
        let r = self.1.as_mut().poll(cx);
        POLLING.set(outer);
        r
    }
}

fn named<R: 'static>(name: &'static str, f: CoFuture<R>) -> Named<CoFuture<R>> {
    Named(name, Box::pin(f))
}

/// Pending once (waking its task at once), then ready: lets the other
/// futures of the executor run.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

fn yield_once() -> YieldOnce {
    YieldOnce(false)
}

/// Polls every future, in order, at each poll, until all are done: a join
/// for `futures_executor::block_on`, whose single waker they all share.
async fn join_all(futs: Vec<Pin<Box<dyn Future<Output = ()>>>>) {
    let mut futs: Vec<_> = futs.into_iter().map(Some).collect();
    std::future::poll_fn(move |cx| {
        for slot in futs.iter_mut() {
            if let Some(f) = slot {
                if f.as_mut().poll(cx).is_ready() {
                    *slot = None;
                }
            }
        }
        if futs.iter().all(Option::is_none) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Lets the executor run the other futures until `cond` holds. The tests
/// order their steps with it, not with the order of polls: a poll that
/// finds the global mutex held by another test's thread returns `Pending`
/// without running its coroutine, and the next poll may be another task's.
fn wait_until(w: &mut Waiter, cond: impl Fn() -> bool) {
    while !cond() {
        w.wait(yield_once());
    }
}

type Log = Rc<RefCell<Vec<String>>>;

fn log(log: &Log, line: String) {
    log.borrow_mut().push(line);
}

#[tokio::test(flavor = "current_thread")]
async fn a_mutex_hands_over_fifo_between_futures_on_tokio() {
    let m = Rc::new(Mutex::new(Vec::new()));
    let events: Log = Rc::default();
    // 1: the holder has it; 2, 3: `first`, then `second`, are about to lock.
    let step = Rc::new(Cell::new(0));
    let local = tokio::task::LocalSet::new();
    {
        let (m, events, step) = (m.clone(), events.clone(), step.clone());
        local.spawn_local(named(
            "holder",
            CoFuture::new(move |w| {
                let mut g = m.lock(w);
                log(&events, format!("holder locked in {}", POLLING.get()));
                step.set(1);
                // Held across the executor's waits: the others queue up.
                wait_until(w, || step.get() == 3);
                w.wait(tokio::time::sleep(Duration::from_millis(1)));
                g.push("holder");
                log(&events, "holder unlocks".into());
                drop(g);
            }),
        ));
    }
    {
        let (m, events, step) = (m.clone(), events.clone(), step.clone());
        local.spawn_local(named(
            "first",
            CoFuture::new(move |w| {
                wait_until(w, || step.get() == 1);
                log(&events, "first locks".into());
                step.set(2);
                let mut g = m.lock(w);
                log(&events, format!("first got it in {}", POLLING.get()));
                g.push("first");
            }),
        ));
    }
    {
        let (m, events, step) = (m.clone(), events.clone(), step.clone());
        local.spawn_local(named(
            "second",
            CoFuture::new(move |w| {
                wait_until(w, || step.get() == 2);
                log(&events, "second locks".into());
                step.set(3);
                let mut g = m.lock(w);
                log(&events, format!("second got it in {}", POLLING.get()));
                // The guard is held across a timer of the executor.
                w.wait(tokio::time::sleep(Duration::from_millis(1)));
                g.push("second");
            }),
        ));
    }
    local.await;
    assert_eq!(
        *events.borrow(),
        [
            "holder locked in holder",
            "first locks",
            "second locks",
            "holder unlocks",
            "first got it in first",
            "second got it in second",
        ]
    );
    let m = Rc::try_unwrap(m).unwrap();
    assert_eq!(m.into_inner(), ["holder", "first", "second"]);
    assert!(!costack::lock_held());
}

#[test]
fn a_mutex_hands_over_between_futures_on_futures_executor() {
    let m = Rc::new(Mutex::new(0u32));
    let events: Log = Rc::default();
    // 1: the holder has it; 2: the contender is about to lock.
    let step = Rc::new(Cell::new(0));
    let holder = {
        let (m, events, step) = (m.clone(), events.clone(), step.clone());
        named(
            "holder",
            CoFuture::new(move |w| {
                let mut g = m.lock(w);
                log(&events, "holder locked".into());
                step.set(1);
                wait_until(w, || step.get() == 2);
                *g += 1;
                log(&events, "holder unlocks".into());
            }),
        )
    };
    let contender = {
        let (m, events, step) = (m.clone(), events.clone(), step.clone());
        named(
            "contender",
            CoFuture::new(move |w| {
                wait_until(w, || step.get() == 1);
                assert!(m.try_lock(w).is_none(), "the holder has it");
                log(&events, "contender locks".into());
                step.set(2);
                let mut g = m.lock(w);
                assert_eq!(*g, 1, "the holder's change is in");
                *g += 1;
                log(&events, format!("contender got it in {}", POLLING.get()));
            }),
        )
    };
    futures_executor::block_on(join_all(vec![Box::pin(holder), Box::pin(contender)]));
    assert_eq!(
        *events.borrow(),
        [
            "holder locked",
            "contender locks",
            "holder unlocks",
            "contender got it in contender"
        ]
    );
    assert_eq!(Rc::try_unwrap(m).unwrap().into_inner(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn a_queue_notify_from_one_future_wakes_another() {
    let q = Rc::new(Queue::new());
    let events: Log = Rc::default();
    let local = tokio::task::LocalSet::new();
    let waiting = Rc::new(Cell::new(false));
    let waiter = {
        let (q, events, waiting) = (q.clone(), events.clone(), waiting.clone());
        local.spawn_local(named(
            "waiter",
            CoFuture::new(move |w| {
                log(&events, format!("waiting in {}", POLLING.get()));
                waiting.set(true);
                q.wait(w);
                log(&events, format!("woken in {}", POLLING.get()));
                // Rust waits still work after a costack wait.
                w.wait(tokio::time::sleep(Duration::from_millis(1)));
                "waiter done"
            }),
        ))
    };
    let notifier = {
        let (q, events) = (q.clone(), events.clone());
        local.spawn_local(named(
            "notifier",
            CoFuture::new(move |w| {
                wait_until(w, || waiting.get());
                assert!(!q.is_empty(), "the waiter waits");
                assert!(q.notify_one());
                assert!(!q.notify_one(), "nobody else waits");
                log(&events, format!("notified in {}", POLLING.get()));
                "notifier done"
            }),
        ))
    };
    local
        .run_until(async {
            assert_eq!(waiter.await.unwrap(), "waiter done");
            assert_eq!(notifier.await.unwrap(), "notifier done");
        })
        .await;
    assert_eq!(
        *events.borrow(),
        [
            "waiting in waiter",
            "notified in notifier",
            "woken in waiter"
        ]
    );
    assert!(q.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_future_waiting_at_the_head_is_woken_first() {
    let q = Rc::new(Queue::new());
    let events: Log = Rc::default();
    let waiting = Rc::new(Cell::new(0));
    let local = tokio::task::LocalSet::new();
    for (name, head) in [("tail", false), ("head", true)] {
        let (q, events, waiting) = (q.clone(), events.clone(), waiting.clone());
        local.spawn_local(named(
            name,
            CoFuture::new(move |w| {
                // The tail waits first, then the head goes in front of it.
                wait_until(w, || waiting.get() == usize::from(head));
                waiting.set(waiting.get() + 1);
                if head {
                    q.wait_head(w);
                } else {
                    q.wait(w);
                }
                log(&events, format!("{name} woken in {}", POLLING.get()));
            }),
        ));
    }
    {
        let (q, events) = (q.clone(), events.clone());
        local.spawn_local(CoFuture::new(move |w| {
            wait_until(w, || waiting.get() == 2);
            assert!(q.notify_one());
            wait_until(w, || !events.borrow().is_empty());
            assert!(!q.is_empty(), "one still waits");
            assert_eq!(q.notify_all(), 1);
        }));
    }
    local.await;
    assert_eq!(
        *events.borrow(),
        ["head woken in head", "tail woken in tail"]
    );
    assert!(q.is_empty());
}

#[test]
fn an_rwlock_shares_readers_and_queues_a_reader_behind_a_waiting_writer() {
    let l = Rc::new(RwLock::new(0u32));
    let events: Log = Rc::default();
    // 1: r1 reads; 2: the writer is about to lock; 3: r2 is about to.
    let step = Rc::new(Cell::new(0));
    let first_reader = {
        let (l, events, step) = (l.clone(), events.clone(), step.clone());
        named(
            "r1",
            CoFuture::new(move |w| {
                let g = l.read(w);
                log(&events, format!("r1 reads {}", *g));
                step.set(1);
                wait_until(w, || step.get() == 3);
                log(&events, "r1 unlocks".into());
                drop(g);
            }),
        )
    };
    let writer = {
        let (l, events, step) = (l.clone(), events.clone(), step.clone());
        named(
            "writer",
            CoFuture::new(move |w| {
                wait_until(w, || step.get() == 1);
                log(&events, "writer waits".into());
                step.set(2);
                let mut g = l.write(w);
                *g += 1;
                log(&events, format!("writer writes in {}", POLLING.get()));
                let g = g.downgrade();
                assert_eq!(*g, 1);
            }),
        )
    };
    let second_reader = {
        let (l, events, step) = (l.clone(), events.clone(), step.clone());
        named(
            "r2",
            CoFuture::new(move |w| {
                wait_until(w, || step.get() == 2);
                log(&events, "r2 waits".into());
                step.set(3);
                // It could share with r1, but the writer waits first.
                let g = l.read(w);
                log(&events, format!("r2 reads {} in {}", *g, POLLING.get()));
                let mut g = g.upgrade(w);
                *g += 1;
            }),
        )
    };
    futures_executor::block_on(join_all(vec![
        Box::pin(first_reader),
        Box::pin(writer),
        Box::pin(second_reader),
    ]));
    assert_eq!(
        *events.borrow(),
        [
            "r1 reads 0",
            "writer waits",
            "r2 waits",
            "r1 unlocks",
            "writer writes in writer",
            "r2 reads 1 in r2",
        ]
    );
    assert_eq!(Rc::try_unwrap(l).unwrap().into_inner(), 2);
}

#[test]
fn a_future_locks_a_mutex_that_loop_code_shares_the_same_way() {
    use costack::{Loop, WaitCx};

    /// Written once for both kinds of task.
    fn bump<'t>(m: &Mutex<u32>, cx: &mut impl WaitCx<'t>) -> u32 {
        let mut g = m.lock(cx);
        *g += 1;
        *g
    }

    let m = Rc::new(Mutex::new(0));
    let lp = Loop::new().unwrap();
    let m2 = m.clone();
    assert_eq!(lp.spawn(move |cx| bump(&m2, cx)).join(), 1);
    let m2 = m.clone();
    assert_eq!(
        futures_executor::block_on(CoFuture::new(move |w| bump(&m2, w))),
        2
    );
}

#[test]
fn dropping_a_future_that_holds_a_guard_unlocks_and_hands_the_mutex_over() {
    let m = Rc::new(Mutex::new(0u32));
    let (locked, queued) = (Rc::new(Cell::new(false)), Rc::new(Cell::new(false)));
    let mut holder = {
        let (m, locked) = (m.clone(), locked.clone());
        Box::pin(CoFuture::new(move |w| {
            let mut g = m.lock(w);
            *g += 1;
            locked.set(true);
            // Cancelled here: the stack unwinds, and the guard's drop
            // unlocks in this coroutine.
            w.wait(std::future::pending::<()>());
        }))
    };
    let mut contender = {
        let (m, queued) = (m.clone(), queued.clone());
        Box::pin(CoFuture::new(move |w| {
            queued.set(true);
            let g = m.lock(w);
            *g
        }))
    };
    let mut cx = Context::from_waker(std::task::Waker::noop());
    // A poll is `Pending` without running while another test's thread
    // holds the global mutex: poll until each got where it must be.
    while !locked.get() {
        assert!(holder.as_mut().poll(&mut cx).is_pending());
    }
    while !queued.get() {
        assert!(contender.as_mut().poll(&mut cx).is_pending());
    }
    assert!(
        contender.as_mut().poll(&mut cx).is_pending(),
        "it waits for the lock"
    );
    drop(holder);
    let got = loop {
        if let Poll::Ready(v) = contender.as_mut().poll(&mut cx) {
            break v;
        }
    };
    assert_eq!(got, 1, "handed over with the holder's change");
    assert_eq!(Rc::try_unwrap(m).unwrap().into_inner(), 1);
}
