// Where a value goes in and is read back as the longer-lived type, the type
// is invariant: none of these shortenings compiles.
use costack::{Coroutine, GlobalCell, RefMut, Yielder};

// A coroutine's input: its closure, written for `&'static str`, may keep it.
fn coroutine_input<'a>(co: Coroutine<&'static str, (), ()>) -> Coroutine<&'a str, (), ()> {
    co
}

// A yielder's yielded value: the caller reads it as a `&'static str`.
fn yielder_output<'a>(y: &'a Yielder<(), &'static str>) -> &'a Yielder<(), &'a str> {
    y
}

// A cell's contents: readers of the `'static` type would find a shorter borrow.
fn cell_contents<'a>(c: &'a GlobalCell<&'static str>) -> &'a GlobalCell<&'a str> {
    c
}

// A mutable borrow of a cell's contents: it could store a shorter borrow.
fn cell_borrow_mut<'a>(r: RefMut<'a, &'static str>) -> RefMut<'a, &'a str> {
    r
}

fn main() {}
