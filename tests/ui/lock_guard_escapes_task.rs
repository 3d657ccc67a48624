// A lock guard stays in the task that took it: it cannot be returned from
// the task, stored where code outside the task reaches it, or moved into
// another task, even for a mutex that lives forever.
use costack::{Loop, Mutex, MutexGuard};
use std::cell::RefCell;
use std::rc::Rc;

fn main() {
    let lp = Loop::new().unwrap();
    let forever: &'static Mutex<u32> = Box::leak(Box::new(Mutex::new(0)));

    let _returned = lp.spawn(move |cx| forever.lock(cx));

    let slot: Rc<RefCell<Option<MutexGuard<'static, u32>>>> = Rc::default();
    let inside = slot.clone();
    lp.spawn(move |cx| {
        *inside.borrow_mut() = Some(forever.lock(cx));
    });

    lp.spawn(move |cx| {
        let guard = forever.lock(cx);
        cx.spawn(move |_cx| drop(guard));
    });
}
