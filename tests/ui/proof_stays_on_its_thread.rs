// A proof that this thread holds the global mutex cannot reach another
// thread: neither a guard nor a yielder is `Sync` (`&proof` on another
// thread would borrow a GlobalCell there without the mutex) or `Send` (a
// yielder on another thread would suspend a stack that thread is not on).
use costack::{Coroutine, GlobalCell, Yielder};

static CELL: GlobalCell<u32> = GlobalCell::new(0);

fn main() {
    let guard = costack::lock();
    std::thread::scope(|s| {
        s.spawn(|| CELL.get(&guard));
    });
    let _co = Coroutine::new(|y: &mut Yielder<(), ()>, ()| {
        std::thread::scope(|s| {
            s.spawn(|| CELL.get(&*y));
        });
        std::thread::scope(|s| {
            s.spawn(|| y.suspend(()));
        });
    });
}
