// Only a loop's tasks wait: a coroutine resumed by its user cannot reach
// the task's context, neither captured by its closure nor passed in as its
// input (inside a task the context is the only proof there is, and resume
// borrows it mutably as the proof).
use costack::{Coroutine, Loop, TaskCx, Yielder};
use std::time::Duration;

fn main() {
    let lp = Loop::new().unwrap();
    lp.spawn(|cx| {
        let mut co = Coroutine::new(|_: &mut Yielder<(), ()>, ()| {
            cx.sleep(Duration::from_millis(1));
        });
        co.resume(cx, ());
    });
    lp.spawn(|cx| {
        let mut co = Coroutine::new(
            |_: &mut Yielder<&mut TaskCx<'_>, ()>, cx: &mut TaskCx<'_>| {
                cx.sleep(Duration::from_millis(1));
            },
        );
        co.resume(cx, cx);
    });
}
