// A coroutine cannot resume itself: its closure cannot borrow the
// Coroutine it is made into (the closure must be 'static).
use costack::{Coroutine, Yielder};

fn main() {
    let mut guard = costack::lock();
    let mut co = Coroutine::new(|_: &mut Yielder<(), ()>, ()| ());
    co = Coroutine::new(|y: &mut Yielder<(), ()>, ()| {
        co.resume(y, ());
    });
    co.resume(&mut guard, ());
}
