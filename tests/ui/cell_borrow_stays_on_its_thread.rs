// A borrow of a GlobalCell stays on the thread that holds the global mutex:
// dropping it elsewhere would change the borrow count, and reading through
// it elsewhere would read contents that are only `Send`.
use costack::GlobalCell;
use std::cell::Cell;

static CELL: GlobalCell<Cell<u32>> = GlobalCell::new(Cell::new(0));

fn main() {
    let guard = costack::lock();
    let shared = CELL.borrow(&guard);
    std::thread::scope(|s| {
        s.spawn(|| shared.get());
    });
    drop(shared);
    let exclusive = CELL.borrow_mut(&guard);
    std::thread::scope(|s| {
        s.spawn(move || drop(exclusive));
    });
}
