//! Randomized: many coroutines driven through random create / resume /
//! resume-from-inside-another-coroutine / drop sequences, compared step by
//! step with a model of what each should do. Alone in its binary so the C
//! core's `live` counter belongs to it.

use costack::{Coroutine, Step, Yielder};
use proptest::prelude::*;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

/// What a coroutine in this test does: mixes each input into an
/// accumulator, yields `acc ^ k` for `k` in `0..yields`, returns `acc`;
/// panics (with `Boom(acc)`) before yield number `panic_at` if set (or
/// before returning when `panic_at == yields`).
#[derive(Debug, Clone, Copy)]
struct Plan {
    yields: u8,
    panic_at: Option<u8>,
}

#[derive(Debug, Clone)]
enum Op {
    Create(Plan),
    Resume(usize, u32),
    ResumeNested(usize, u32),
    Drop(usize),
}

#[derive(Debug, PartialEq)]
struct Boom(u32);

struct CountDrop(Rc<Cell<u32>>);
impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn mix(acc: u32, input: u32) -> u32 {
    acc.wrapping_mul(31).wrapping_add(input)
}

fn body(plan: Plan, drops: CountDrop) -> Coroutine<u32, u32, u32> {
    Coroutine::new(move |y: &mut Yielder<u32, u32>, first: u32| {
        let _drops = drops; // dropped exactly once, however the coroutine ends
        let mut acc = first;
        for k in 0..plan.yields {
            if plan.panic_at == Some(k) {
                std::panic::panic_any(Boom(acc));
            }
            acc = mix(acc, y.suspend(acc ^ k as u32));
        }
        if plan.panic_at == Some(plan.yields) {
            std::panic::panic_any(Boom(acc));
        }
        acc
    })
}

/// The model of one coroutine.
#[derive(Debug)]
struct Model {
    plan: Plan,
    /// Yields done so far; None before the first resume.
    k: Option<u8>,
    acc: u32,
    finished: bool,
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Yield(u32),
    Return(u32),
    Panic(u32),
    FinishedPanic,
}

impl Model {
    fn resume(&mut self, input: u32) -> Outcome {
        if self.finished {
            return Outcome::FinishedPanic;
        }
        let k = match self.k {
            None => {
                self.acc = input;
                0
            }
            Some(k) => {
                self.acc = mix(self.acc, input);
                k + 1
            }
        };
        self.k = Some(k);
        if self.plan.panic_at == Some(k) {
            self.finished = true;
            return Outcome::Panic(self.acc);
        }
        if k == self.plan.yields {
            self.finished = true;
            return Outcome::Return(self.acc);
        }
        Outcome::Yield(self.acc ^ k as u32)
    }
}

fn classify(r: std::thread::Result<Step<u32, u32>>) -> Outcome {
    match r {
        Ok(Step::Yield(v)) => Outcome::Yield(v),
        Ok(Step::Return(v)) => Outcome::Return(v),
        Err(p) => match p.downcast::<Boom>() {
            Ok(b) => Outcome::Panic(b.0),
            Err(p) => {
                let msg = p.downcast_ref::<&str>().copied().unwrap_or("?");
                assert!(msg.contains("finished coroutine"), "unexpected panic {msg}");
                Outcome::FinishedPanic
            }
        },
    }
}

fn live() -> usize {
    costack::stats().live
}

fn plan() -> impl Strategy<Value = Plan> {
    (0u8..6, prop::option::weighted(0.3, 0u8..7)).prop_map(|(yields, panic_at)| Plan {
        yields,
        panic_at: panic_at.filter(|&p| p <= yields),
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => plan().prop_map(Op::Create),
        5 => (any::<usize>(), any::<u32>()).prop_map(|(i, v)| Op::Resume(i, v)),
        2 => (any::<usize>(), any::<u32>()).prop_map(|(i, v)| Op::ResumeNested(i, v)),
        1 => any::<usize>().prop_map(Op::Drop),
    ]
}

fn run(ops: Vec<Op>) {
    let base_live = live();
    let drops = Rc::new(Cell::new(0u32));
    let mut expected_drops = 0u32;
    let mut real: Vec<Coroutine<u32, u32, u32>> = Vec::new();
    let mut model: Vec<Model> = Vec::new();
    let mut held = Some(costack::lock());

    for op in ops {
        match op {
            Op::Create(plan) => {
                real.push(body(plan, CountDrop(drops.clone())));
                model.push(Model {
                    plan,
                    k: None,
                    acc: 0,
                    finished: false,
                });
            }
            Op::Resume(i, input) if !real.is_empty() => {
                let i = i % real.len();
                let co = &mut real[i];
                let got = classify(catch_unwind(AssertUnwindSafe(|| {
                    co.resume(held.as_mut().unwrap(), input)
                })));
                let want = model[i].resume(input);
                if matches!(want, Outcome::Return(_) | Outcome::Panic(_)) {
                    expected_drops += 1;
                }
                assert_eq!(got, want, "resume of #{i}");
            }
            Op::ResumeNested(i, input) if !real.is_empty() => {
                // Move the coroutine into a driver coroutine, resume it from
                // there (its yielder is the proof), and take it back.
                let i = i % real.len();
                let target = real.swap_remove(i);
                let mut driver = Coroutine::new(move |y: &mut Yielder<(), ()>, ()| {
                    let mut target = target;
                    let r = catch_unwind(AssertUnwindSafe(|| target.resume(y, input)));
                    (target, classify(r))
                });
                let (target, got) = match driver.resume(held.as_mut().unwrap(), ()) {
                    Step::Return(v) => v,
                    Step::Yield(()) => unreachable!(),
                };
                real.push(target);
                let last = real.len() - 1;
                real.swap(i, last);
                let want = model[i].resume(input);
                if matches!(want, Outcome::Return(_) | Outcome::Panic(_)) {
                    expected_drops += 1;
                }
                assert_eq!(got, want, "nested resume of #{i}");
            }
            Op::Drop(i) if !real.is_empty() => {
                let i = i % real.len();
                // Sometimes without the lock held: drop takes it.
                let unlock = i % 2 == 0;
                if unlock {
                    held = None;
                }
                drop(real.swap_remove(i));
                let m = model.swap_remove(i);
                if !m.finished {
                    expected_drops += 1;
                }
                if unlock {
                    held = Some(costack::lock());
                }
            }
            _ => {}
        }
        assert_eq!(drops.get(), expected_drops, "destructor count");
        let unfinished = model.iter().filter(|m| !m.finished).count();
        assert_eq!(
            live() - base_live,
            unfinished,
            "live coroutines in the C core"
        );
    }
    drop(held);
    drop(real);
    assert_eq!(live(), base_live);
    assert_eq!(drops.get() as usize, model_created(&model, expected_drops));
}

/// Every coroutine ever created drops its counter exactly once by the end:
/// those still in `model` at the end count once each on top of the drops
/// already expected, minus those that had finished (already counted).
fn model_created(model: &[Model], expected_so_far: u32) -> usize {
    expected_so_far as usize + model.iter().filter(|m| !m.finished).count()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn coroutines_behave_like_the_model(ops in prop::collection::vec(op(), 1..80)) {
        run(ops);
    }
}
