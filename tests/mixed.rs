//! Rust coroutines and coroutines made through the raw C API (`costack::sys`)
//! nest inside each other: order of execution, `in_coroutine`, `self`.

use costack::{sys, Coroutine, Guard, Step, Yielder};
use std::cell::RefCell;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

fn self_ptr() -> *mut sys::CostackCoroutine {
    // SAFETY: `costack_self` only reads the calling thread's costack state;
    // any thread, any time.
    unsafe { sys::costack_self() }
}

/// What a C-API coroutine in these tests shares with its creator.
struct CSide {
    log: RefCell<Vec<String>>,
    /// The C coroutine itself, set right after creation.
    me: *mut sys::CostackCoroutine,
}

/// A C-API coroutine: logs, yields, logs, returns.
///
/// # Safety
///
/// `opaque` points to a `CSide` that outlives the coroutine and that its
/// creator only reads while the coroutine is suspended or finished.
unsafe extern "C" fn c_two_steps(opaque: *mut c_void) {
    // SAFETY: the caller's contract; the creator's `&mut` use of the
    // `CSide` (setting `me`) is over before the first entry.
    let side = unsafe { &*opaque.cast::<CSide>() };
    assert_eq!(self_ptr(), side.me);
    assert!(costack::in_coroutine());
    side.log.borrow_mut().push("c: first".into());
    // SAFETY: we run in a C-API coroutine (asserted above), entered by the
    // Rust coroutine that created it, which waits for this yield.
    unsafe { sys::costack_yield() };
    assert_eq!(self_ptr(), side.me);
    side.log.borrow_mut().push("c: second".into());
}

#[test]
fn c_coroutine_inside_a_rust_coroutine() {
    let mut guard = costack::lock();
    let leader = self_ptr();
    let mut rust = Coroutine::new(move |y: &mut Yielder<(), Vec<String>>, ()| {
        let rust_self = self_ptr();
        assert_ne!(rust_self, leader);
        let mut side = Box::new(CSide {
            log: RefCell::new(vec!["rust: start".into()]),
            me: ptr::null_mut(),
        });
        let opaque = ptr::addr_of_mut!(*side).cast::<c_void>();
        // SAFETY: `side` outlives the C coroutine, which is run to its end
        // below, and `c_two_steps` does not unwind (its asserts hold, as
        // the test checks).
        unsafe {
            let c = sys::costack_create(Some(c_two_steps), opaque);
            assert!(!c.is_null());
            (*opaque.cast::<CSide>()).me = c;
            sys::costack_enter(c);
            assert_eq!(self_ptr(), rust_self, "the C coroutine yielded back to us");
            side.log.borrow_mut().push("rust: between".into());
            // Suspend the Rust coroutine while the C one is suspended too.
            y.suspend(side.log.borrow().clone());
            side.log.borrow_mut().push("rust: resumed".into());
            assert_eq!(sys::costack_entered(c), 0);
            sys::costack_enter(c); // runs to its end; the core releases it
        }
        assert_eq!(self_ptr(), rust_self);
        side.log.into_inner()
    });
    let raw = rust.as_raw();
    match rust.resume(&mut guard, ()) {
        Step::Yield(log) => assert_eq!(log, ["rust: start", "c: first", "rust: between"]),
        Step::Return(_) => panic!("returned early"),
    }
    assert_eq!(self_ptr(), leader);
    assert!(!costack::in_coroutine());
    // SAFETY: `raw` is a live, suspended coroutine (not finished yet).
    assert_eq!(unsafe { sys::costack_entered(raw) }, 0);
    match rust.resume(&mut guard, ()) {
        Step::Return(log) => assert_eq!(
            log,
            [
                "rust: start",
                "c: first",
                "rust: between",
                "rust: resumed",
                "c: second"
            ]
        ),
        Step::Yield(_) => panic!("yielded again"),
    }
}

/// What the C coroutine of the next test needs: the guard to resume Rust
/// coroutines with (lent by the top level), and the Rust coroutine.
struct Driver {
    guard: *mut Guard,
    rust: Option<Coroutine<u32, u32, u32>>,
    log: Vec<String>,
    me: *mut sys::CostackCoroutine,
}

/// A C-API coroutine (written in Rust, with the C ABI) that resumes a Rust
/// coroutine, yields in between, and contains a panic from it.
///
/// # Safety
///
/// `opaque` points to a `Driver` whose `guard` is the top level's, both
/// outliving the coroutine; the top level touches them only while the
/// coroutine is suspended, and only through `opaque`.
unsafe extern "C" fn c_drives_rust(opaque: *mut c_void) {
    let d = opaque.cast::<Driver>();
    // Never let a panic leave this frame: the C core is below it.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller's contract: the `Driver` and the guard are
        // alive and ours while we run; the references made here end before
        // the yield below.
        unsafe {
            assert_eq!(self_ptr(), (*d).me);
            let guard = &mut *(*d).guard;
            let rust = (*d).rust.as_mut().unwrap();
            let step = rust.resume(guard, 10);
            (*d).log.push(format!("c: rust yielded {step:?}"));
            assert_eq!(self_ptr(), (*d).me, "back in the C coroutine");
        }
        // SAFETY: we run in this C-API coroutine (asserted just above),
        // entered by the top level, which waits for this yield.
        unsafe { sys::costack_yield() };
        // SAFETY: entered again by the top level, which is done with the
        // `Driver` and the guard until we yield or end.
        unsafe {
            (*d).log.push("c: resumed".into());
            let guard = &mut *(*d).guard;
            let rust = (*d).rust.as_mut().unwrap();
            // The Rust coroutine panics on this resume; the payload arrives here.
            let err = catch_unwind(AssertUnwindSafe(|| rust.resume(guard, 0))).unwrap_err();
            (*d).log
                .push(format!("c: caught {:?}", err.downcast_ref::<&str>()));
        }
    }));
    if outcome.is_err() {
        std::process::abort();
    }
}

#[test]
fn rust_coroutine_inside_a_c_coroutine() {
    let mut guard = costack::lock();
    let leader = self_ptr();
    let rust = Coroutine::new(move |y: &mut Yielder<u32, u32>, first: u32| {
        assert!(costack::in_coroutine());
        let caller_is_not_me = self_ptr();
        let second = y.suspend(first + 1);
        assert_eq!(self_ptr(), caller_is_not_me, "same coroutine, new caller");
        let third = y.suspend(second + 1);
        if third == 0 {
            panic!("rust coroutine panics");
        }
        third
    });
    let mut driver = Box::new(Driver {
        guard: ptr::addr_of_mut!(guard),
        rust: Some(rust),
        log: Vec::new(),
        me: ptr::null_mut(),
    });
    let opaque = ptr::addr_of_mut!(*driver).cast::<c_void>();
    // SAFETY: `driver` and `guard` outlive the C coroutine, which runs to its
    // end below; the top level does not touch `guard` or `driver` while the
    // C coroutine runs (it reads them only while the C coroutine is
    // suspended, through the same raw pointer); `c_drives_rust` never unwinds.
    unsafe {
        let c = sys::costack_create(Some(c_drives_rust), opaque);
        assert!(!c.is_null());
        (*opaque.cast::<Driver>()).me = c;
        sys::costack_enter(c);
        assert_eq!(self_ptr(), leader);
        (*opaque.cast::<Driver>()).log.push("top: C yielded".into());
        // Resume the Rust coroutine from the top level now: a new caller.
        let d = opaque.cast::<Driver>();
        let step = (*d).rust.as_mut().unwrap().resume(&mut *(*d).guard, 20);
        (*d).log.push(format!("top: rust yielded {step:?}"));
        sys::costack_enter(c); // runs to its end
        assert_eq!(self_ptr(), leader);
    }
    assert_eq!(
        driver.log,
        [
            "c: rust yielded Yield(11)",
            "top: C yielded",
            "top: rust yielded Yield(21)",
            "c: resumed",
            "c: caught Some(\"rust coroutine panics\")"
        ]
    );
    assert!(driver.rust.as_ref().unwrap().is_finished());
}

/// A C-API coroutine counting its entries into the `u32` behind opaque.
///
/// # Safety
///
/// `opaque` points to a `u32` that outlives the coroutine and that nobody
/// else touches while the coroutine runs.
unsafe extern "C" fn c_counter(opaque: *mut c_void) {
    let n = opaque.cast::<u32>();
    loop {
        // SAFETY: the caller's contract; whoever entered us waits in
        // `costack_enter`, and the `u32` is read only between entries.
        unsafe { *n += 1 };
        // SAFETY: we run in a C-API coroutine, and whoever entered it waits
        // for this yield.
        unsafe { sys::costack_yield() };
    }
}

#[test]
fn a_suspended_c_coroutine_survives_its_rust_creator() {
    let mut guard = costack::lock();
    let count = Box::into_raw(Box::new(0u32));
    let count_addr = count as usize;
    let mut rust = Coroutine::new(move |_: &mut Yielder<(), ()>, ()| {
        // SAFETY: `count` lives until the C coroutine is destroyed below;
        // `c_counter` does not unwind.
        unsafe {
            let c = sys::costack_create(Some(c_counter), count_addr as *mut c_void);
            sys::costack_enter(c);
            c as usize
        }
    });
    let Step::Return(c) = rust.resume(&mut guard, ()) else {
        panic!("expected a return")
    };
    let c = c as *mut sys::CostackCoroutine;
    // SAFETY: `c` is suspended in costack_yield; `count` is still ours.
    unsafe {
        sys::costack_enter(c);
        assert_eq!(*count, 2);
        sys::costack_destroy(c);
        drop(Box::from_raw(count));
    }
}
