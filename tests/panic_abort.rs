//! Under `panic = "abort"`, dropping a suspended coroutine leaks it (nothing
//! can unwind its stack): the process goes on, the coroutine's destructors
//! do not run, its stack stays allocated, and the first such drop says so
//! on stderr, once.
//!
//! Cargo ignores `panic` in the profiles it builds tests with, so this file
//! is also a program of its own: the test below writes a small crate under
//! `CARGO_TARGET_TMPDIR` whose binary is this file, which depends on costack
//! by path and sets `panic = "abort"` in its dev profile; it builds that
//! offline (with this package's lock file, so the versions are the ones
//! already here) in a target directory kept there between runs, runs it,
//! and checks what it printed. Built as that program, the file runs `main`;
//! built as this test, `main` is unused.

use costack::{Coroutine, Step, Yielder};
use std::sync::atomic::{AtomicU32, Ordering};

/// How many `CountDrop`s have been dropped.
static DROPS: AtomicU32 = AtomicU32::new(0);

struct CountDrop;

impl Drop for CountDrop {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::Relaxed);
    }
}

/// A coroutine suspended with a `CountDrop` on its stack.
fn suspended() -> Coroutine<(), (), ()> {
    let counter = CountDrop;
    let mut co = Coroutine::new(move |y: &mut Yielder<(), ()>, ()| {
        let _counter = counter;
        y.suspend(());
    });
    assert_eq!(co.resume(&mut costack::lock(), ()), Step::Yield(()));
    co
}

/// The program: drops suspended coroutines every way there is, then checks
/// that the others are freed as usual. Prints what the test checks.
#[allow(dead_code)] // built as the test, the harness has its own main
fn main() {
    println!("panic = abort: {}", cfg!(panic = "abort"));
    let live = costack::stats().live;

    // Dropped without the global lock, and with it held.
    drop(suspended());
    let co = suspended();
    let guard = costack::lock();
    drop(co);
    drop(guard);
    // Suspended with another suspended one on its stack: both stay.
    let mut outer = Coroutine::new(|y: &mut Yielder<(), ()>, ()| {
        let mut inner = Coroutine::new(|yi: &mut Yielder<(), ()>, ()| {
            let _counter = CountDrop;
            yi.suspend(());
        });
        assert_eq!(inner.resume(y, ()), Step::Yield(()));
        let _counter = CountDrop;
        y.suspend(());
    });
    assert_eq!(outer.resume(&mut costack::lock(), ()), Step::Yield(()));
    drop(outer);
    println!("destructors run: {}", DROPS.load(Ordering::Relaxed));
    println!("coroutines leaked: {}", costack::stats().live - live);

    // Never resumed (its closure is dropped) and finished: freed.
    let counter = CountDrop;
    drop(Coroutine::new(move |_: &mut Yielder<(), ()>, ()| {
        drop(counter)
    }));
    let mut done = Coroutine::new(|_: &mut Yielder<(), ()>, ()| 5);
    assert_eq!(done.resume(&mut costack::lock(), ()), Step::Return(5));
    drop(done);
    println!("destructors run: {}", DROPS.load(Ordering::Relaxed));
    println!("coroutines leaked: {}", costack::stats().live - live);
}

#[test]
fn dropping_a_suspended_coroutine_under_panic_abort_leaks_it_and_says_so_once() {
    use std::path::Path;
    use std::process::Command;

    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("panic-abort");
    let name = "costack-panic-abort";
    // TOML basic strings: backslashes and quotes escaped.
    let toml_path = |p: &Path| {
        let s = p.to_str().expect("a UTF-8 path");
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    };
    let manifest = format!(
        "[package]\n\
         name = \"{name}\"\n\
         version = \"0.0.0\"\n\
         edition = \"2021\"\n\
         publish = false\n\
         \n\
         [[bin]]\n\
         name = \"{name}\"\n\
         path = {}\n\
         \n\
         [dependencies]\n\
         costack = {{ path = {} }}\n\
         \n\
         [profile.dev]\n\
         panic = \"abort\"\n\
         \n\
         [workspace]\n",
        toml_path(&here.join("tests").join("panic_abort.rs")),
        toml_path(here),
    );
    std::fs::create_dir_all(&dir).unwrap();
    let manifest_path = dir.join("Cargo.toml");
    // Rewritten only when it changes, so that cargo sees nothing new.
    if std::fs::read_to_string(&manifest_path).ok().as_deref() != Some(&manifest) {
        std::fs::write(&manifest_path, &manifest).unwrap();
    }
    std::fs::copy(here.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = dir.join("target");
    let build = Command::new(cargo)
        .args(["build", "--offline", "--manifest-path"])
        .arg(&manifest_path)
        .arg("--target-dir")
        .arg(&target)
        .output()
        .expect("run cargo");
    assert!(
        build.status.success(),
        "building the panic = \"abort\" program failed:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );

    let exe = target
        .join("debug")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let out = Command::new(&exe).output().expect("run the program");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the program failed ({:?}); stdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    // Four coroutines leaked (one of them inside another), none of their
    // destructors run; the never-resumed one's closure is dropped as usual.
    assert_eq!(
        stdout,
        "panic = abort: true\n\
         destructors run: 0\n\
         coroutines leaked: 4\n\
         destructors run: 1\n\
         coroutines leaked: 4\n"
    );
    // One line, for the first of the three drops.
    assert_eq!(
        stderr,
        "costack: a suspended coroutine was dropped in a program built with \
         panic = \"abort\", where its stack cannot be unwound: it is leaked (its \
         stack stays allocated, its destructors do not run), as is every \
         suspended coroutine dropped after it; this is said once per process\n"
    );
}
