// A lock guard taken with a CoFuture's waiter stays in that coroutine: it
// cannot be returned as the future's output, stored where code outside the
// coroutine reaches it, or moved into another CoFuture, even for a mutex
// that lives forever.
use costack::{CoFuture, Mutex, MutexGuard};
use std::cell::RefCell;
use std::rc::Rc;

fn main() {
    let forever: &'static Mutex<u32> = Box::leak(Box::new(Mutex::new(0)));

    let _returned = CoFuture::new(move |w| forever.lock(w));

    let slot: Rc<RefCell<Option<MutexGuard<'static, u32>>>> = Rc::default();
    let inside = slot.clone();
    let _stored = CoFuture::new(move |w| {
        *inside.borrow_mut() = Some(forever.lock(w));
    });

    let _moved = CoFuture::new(move |w| {
        let guard = forever.lock(w);
        w.wait(CoFuture::new(move |_w| drop(guard)));
    });
}
