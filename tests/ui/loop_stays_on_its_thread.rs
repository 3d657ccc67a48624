// A loop, its join handles, task contexts, queues and locks stay on the
// loop's thread (share them between its tasks with Rc); other threads get
// a StopHandle or an Unparker.
use costack::{Loop, Mutex, Queue, RwLock};

fn main() {
    let lp = Loop::new().unwrap();
    let handle = lp.spawn(|_cx| 1);
    std::thread::spawn(move || handle.join());
    std::thread::spawn(move || lp.run());
    let q = Queue::new();
    std::thread::spawn(move || q.notify_one());
    static M: Mutex<u32> = Mutex::new(0);
    static L: RwLock<u32> = RwLock::new(0);
    let lp = Loop::new().unwrap();
    lp.spawn(|cx| {
        std::thread::scope(|s| {
            s.spawn(|| cx.yield_now());
        });
    });
}
