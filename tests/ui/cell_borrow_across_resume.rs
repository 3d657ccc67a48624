// A GlobalCell borrow cannot be held across a resume.
use costack::{Coroutine, GlobalCell, Yielder};

static COUNT: GlobalCell<u32> = GlobalCell::new(0);

fn main() {
    let mut guard = costack::lock();
    let mut co = Coroutine::new(|_: &mut Yielder<(), ()>, ()| ());
    let n = COUNT.borrow(&guard);
    co.resume(&mut guard, ());
    println!("{}", *n);
}
