//! The async bridge with a minimal executor (`futures_executor`) and by
//! hand-made polls: ready and pending futures, nesting, panics, drops
//! while suspended, cancellation with `try_wait`, C-level waits through the
//! wake hook, streams, and wakes from other threads.

use costack::{Builder, Cancelled, CoFuture, CoStream, Waiter};
use futures_core::Stream;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// A waker that counts its wakes.
struct Count(AtomicUsize);
impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<Count>, Waker) {
    let c = Arc::new(Count(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

/// A future that is pending `n` times (waking itself each time), then
/// ready with `v`.
struct PendingN<T> {
    n: usize,
    v: Option<T>,
}
impl<T: Unpin> Future for PendingN<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if self.n == 0 {
            Poll::Ready(self.v.take().unwrap())
        } else {
            self.n -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// The tests of this file one at a time: a poll made while another test's
/// thread holds the global mutex returns `Pending` without running the
/// coroutine (as it should), which the exact counts below do not expect.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn small() -> Builder {
    Builder::new().stack_size(64 << 10)
}

#[test]
fn ready_future_completes_in_one_poll() {
    let _serial = serial();
    let (count, waker) = counting_waker();
    let mut f = pin!(CoFuture::new(|w| w.wait(async { 5 }) * 2));
    assert_eq!(
        f.as_mut().poll(&mut Context::from_waker(&waker)),
        Poll::Ready(10)
    );
    assert_eq!(count.0.load(Ordering::SeqCst), 0);
}

#[test]
fn pending_future_suspends_the_task_each_time() {
    let _serial = serial();
    let (count, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(CoFuture::new(|w| w.wait(PendingN { n: 3, v: Some("x") })));
    for i in 1..=3 {
        assert_eq!(f.as_mut().poll(&mut cx), Poll::Pending);
        assert_eq!(count.0.load(Ordering::SeqCst), i);
    }
    assert_eq!(f.as_mut().poll(&mut cx), Poll::Ready("x"));
}

#[test]
fn block_on_runs_deep_call_chains() {
    let _serial = serial();
    fn depth(w: &mut Waiter, n: u32) -> u32 {
        if n == 0 {
            w.wait(PendingN { n: 2, v: Some(0) })
        } else {
            let below = depth(w, n - 1);
            below + w.wait(async { 1 })
        }
    }
    assert_eq!(
        futures_executor::block_on(CoFuture::new(|w| depth(w, 200))),
        200
    );
}

#[test]
fn nested_costack_futures_run_inside_the_outer_one() {
    let _serial = serial();
    let f = CoFuture::new(|w| {
        let inner = CoFuture::new(|w2| w2.wait(PendingN { n: 2, v: Some(20) }) + 1);
        w.wait(inner) * 2
    });
    assert_eq!(futures_executor::block_on(f), 42);
}

#[test]
#[should_panic(expected = "boom in the coroutine")]
fn a_panic_resumes_in_the_polling_task() {
    let _serial = serial();
    futures_executor::block_on(CoFuture::new(|w| {
        w.wait(PendingN { n: 1, v: Some(()) });
        panic!("boom in the coroutine");
    }));
}

#[test]
fn after_a_panic_the_future_is_finished_and_the_lock_free() {
    let _serial = serial();
    let mut f = Box::pin(CoFuture::new(|_| -> u8 { panic!("x") }));
    let waker = Waker::noop();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = f.as_mut().poll(&mut Context::from_waker(waker));
    }));
    assert!(r.is_err());
    assert!(f.is_finished());
    assert!(!costack::lock_held());
    drop(costack::lock());
}

struct SetOnDrop(Rc<Cell<bool>>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn drop_while_suspended_in_wait_runs_destructors() {
    let _serial = serial();
    let dropped = Rc::new(Cell::new(false));
    let inner_dropped = Rc::new(Cell::new(false));
    let (d, i) = (dropped.clone(), inner_dropped.clone());
    let mut f = Box::pin(
        small()
            .build_future(move |w| {
                let _a = SetOnDrop(d);
                // The awaited future is on the coroutine's stack too.
                let pending = async move {
                    let _b = SetOnDrop(i);
                    std::future::pending::<()>().await
                };
                w.wait(pending);
                unreachable!();
            })
            .unwrap(),
    );
    assert!(f
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending());
    assert!(!dropped.get() && !inner_dropped.get());
    drop(f);
    assert!(dropped.get() && inner_dropped.get());
    assert!(!costack::lock_held());
}

#[test]
fn drop_cancels_try_wait_and_the_coroutine_runs_to_its_end() {
    let _serial = serial();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let mut f = Box::pin(CoFuture::new(move |w| {
        let first = w.try_wait(std::future::pending::<()>());
        l.borrow_mut().push(format!("{first:?}"));
        // Every later try_wait fails at once, without suspending.
        let second = w.try_wait(async { 1 });
        l.borrow_mut()
            .push(format!("{second:?} {}", w.is_cancelled()));
    }));
    assert!(f
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending());
    drop(f);
    assert_eq!(*log.borrow(), ["Err(Cancelled)", "Err(Cancelled) true"]);
}

#[test]
fn cancelled_try_wait_then_wait_unwinds_with_only_rust_frames() {
    let _serial = serial();
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    let mut f = Box::pin(CoFuture::new(move |w| {
        let _a = SetOnDrop(d);
        assert_eq!(w.try_wait(std::future::pending::<()>()), Err(Cancelled));
        w.wait(async {}); // cancelled: unwinds from here
        unreachable!();
    }));
    assert!(f
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending());
    drop(f);
    assert!(dropped.get());
}

#[test]
fn dropping_a_new_or_finished_future_is_plain() {
    let _serial = serial();
    drop(CoFuture::new(|_| 1));
    let mut f = pin!(CoFuture::new(|_| 1));
    assert_eq!(
        f.as_mut().poll(&mut Context::from_waker(Waker::noop())),
        Poll::Ready(1)
    );
}

#[test]
#[should_panic(expected = "polled after it completed")]
fn polling_after_ready_panics() {
    let _serial = serial();
    let mut f = pin!(CoFuture::new(|_| 1));
    let mut cx = Context::from_waker(Waker::noop());
    let _ = f.as_mut().poll(&mut cx);
    let _ = f.as_mut().poll(&mut cx);
}

#[test]
fn a_stream_interleaves_waits_and_yields() {
    let _serial = serial();
    let s = CoStream::new(|w| {
        for i in 0..5u32 {
            let v = w.wait(PendingN {
                n: i as usize,
                v: Some(i),
            });
            w.yield_item(v * 10);
            if i % 2 == 0 {
                w.wait(PendingN { n: 1, v: Some(()) });
            }
        }
    });
    let mut s = pin!(s);
    let items = futures_executor::block_on(std::future::poll_fn(|cx| {
        let mut got = Vec::new();
        loop {
            match s.as_mut().poll_next(cx) {
                Poll::Ready(Some(v)) => got.push(v),
                Poll::Ready(None) => return Poll::Ready(got.clone()),
                Poll::Pending => {
                    // Re-polled at once (the futures wake themselves).
                    continue;
                }
            }
        }
    }));
    assert_eq!(items, [0, 10, 20, 30, 40]);
}

#[test]
fn dropping_a_stream_between_items_unwinds_it() {
    let _serial = serial();
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    let mut s = Box::pin(CoStream::new(move |w| {
        let _a = SetOnDrop(d);
        loop {
            w.yield_item(1);
        }
    }));
    let mut cx = Context::from_waker(Waker::noop());
    assert_eq!(s.as_mut().poll_next(&mut cx), Poll::Ready(Some(1)));
    drop(s);
    assert!(dropped.get());
}

#[test]
fn a_poll_never_blocks_on_the_mutex_held_by_another_thread() {
    let _serial = serial();
    let (count, waker) = counting_waker();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let g = costack::lock();
        locked_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        drop(g); // wakes the task below
    });
    locked_rx.recv().unwrap();
    let mut f = pin!(CoFuture::new(|w| w.wait(async { 3 })));
    let mut cx = Context::from_waker(&waker);
    // Returns at once, although another thread holds the mutex.
    assert_eq!(f.as_mut().poll(&mut cx), Poll::Pending);
    assert!(!f.is_finished());
    assert_eq!(count.0.load(Ordering::SeqCst), 0);
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    assert!(count.0.load(Ordering::SeqCst) >= 1, "woken at the release");
    assert_eq!(f.as_mut().poll(&mut cx), Poll::Ready(3));
}

#[test]
fn a_release_by_c_code_wakes_the_task_too() {
    let _serial = serial();
    let (count, waker) = counting_waker();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        // SAFETY: this thread does not hold the global mutex; the C calls
        // lock it and unlock it on this same thread, as the header asks.
        unsafe { costack::sys::costack_global_lock() };
        locked_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        // SAFETY: this thread holds the mutex, taken above.
        unsafe { costack::sys::costack_global_unlock() }; // wakes the task
    });
    locked_rx.recv().unwrap();
    let mut f = pin!(CoFuture::new(|w| w.wait(async { 4 })));
    let mut cx = Context::from_waker(&waker);
    assert_eq!(f.as_mut().poll(&mut cx), Poll::Pending);
    assert_eq!(count.0.load(Ordering::SeqCst), 0);
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    assert!(
        count.0.load(Ordering::SeqCst) >= 1,
        "woken at the C release"
    );
    assert_eq!(f.as_mut().poll(&mut cx), Poll::Ready(4));
}

#[test]
fn wakes_from_another_thread_reach_the_task() {
    let _serial = serial();
    // A oneshot-style future completed by another thread.
    struct Slot {
        done: std::sync::Mutex<(bool, Option<Waker>)>,
    }
    struct WaitSlot(Arc<Slot>);
    impl Future for WaitSlot {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let mut g = self.0.done.lock().unwrap();
            if g.0 {
                Poll::Ready(())
            } else {
                g.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
    let slot = Arc::new(Slot {
        done: std::sync::Mutex::new((false, None)),
    });
    let s2 = slot.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let w = {
            let mut g = s2.done.lock().unwrap();
            g.0 = true;
            g.1.take()
        };
        if let Some(w) = w {
            w.wake();
            w_late(); // a second, late wake is harmless
        }
        fn w_late() {}
    });
    let v = futures_executor::block_on(CoFuture::new(move |w| {
        w.wait(WaitSlot(slot));
        "woken"
    }));
    assert_eq!(v, "woken");
    t.join().unwrap();
}

/// Late wakes after the future is gone: the waker stays valid and the wake
/// does nothing.
#[test]
fn a_late_waker_after_the_future_is_gone_is_harmless() {
    let _serial = serial();
    let stash: Rc<RefCell<Option<Waker>>> = Rc::new(RefCell::new(None));
    let s = stash.clone();
    let mut f = Box::pin(CoFuture::new(move |w| {
        w.wait(std::future::poll_fn(|cx| {
            *s.borrow_mut() = Some(cx.waker().clone());
            Poll::<()>::Pending
        }))
    }));
    let (count, waker) = counting_waker();
    assert!(f
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    drop(f);
    let late = stash.borrow_mut().take().unwrap();
    std::thread::spawn(move || late.wake()).join().unwrap();
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
}

#[test]
fn a_wait_inside_call_c_is_leaked_at_the_drop_not_unwound() {
    let _serial = serial();
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    let mut f = Box::pin(
        small()
            .build_future(move |w| {
                let _a = SetOnDrop(d);
                // As if C frames were below: nothing may unwind from here.
                w.call_c(|ptr| {
                    // SAFETY: the pointer of this very call_c.
                    let w = unsafe { Waiter::<std::convert::Infallible>::from_raw(ptr) };
                    w.wait(std::future::pending::<()>());
                });
            })
            .unwrap(),
    );
    assert!(f
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending());
    drop(f); // one `costack:` line on stderr
    assert!(!dropped.get(), "leaked: its destructors do not run");
    assert!(!costack::lock_held());
}

#[test]
#[should_panic(expected = "panicked while cancelled")]
fn a_panic_during_the_cancelled_run_resumes_in_the_drop() {
    let _serial = serial();
    let mut f = Box::pin(CoFuture::new(|w| {
        if w.try_wait(std::future::pending::<()>()).is_err() {
            panic!("panicked while cancelled");
        }
    }));
    assert!(f
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending());
    drop(f);
}

#[test]
fn try_wait_inside_call_c_returns_cancelled_and_the_body_finishes() {
    let _serial = serial();
    let finished = Rc::new(Cell::new(false));
    let fin = finished.clone();
    let mut f = Box::pin(CoFuture::new(move |w| {
        let r = w.call_c(|ptr| {
            // SAFETY: the pointer of this very call_c.
            let w = unsafe { Waiter::<std::convert::Infallible>::from_raw(ptr) };
            w.try_wait(std::future::pending::<()>())
        });
        assert_eq!(r, Err(Cancelled));
        fin.set(true);
    }));
    assert!(f
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending());
    drop(f);
    assert!(finished.get());
}
