//! Misuse that must kill the process with a named message, and a panic
//! that must not kill it. Each test re-runs this test binary as a child
//! with `COSTACK_DEATH_TEST` naming the test; the child does the bad thing,
//! the parent checks how it died (or that it did not).

use costack::{Builder, Coroutine, GlobalCell, Yielder};
#[cfg(unix)]
use std::os::unix::process::ExitStatusExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Command, Output};

const ENV: &str = "COSTACK_DEATH_TEST";

/// True in the child that should run `name`'s bad deed.
fn in_child(name: &str) -> bool {
    std::env::var(ENV).as_deref() == Ok(name)
}

/// Runs test `name` in a child process with the marker set.
fn run_child(name: &str) -> Output {
    run_child_with(name, &[])
}

/// Runs test `name` in a child process with the marker and `envs` set.
fn run_child_with(name: &str, envs: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().expect("path of the test binary");
    Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(ENV, name)
        .envs(envs.iter().copied())
        .output()
        .expect("spawn the test binary")
}

/// Asserts the child died of `signal` after writing `message` to stderr.
fn assert_died(out: &Output, signal: i32, message: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        death_signal(&out.status),
        Some(signal),
        "child status {:?}, stderr:\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains(message),
        "child stderr lacks {message:?}:\n{stderr}"
    );
}

/// The signal the child died of. Windows has no signals: there a process
/// ends with an exit code, which names the same deaths. `abort` ends it with
/// 3 (the C runtime's) or 0xC0000409 (a fail-fast, Rust's `abort`); a crash
/// with its exception code: 0xC0000005 (access violation), 0xC00000FD (stack
/// overflow), 0xC0000602 (fail-fast, as Wine ends costack's overflow
/// report).
fn death_signal(status: &std::process::ExitStatus) -> Option<i32> {
    #[cfg(unix)]
    {
        status.signal()
    }
    #[cfg(windows)]
    {
        match status.code().map(|c| c as u32) {
            Some(3 | 0xC000_0409) => Some(libc::SIGABRT),
            Some(0xC000_0005 | 0xC000_00FD | 0xC000_0602) => Some(libc::SIGSEGV),
            _ => None,
        }
    }
}

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 32]);
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1).wrapping_add(std::hint::black_box(frame)[depth as usize % 32])
}

#[test]
fn stack_overflow_in_a_rust_coroutine_is_named() {
    if in_child("stack_overflow_in_a_rust_coroutine_is_named") {
        let mut co = Builder::new()
            .stack_size(64 * 1024)
            .build(|_: &mut Yielder<(), ()>, ()| recurse(0))
            .unwrap();
        co.resume(&mut costack::lock(), ());
        unreachable!("the recursion returned");
    }
    let out = run_child("stack_overflow_in_a_rust_coroutine_is_named");
    assert_died(&out, libc::SIGSEGV, "costack: coroutine stack overflow (");
    assert!(String::from_utf8_lossy(&out.stderr).contains("stack 65536 bytes)"));
}

#[test]
fn stack_overflow_with_the_default_stack_is_named() {
    if in_child("stack_overflow_with_the_default_stack_is_named") {
        let mut co = Coroutine::new(|_: &mut Yielder<(), ()>, ()| recurse(0));
        co.resume(&mut costack::lock(), ());
        unreachable!("the recursion returned");
    }
    let out = run_child("stack_overflow_with_the_default_stack_is_named");
    assert_died(&out, libc::SIGSEGV, "costack: coroutine stack overflow (");
}

#[test]
fn swallowing_the_forced_unwind_and_suspending_aborts() {
    if in_child("swallowing_the_forced_unwind_and_suspending_aborts") {
        let mut co = Coroutine::new(|y: &mut Yielder<(), ()>, ()| loop {
            let _ = catch_unwind(AssertUnwindSafe(|| y.suspend(())));
        });
        co.resume(&mut costack::lock(), ());
        drop(co);
        unreachable!("drop returned");
    }
    let out = run_child("swallowing_the_forced_unwind_and_suspending_aborts");
    assert_died(
        &out,
        libc::SIGABRT,
        "costack: a coroutine being dropped caught the unwind that drops it and suspended again",
    );
}

#[test]
fn swallowing_the_forced_unwind_and_returning_aborts() {
    if in_child("swallowing_the_forced_unwind_and_returning_aborts") {
        let mut co = Coroutine::new(|y: &mut Yielder<(), ()>, ()| {
            let _ = catch_unwind(AssertUnwindSafe(|| y.suspend(())));
            7
        });
        co.resume(&mut costack::lock(), ());
        drop(co);
        unreachable!("drop returned");
    }
    let out = run_child("swallowing_the_forced_unwind_and_returning_aborts");
    assert_died(
        &out,
        libc::SIGABRT,
        "costack: a coroutine being dropped caught the unwind that drops it and returned normally",
    );
}

/// A C-API coroutine that drops the guard behind `opaque`.
///
/// # Safety
///
/// `opaque` points to a `Cell<Option<Guard>>` that outlives the coroutine.
unsafe extern "C" fn drop_the_guard(opaque: *mut std::ffi::c_void) {
    // SAFETY: the caller's contract; a `Cell` is fine to reach through a
    // shared reference while its owner waits in `costack_enter`.
    let slot = unsafe { &*opaque.cast::<std::cell::Cell<Option<costack::Guard>>>() };
    drop(slot.take());
}

#[test]
fn a_guard_dropped_inside_a_coroutine_aborts() {
    if in_child("a_guard_dropped_inside_a_coroutine_aborts") {
        // Safe code cannot move a guard into a running coroutine (resume
        // borrows it); the C API can run code in a coroutine without proof.
        let slot = std::cell::Cell::new(Some(costack::lock()));
        // SAFETY: `slot` outlives the coroutine; `drop_the_guard` does not
        // unwind (it aborts, which is what this test checks).
        unsafe {
            let opaque = std::ptr::addr_of!(slot) as *mut std::ffi::c_void;
            let c = costack::sys::costack_create(Some(drop_the_guard), opaque);
            costack::sys::costack_enter(c);
        }
        unreachable!("the guard was dropped in the wrong coroutine");
    }
    let out = run_child("a_guard_dropped_inside_a_coroutine_aborts");
    assert_died(
        &out,
        libc::SIGABRT,
        "costack: a lock guard was dropped in another coroutine than the one that took it",
    );
}

#[test]
fn yielding_a_rust_coroutine_through_the_c_api_aborts() {
    if in_child("yielding_a_rust_coroutine_through_the_c_api_aborts") {
        let mut co = Coroutine::new(|_: &mut Yielder<(), ()>, ()| {
            // SAFETY: deliberately not: a Rust coroutine must suspend
            // through its yielder.
            unsafe { costack::sys::costack_yield() };
        });
        co.resume(&mut costack::lock(), ());
        unreachable!("resume returned");
    }
    let out = run_child("yielding_a_rust_coroutine_through_the_c_api_aborts");
    assert_died(
        &out,
        libc::SIGABRT,
        "costack: a Rust coroutine switched back without suspend or return",
    );
}

/// Says, while the coroutine it sits in unwinds (after the panic hook has
/// run), how deep the coroutine's stack has been used.
struct ReportStackUse;

impl Drop for ReportStackUse {
    fn drop(&mut self) {
        // SAFETY: `costack_self` is the running coroutine, neither finished
        // nor in the pool; the call only reads its state and asks the
        // system which of its stack pages are resident.
        let used = unsafe { costack::sys::costack_stack_high_water(costack::sys::costack_self()) };
        eprintln!("stack used by the panic: {used} bytes");
    }
}

#[test]
fn a_panic_with_a_full_backtrace_on_the_smallest_stack_reaches_the_resumer() {
    let name = "a_panic_with_a_full_backtrace_on_the_smallest_stack_reaches_the_resumer";
    let message = format!("a panic on a {} byte stack", Builder::MIN_STACK_SIZE);
    if in_child(name) {
        // A fresh stack, so that its high-water mark is this coroutine's.
        costack::set_pool_max(0);
        let msg = message.clone();
        let mut co = Builder::new()
            .stack_size(Builder::MIN_STACK_SIZE)
            .build(move |_: &mut Yielder<(), ()>, ()| -> () {
                let _report = ReportStackUse;
                panic!("{msg}");
            })
            .unwrap();
        let err = catch_unwind(AssertUnwindSafe(|| co.resume(&mut costack::lock(), ())))
            .expect_err("the panic reaches the resumer");
        assert_eq!(err.downcast_ref::<String>(), Some(&message));
        println!("the payload reached the resumer");
        return;
    }
    // The first panic of the process, with the backtrace the hook prints
    // (and symbolizes) on the coroutine's stack.
    let out = run_child_with(name, &[("RUST_BACKTRACE", "full")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child status {:?}, stderr:\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("the payload reached the resumer"),
        "the child did not run the test:\n{stdout}"
    );
    assert!(
        stderr.contains(&message) && stderr.contains("stack backtrace:"),
        "no panic message with a backtrace:\n{stderr}"
    );
    if let Some(line) = stderr.lines().find(|l| l.starts_with("stack used by")) {
        println!("{line} (of {})", Builder::MIN_STACK_SIZE);
    }
}

static CELL: GlobalCell<u32> = GlobalCell::new(0);

/// Holds the coroutine's yielder; its drop borrows `CELL` with it.
struct BorrowsOnDrop<'a>(&'a mut Yielder<(), ()>);

impl Drop for BorrowsOnDrop<'_> {
    fn drop(&mut self) {
        *CELL.borrow_mut(&*self.0) += 1;
    }
}

#[test]
fn a_cell_borrow_conflict_while_a_dropped_coroutine_unwinds_is_named() {
    let name = "a_cell_borrow_conflict_while_a_dropped_coroutine_unwinds_is_named";
    if in_child(name) {
        let mut co = Coroutine::new(|y: &mut Yielder<(), ()>, ()| {
            let holder = BorrowsOnDrop(y);
            holder.0.suspend(());
        });
        let mut guard = costack::lock();
        co.resume(&mut guard, ());
        let _held = CELL.borrow(&guard);
        drop(co); // its destructor borrows the cell this frame holds
        unreachable!("drop returned");
    }
    let out = run_child(name);
    assert_died(
        &out,
        libc::SIGABRT,
        "costack: GlobalCell::borrow_mut: the cell is already borrowed, and this thread \
         is unwinding",
    );
}

/// Holds the coroutine's yielder; its drop suspends with it.
struct SuspendsOnDrop<'a>(&'a mut Yielder<(), ()>);

impl Drop for SuspendsOnDrop<'_> {
    fn drop(&mut self) {
        self.0.suspend(());
    }
}

#[test]
fn a_destructor_that_suspends_during_a_panic_is_named() {
    let name = "a_destructor_that_suspends_during_a_panic_is_named";
    if in_child(name) {
        let mut co = Coroutine::new(|y: &mut Yielder<(), ()>, ()| -> () {
            let _s = SuspendsOnDrop(y);
            panic!("the coroutine fails");
        });
        let r = catch_unwind(AssertUnwindSafe(|| co.resume(&mut costack::lock(), ())));
        unreachable!("resume came back ({:?})", r.is_ok());
    }
    let out = run_child(name);
    assert_died(
        &out,
        libc::SIGABRT,
        "costack: a coroutine suspended while its stack was unwinding",
    );
}

#[test]
fn a_destructor_that_suspends_while_its_coroutine_is_dropped_is_named() {
    let name = "a_destructor_that_suspends_while_its_coroutine_is_dropped_is_named";
    if in_child(name) {
        let mut co = Coroutine::new(|y: &mut Yielder<(), ()>, ()| {
            let s = SuspendsOnDrop(y);
            s.0.suspend(());
        });
        co.resume(&mut costack::lock(), ());
        drop(co);
        unreachable!("drop returned");
    }
    let out = run_child(name);
    assert_died(
        &out,
        libc::SIGABRT,
        "costack: a coroutine suspended while its stack was unwinding",
    );
}
