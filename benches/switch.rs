//! Criterion benchmarks of the Rust API against its baselines, measured in
//! the same run:
//!
//! - `round_trip/*`: one resume + suspend, through the safe Rust API
//!   (`costack_rust`), the raw C API (`costack_c`: `costack_enter` +
//!   `costack_yield`) and corosensei (`corosensei`).
//! - `lifecycle/*`: create + run to the end + drop, with pooled stacks:
//!   `costack_rust`, `costack_c` (`costack_create` + `costack_enter` of an
//!   entry that returns at once) and corosensei with one reused stack.
//!
//! Run with `cargo bench --bench switch`; after the measurements it prints
//! the ratios (the target: `costack_rust / costack_c <= 1.2` for the round
//! trip).

use costack::{sys, Coroutine, Step, Yielder};
use criterion::{black_box, Criterion};
use std::ffi::c_void;
use std::path::{Path, PathBuf};

const STACK: usize = 1 << 20;

fn round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("round_trip");
    let mut guard = costack::lock();

    let mut co = Coroutine::new(|y: &mut Yielder<u64, u64>, mut x: u64| loop {
        x = y.suspend(x.wrapping_add(1));
    });
    group.bench_function("costack_rust", |b| {
        b.iter(|| match co.resume(&mut guard, black_box(1)) {
            Step::Yield(v) => v,
            Step::Return(_) => unreachable!(),
        })
    });
    drop(co);

    /// Counts its entries into the `u64` behind `opaque`, forever.
    ///
    /// # Safety
    ///
    /// `opaque` points to a `u64` that outlives the coroutine and that
    /// nobody else touches while the coroutine runs.
    unsafe extern "C" fn count_forever(opaque: *mut c_void) {
        let n = opaque.cast::<u64>();
        loop {
            // SAFETY: the caller's contract; whoever entered us waits in
            // `costack_enter`.
            unsafe { *n = (*n).wrapping_add(1) };
            // SAFETY: we run in a C-API coroutine, and whoever entered it
            // waits for this yield.
            unsafe { sys::costack_yield() };
        }
    }
    let mut n = 0u64;
    // SAFETY: `n` outlives the coroutine, destroyed below while suspended;
    // the entry never unwinds.
    let raw = unsafe { sys::costack_create(Some(count_forever), std::ptr::addr_of_mut!(n).cast()) };
    assert!(!raw.is_null());
    group.bench_function("costack_c", |b| {
        // SAFETY: `raw` is suspended (or new) between iterations.
        b.iter(|| unsafe { sys::costack_enter(black_box(raw)) })
    });
    // SAFETY: suspended, never entered again.
    unsafe { sys::costack_destroy(raw) };
    black_box(n); // (zero when a filter skipped that benchmark)

    let mut coro =
        corosensei::Coroutine::new(|y: &corosensei::Yielder<u64, u64>, mut x: u64| loop {
            x = y.suspend(x.wrapping_add(1));
        });
    group.bench_function("corosensei", |b| {
        b.iter(|| match coro.resume(black_box(1)) {
            corosensei::CoroutineResult::Yield(v) => v,
            corosensei::CoroutineResult::Return(_) => unreachable!(),
        })
    });
    drop(coro);
    group.finish();
}

fn lifecycle(c: &mut Criterion) {
    let mut group = c.benchmark_group("lifecycle");
    let mut guard = costack::lock();

    group.bench_function("costack_rust", |b| {
        b.iter(|| {
            let mut co = Coroutine::new(|_: &mut Yielder<u64, ()>, x: u64| x + 1);
            match co.resume(&mut guard, black_box(1)) {
                Step::Return(v) => v,
                Step::Yield(()) => unreachable!(),
            }
        })
    });

    /// Adds one to the `u64` behind `opaque`, and ends.
    ///
    /// # Safety
    ///
    /// `opaque` points to a `u64` that outlives the coroutine and that
    /// nobody else touches while the coroutine runs.
    unsafe extern "C" fn add_one(opaque: *mut c_void) {
        // SAFETY: the caller's contract.
        unsafe { *opaque.cast::<u64>() += 1 };
    }
    let mut n = 0u64;
    group.bench_function("costack_c", |b| {
        b.iter(|| {
            // SAFETY: `n` outlives the coroutine, which runs to its end (and
            // is released by the core) inside this iteration.
            unsafe {
                let co = sys::costack_create(Some(add_one), std::ptr::addr_of_mut!(n).cast());
                assert!(!co.is_null());
                sys::costack_enter(co);
            }
        })
    });
    black_box(n); // (zero when a filter skipped that benchmark)

    let mut stack = Some(corosensei::stack::DefaultStack::new(STACK).unwrap());
    group.bench_function("corosensei_reused_stack", |b| {
        b.iter(|| {
            let mut co = corosensei::Coroutine::with_stack(
                stack.take().unwrap(),
                |_: &corosensei::Yielder<u64, ()>, x: u64| x + 1,
            );
            let v = match co.resume(black_box(1)) {
                corosensei::CoroutineResult::Return(v) => v,
                corosensei::CoroutineResult::Yield(()) => unreachable!(),
            };
            stack = Some(co.into_stack());
            v
        })
    });
    group.finish();
}

/// Where criterion keeps its results for this bench.
fn output_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("criterion")
}

/// The median time (ns) criterion estimated for `group/name` in this run.
fn median_ns(group: &str, name: &str) -> Option<f64> {
    let path = output_dir()
        .join(group)
        .join(name)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn report_ratios() {
    let rows = [
        ("round_trip", "costack_rust", "costack_c", Some(1.2)),
        ("round_trip", "costack_rust", "corosensei", None),
        ("round_trip", "costack_c", "corosensei", None),
        ("lifecycle", "costack_rust", "costack_c", None),
        ("lifecycle", "costack_rust", "corosensei_reused_stack", None),
    ];
    println!("\nratios of medians (this run):");
    for (group, a, b, target) in rows {
        let (Some(x), Some(y)) = (median_ns(group, a), median_ns(group, b)) else {
            continue;
        };
        let verdict = match target {
            Some(t) if x / y <= t => format!("  (target <= {t}: met)"),
            Some(t) => format!("  (target <= {t}: MISSED)"),
            None => String::new(),
        };
        println!(
            "  {group}: {a} {x:.2} ns / {b} {y:.2} ns = {:.2}{verdict}",
            x / y
        );
    }
}

fn main() {
    let mut c = Criterion::default()
        .output_directory(&output_dir())
        .configure_from_args();
    // In `cargo test --benches` mode criterion runs each routine once and
    // writes no estimates; the ratios then print nothing.
    let _ = std::fs::remove_dir_all(output_dir().join("round_trip"));
    let _ = std::fs::remove_dir_all(output_dir().join("lifecycle"));
    round_trip(&mut c);
    lifecycle(&mut c);
    c.final_summary();
    report_ratios();
}
