// A GlobalCell borrow made with a task's context cannot live across a wait:
// the loop may release the global mutex while the task waits.
use costack::{GlobalCell, Loop};
use std::time::Duration;

static COUNT: GlobalCell<u32> = GlobalCell::new(0);

fn main() {
    let lp = Loop::new().unwrap();
    lp.spawn(|cx| {
        let mut n = COUNT.borrow_mut(cx);
        cx.sleep(Duration::from_millis(1));
        *n += 1;
    });
}
