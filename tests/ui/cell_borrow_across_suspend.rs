// A GlobalCell borrow cannot be held across a suspend.
use costack::{Coroutine, GlobalCell, Yielder};

static COUNT: GlobalCell<u32> = GlobalCell::new(0);

fn main() {
    let _co = Coroutine::new(|y: &mut Yielder<(), ()>, ()| {
        let mut n = COUNT.borrow_mut(y);
        y.suspend(());
        *n += 1;
    });
}
