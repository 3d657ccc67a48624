// Resuming needs proof that this thread holds the global mutex.
use costack::{Coroutine, Yielder};

fn main() {
    let mut co = Coroutine::new(|_: &mut Yielder<(), ()>, ()| ());
    co.resume(&mut (), ());
}
