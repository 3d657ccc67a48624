// A GlobalCell borrow made with a CoFuture's waiter cannot live across a
// lock of a costack Mutex: the coroutine may wait there, and its poll
// releases the global mutex meanwhile.
use costack::{CoFuture, GlobalCell, Mutex};
use std::rc::Rc;

static COUNT: GlobalCell<u32> = GlobalCell::new(0);

fn main() {
    let m = Rc::new(Mutex::new(()));
    let _f = CoFuture::new(move |w| {
        let mut n = COUNT.borrow_mut(w);
        let _g = m.lock(w);
        *n += 1;
    });
}
