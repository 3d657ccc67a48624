//! Criterion benchmarks of the Rust API against its baselines, measured in
//! the same run:
//!
//! - `round_trip/*`: one resume + suspend, through the safe Rust API
//!   (`costack_rust`), the raw C API (`costack_c`: `costack_enter` +
//!   `costack_yield`) and corosensei (`corosensei`).
//! - `lifecycle/*`: create + run to the end + drop, with pooled stacks:
//!   `costack_rust`, `costack_c` (`costack_create` + `costack_enter` of an
//!   entry that returns at once) and corosensei with one reused stack.
//! - `deep_chain/*`: the round trip with each side 8 calls deep, returning
//!   all the way after each switch (the resumer calls 8 nested functions
//!   and the innermost resumes; the coroutine returns out of its 8, calls
//!   them again and the innermost suspends), for `costack_rust`,
//!   `costack_c` and `corosensei`, and `calls_alone`: the same chains with
//!   no switch. A tight loop never returns between switches; here every
//!   return after a switch finds the other side's addresses in the CPU's
//!   return-stack predictor.
//!
//! Run with `cargo bench --bench switch`; after the measurements it prints
//! every median (the lines `benches/compare.sh` reads) and the ratios (the
//! target: `costack_rust / costack_c <= 1.2` for the round trip).
//! `benches/compare.sh` puts these beside the C benchmarks in one table.
//!
//! On Linux the times are the thread's CPU time (as in `benches/perf.c`),
//! not wall-clock time: on a shared machine, time spent waiting for the CPU
//! while another process runs would otherwise count as the benchmark's.

use costack::{sys, Coroutine, Guard, Step, Yielder};
use criterion::measurement::WallTime;
#[cfg(target_os = "linux")]
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{black_box, Criterion};
use std::ffi::c_void;
use std::path::{Path, PathBuf};

const STACK: usize = 1 << 20;

/// Criterion's clock: the calling thread's CPU time, in nanoseconds.
#[cfg(target_os = "linux")]
struct CpuTime;

#[cfg(target_os = "linux")]
impl CpuTime {
    fn now() -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec to write; the clock exists on
        // every Linux that costack runs on.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
}

#[cfg(target_os = "linux")]
impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        CpuTime::now()
    }
    fn end(&self, start: u64) -> u64 {
        CpuTime::now() - start
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Nanoseconds, as wall-clock time is: the same units and scaling.
        static WALL: WallTime = WallTime;
        WALL.formatter()
    }
}

/// The clock the benchmarks use (wall-clock time where there is no thread
/// CPU clock).
#[cfg(target_os = "linux")]
type Clock = CpuTime;
#[cfg(target_os = "linux")]
const CLOCK: Clock = CpuTime;
#[cfg(not(target_os = "linux"))]
type Clock = WallTime;
#[cfg(not(target_os = "linux"))]
const CLOCK: Clock = WallTime;

type Crit = Criterion<Clock>;

fn round_trip(c: &mut Crit) {
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
        // The handle goes in as corosensei's and the Rust API's do, in a
        // register: the call is to a foreign function, which the compiler
        // cannot drop, so it needs no `black_box`, and a `black_box` there
        // would put a store and a load on the path to the switch that the
        // other two rows do not pay.
        // SAFETY: `raw` is suspended (or new) between iterations.
        b.iter(|| unsafe { sys::costack_enter(raw) })
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

fn lifecycle(c: &mut Crit) {
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

/// What the innermost function of a call chain does: switch to the other
/// side (or nothing, for the chains alone).
trait Leaf {
    fn leaf(&mut self, x: u64) -> u64;
}

/// The innermost link: calls the leaf.
#[inline(never)]
fn link0<L: Leaf>(l: &mut L, x: u64) -> u64 {
    l.leaf(x)
}

/// Links 1 to 8 of a chain, each calling the one below and returning after
/// it (`black_box` keeps the call from becoming a jump). Generic, so each
/// side's chain is functions of its own, with return addresses of its own.
macro_rules! chain {
    ($($name:ident => $next:ident),*) => {$(
        #[inline(never)]
        fn $name<L: Leaf>(l: &mut L, x: u64) -> u64 {
            black_box($next(l, x.wrapping_add(1)))
        }
    )*};
}
chain!(link1 => link0, link2 => link1, link3 => link2, link4 => link3,
       link5 => link4, link6 => link5, link7 => link6, link8 => link7);

/// No switch: the resumer's chain alone.
struct NoSwitch;
impl Leaf for NoSwitch {
    fn leaf(&mut self, x: u64) -> u64 {
        x
    }
}
/// No switch: the other side's chain alone.
struct NoSwitchOther;
impl Leaf for NoSwitchOther {
    fn leaf(&mut self, x: u64) -> u64 {
        x
    }
}

/// The resumer's leaf for the Rust API.
struct RustResume<'a, R> {
    co: &'a mut Coroutine<u64, u64, R>,
    guard: &'a mut Guard,
}
impl<R> Leaf for RustResume<'_, R> {
    fn leaf(&mut self, x: u64) -> u64 {
        match self.co.resume(self.guard, x) {
            Step::Yield(v) => v,
            Step::Return(_) => unreachable!(),
        }
    }
}
/// The coroutine's leaf for the Rust API.
struct RustSuspend<'a>(&'a mut Yielder<u64, u64>);
impl Leaf for RustSuspend<'_> {
    fn leaf(&mut self, x: u64) -> u64 {
        self.0.suspend(x)
    }
}

/// The resumer's leaf for the C API.
struct CEnter(*mut sys::CostackCoroutine);
impl Leaf for CEnter {
    fn leaf(&mut self, x: u64) -> u64 {
        // SAFETY: the coroutine is suspended (or new) whenever the resumer
        // runs, and is destroyed only after the benchmark.
        unsafe { sys::costack_enter(self.0) };
        x
    }
}
/// The coroutine's leaf for the C API.
struct CYield;
impl Leaf for CYield {
    fn leaf(&mut self, x: u64) -> u64 {
        // SAFETY: called only inside the C-API coroutine, whose resumer
        // waits in `costack_enter`.
        unsafe { sys::costack_yield() };
        x
    }
}

/// The resumer's leaf for corosensei.
struct CoroResume<'a, S: corosensei::stack::Stack>(&'a mut corosensei::Coroutine<u64, u64, (), S>);
impl<S: corosensei::stack::Stack> Leaf for CoroResume<'_, S> {
    fn leaf(&mut self, x: u64) -> u64 {
        match self.0.resume(x) {
            corosensei::CoroutineResult::Yield(v) => v,
            corosensei::CoroutineResult::Return(()) => unreachable!(),
        }
    }
}
/// The coroutine's leaf for corosensei.
struct CoroSuspend<'a>(&'a corosensei::Yielder<u64, u64>);
impl Leaf for CoroSuspend<'_> {
    fn leaf(&mut self, x: u64) -> u64 {
        self.0.suspend(x)
    }
}

fn deep_chain(c: &mut Crit) {
    let mut group = c.benchmark_group("deep_chain");
    let mut guard = costack::lock();

    let mut co = Coroutine::new(|y: &mut Yielder<u64, u64>, mut x: u64| loop {
        x = link8(&mut RustSuspend(y), x);
    });
    group.bench_function("costack_rust", |b| {
        b.iter(|| {
            let mut leaf = RustResume {
                co: &mut co,
                guard: &mut guard,
            };
            link8(&mut leaf, black_box(1))
        })
    });
    drop(co);

    /// Runs the coroutine's chain forever, yielding at its bottom.
    extern "C" fn chain_forever(_: *mut c_void) {
        let mut x = 0u64;
        loop {
            x = link8(&mut CYield, x);
        }
    }
    // SAFETY: the entry never unwinds and reads no opaque.
    let raw = unsafe { sys::costack_create(Some(chain_forever), std::ptr::null_mut()) };
    assert!(!raw.is_null());
    group.bench_function("costack_c", |b| {
        b.iter(|| link8(&mut CEnter(raw), black_box(1)))
    });
    // SAFETY: suspended, never entered again.
    unsafe { sys::costack_destroy(raw) };

    let mut coro =
        corosensei::Coroutine::new(|y: &corosensei::Yielder<u64, u64>, mut x: u64| loop {
            x = link8(&mut CoroSuspend(y), x);
        });
    group.bench_function("corosensei", |b| {
        b.iter(|| link8(&mut CoroResume(&mut coro), black_box(1)))
    });
    drop(coro);

    group.bench_function("calls_alone", |b| {
        b.iter(|| {
            let x = link8(&mut NoSwitch, black_box(1));
            link8(&mut NoSwitchOther, x)
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
        ("deep_chain", "costack_rust", "corosensei", None),
        ("deep_chain", "costack_c", "corosensei", None),
    ];
    println!("\nmedians (this run):");
    for group in ["round_trip", "lifecycle", "deep_chain"] {
        let Ok(dir) = std::fs::read_dir(output_dir().join(group)) else {
            continue;
        };
        let mut names: Vec<String> = dir
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        for name in names {
            if let Some(ns) = median_ns(group, &name) {
                println!("  median {group}/{name} {ns:.3} ns");
            }
        }
    }
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
        .with_measurement(CLOCK)
        .output_directory(&output_dir())
        .configure_from_args();
    // In `cargo test --benches` mode criterion runs each routine once and
    // writes no estimates; the ratios then print nothing.
    let _ = std::fs::remove_dir_all(output_dir().join("round_trip"));
    let _ = std::fs::remove_dir_all(output_dir().join("lifecycle"));
    let _ = std::fs::remove_dir_all(output_dir().join("deep_chain"));
    round_trip(&mut c);
    lifecycle(&mut c);
    deep_chain(&mut c);
    c.final_summary();
    report_ratios();
}
