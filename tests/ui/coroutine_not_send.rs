// A Coroutine cannot be sent to another thread (its stack may hold
// references to thread-locals); `unsafe { co.into_send() }` is the way out.
use costack::{Coroutine, Yielder};

fn main() {
    let co = Coroutine::new(|_: &mut Yielder<(), ()>, ()| ());
    std::thread::spawn(move || drop(co));
}
