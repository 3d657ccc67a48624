//! The async bridge on tokio: timers on `current_thread`, `LocalSet`,
//! 10,000 sleeping coroutines at once, a multi-thread runtime through
//! `into_send`, and coroutines driven as futures that wait on the C core's
//! queues and waits (woken through their wake hook, run inside their own
//! task's poll).

use costack::{sys, Builder, CoFuture, CoStream, GlobalCell};
use futures_core::Stream;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::ptr;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

fn small() -> Builder {
    Builder::new()
        .stack_size(Builder::MIN_STACK_SIZE)
        .guard_size(4096)
}

#[tokio::test(flavor = "current_thread")]
async fn timers_on_current_thread() {
    let start = Instant::now();
    let v = CoFuture::new(|w| {
        let mut n = 0;
        for _ in 0..3 {
            w.wait(tokio::time::sleep(Duration::from_millis(5)));
            n += 1;
        }
        n
    })
    .await;
    assert_eq!(v, 3);
    assert!(start.elapsed() >= Duration::from_millis(15));
}

#[tokio::test(flavor = "current_thread")]
async fn timeouts_race_a_coroutine() {
    let slow = CoFuture::new(|w| w.wait(tokio::time::sleep(Duration::from_secs(60))));
    let r = tokio::time::timeout(Duration::from_millis(5), slow).await;
    assert!(r.is_err(), "the timeout dropped (cancelled) the coroutine");
    assert!(!costack::lock_held());
}

#[tokio::test(flavor = "current_thread")]
async fn ten_thousand_sleeping_coroutines_on_current_thread() {
    const N: usize = 10_000;
    let local = tokio::task::LocalSet::new();
    let woke = Rc::new(Cell::new(0usize));
    local
        .run_until(async {
            let mut handles = Vec::with_capacity(N);
            for i in 0..N {
                let woke = woke.clone();
                let f = small()
                    .build_future(move |w| {
                        w.wait(tokio::time::sleep(Duration::from_millis(
                            1 + (i % 20) as u64,
                        )));
                        woke.set(woke.get() + 1);
                        i
                    })
                    .unwrap();
                handles.push(tokio::task::spawn_local(f));
            }
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            assert_eq!(sum, N * (N - 1) / 2);
        })
        .await;
    assert_eq!(woke.get(), N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn into_send_runs_on_a_multi_thread_runtime() {
    let mut handles = Vec::new();
    for i in 0..50u64 {
        let f = small()
            .build_future(move |w| {
                let mut acc = i;
                for _ in 0..3 {
                    w.wait(tokio::time::sleep(Duration::from_millis(1)));
                    w.wait(tokio::task::yield_now());
                    acc += 1;
                }
                acc
            })
            .unwrap();
        // SAFETY: the coroutine holds only integers and tokio's (Send)
        // futures across its waits.
        handles.push(tokio::spawn(unsafe { f.into_send() }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    assert_eq!(total, (0..50).sum::<u64>() + 150);
}

#[tokio::test(flavor = "current_thread")]
async fn a_stream_on_tokio_interleaves_sleeps_and_items() {
    let mut s = Box::pin(CoStream::new(|w| {
        for i in 0..4 {
            w.wait(tokio::time::sleep(Duration::from_millis(1)));
            w.yield_item(i);
            w.yield_item(i * 100);
        }
    }));
    let mut got = Vec::new();
    while let Some(v) = std::future::poll_fn(|cx| s.as_mut().poll_next(cx)).await {
        got.push(v);
    }
    assert_eq!(got, [0, 0, 1, 100, 2, 200, 3, 300]);
}

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

/// A `CostackQueue` shared by coroutines; used with the mutex held.
struct Queue(std::cell::UnsafeCell<sys::CostackQueue>);
// SAFETY: touched only by coroutines, with the global mutex held.
unsafe impl Sync for Queue {}

#[tokio::test(flavor = "current_thread")]
async fn c_queue_waits_wake_the_task_and_run_in_its_own_poll() {
    static Q: Queue = Queue(std::cell::UnsafeCell::new(sys::CostackQueue {
        first_: ptr::null_mut(),
        last_: ptr::null_mut(),
        debug_thread_: ptr::null_mut(),
    }));
    static LOG: GlobalCell<Vec<String>> = GlobalCell::new(Vec::new());
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let waiter = tokio::task::spawn_local(Named(
                "waiter",
                Box::pin(CoFuture::new(|w| {
                    LOG.borrow_mut(w)
                        .push(format!("waiting in {}", POLLING.get()));
                    // SAFETY: in a coroutine, with the mutex held (the
                    // poll took it); the queue is a valid static.
                    unsafe { sys::costack_queue_wait(Q.0.get()) };
                    LOG.borrow_mut(w)
                        .push(format!("woken in {}", POLLING.get()));
                    // Rust waits still work after a C wait.
                    w.wait(tokio::time::sleep(Duration::from_millis(1)));
                    "waiter done"
                })),
            ));
            let waker = tokio::task::spawn_local(Named(
                "waker",
                Box::pin(CoFuture::new(|w| {
                    w.wait(tokio::time::sleep(Duration::from_millis(5)));
                    // SAFETY: as above.
                    let n = unsafe { sys::costack_queue_next(Q.0.get()) };
                    LOG.borrow_mut(w)
                        .push(format!("woke {n} in {}", POLLING.get()));
                    w.wait(tokio::time::sleep(Duration::from_millis(5)));
                    "waker done"
                })),
            ));
            assert_eq!(waiter.await.unwrap(), "waiter done");
            assert_eq!(waker.await.unwrap(), "waker done");
        })
        .await;
    let guard = costack::lock();
    assert_eq!(
        *LOG.borrow(&guard),
        ["waiting in waiter", "woke 1 in waker", "woken in waiter"]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_raw_wait_woken_from_outside_any_coroutine() {
    struct Raw(Cell<*mut sys::CostackCoroutine>);
    // SAFETY: test-only; used on this thread with the mutex held.
    unsafe impl Sync for Raw {}
    let me = Rc::new(Raw(Cell::new(ptr::null_mut())));
    let m = me.clone();
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async move {
            let h = tokio::task::spawn_local(CoFuture::new(move |_w| {
                // SAFETY: reads this thread's state.
                m.0.set(unsafe { sys::costack_self() });
                // SAFETY: in a coroutine; no detach needed.
                unsafe { sys::costack_wait(None, ptr::null_mut()) };
                17
            }));
            // Until its poll ran it: a poll that finds the global mutex held
            // by another test's thread returns Pending without running, and
            // its task is polled again at that thread's release.
            while me.0.get().is_null() {
                tokio::task::yield_now().await;
            }
            let co = me.0.get();
            {
                let _g = costack::lock();
                // SAFETY: co waits in costack_wait; the mutex is held. Its
                // hook wakes its task instead of entering it here.
                unsafe {
                    assert_eq!(sys::costack_waiting(co), 1);
                    sys::costack_wake(co);
                }
            }
            assert_eq!(h.await.unwrap(), 17);
        })
        .await;
}

#[test]
fn dropping_a_future_in_a_c_wait_leaks_it_with_a_message() {
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let dropped = Rc::new(Cell::new(false));
    let flag = Flag(dropped.clone());
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let mut f = Box::pin(
        small()
            .build_future(move |_w| {
                let _flag = flag;
                r.set(true);
                // SAFETY: in a coroutine; nobody wakes it.
                unsafe { sys::costack_wait(None, ptr::null_mut()) };
            })
            .unwrap(),
    );
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    // Pending until it ran (another test's thread may hold the mutex).
    while !ran.get() {
        assert!(f.as_mut().poll(&mut cx).is_pending());
    }
    drop(f); // leaked: one `costack:` line on stderr
    assert!(!dropped.get(), "leaked: its destructors do not run");
    assert!(!costack::lock_held());
}

/// A `CostackMutex` shared by coroutines; used with the mutex held.
struct CMutex(std::cell::UnsafeCell<sys::CostackMutex>);
// SAFETY: touched only by coroutines, with the global mutex held.
unsafe impl Sync for CMutex {}

#[tokio::test(flavor = "current_thread")]
async fn a_c_mutex_hands_over_to_a_waiting_future_through_its_waker() {
    static M: CMutex = CMutex(std::cell::UnsafeCell::new(sys::CostackMutex {
        holder_: ptr::null_mut(),
        waiters_: sys::CostackQueue {
            first_: ptr::null_mut(),
            last_: ptr::null_mut(),
            debug_thread_: ptr::null_mut(),
        },
    }));
    static ORDER: GlobalCell<Vec<&str>> = GlobalCell::new(Vec::new());
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let holder = tokio::task::spawn_local(Named(
                "holder",
                Box::pin(CoFuture::new(|w| {
                    // SAFETY: in a coroutine, with the global mutex held.
                    unsafe { sys::costack_mutex_lock(M.0.get()) };
                    ORDER.borrow_mut(w).push("holder locked");
                    // Holds the costack mutex across a tokio wait.
                    w.wait(tokio::time::sleep(Duration::from_millis(10)));
                    ORDER.borrow_mut(w).push("holder unlocks");
                    // SAFETY: this coroutine holds it.
                    unsafe { sys::costack_mutex_unlock(M.0.get()) };
                })),
            ));
            let contender = tokio::task::spawn_local(Named(
                "contender",
                Box::pin(CoFuture::new(|w| {
                    w.wait(tokio::time::sleep(Duration::from_millis(2)));
                    ORDER.borrow_mut(w).push("contender locks");
                    // SAFETY: as above; waits (costack_wait) until handed
                    // the mutex.
                    unsafe { sys::costack_mutex_lock(M.0.get()) };
                    assert_eq!(POLLING.get(), "contender", "runs in its own poll");
                    ORDER.borrow_mut(w).push("contender got it");
                    // SAFETY: this coroutine holds it.
                    unsafe { sys::costack_mutex_unlock(M.0.get()) };
                })),
            ));
            holder.await.unwrap();
            contender.await.unwrap();
        })
        .await;
    let guard = costack::lock();
    assert_eq!(
        *ORDER.borrow(&guard),
        [
            "holder locked",
            "contender locks",
            "holder unlocks",
            "contender got it"
        ]
    );
}
