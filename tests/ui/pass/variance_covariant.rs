// Where values only come out, a shorter lifetime is fine: these compile.
use costack::{Coroutine, GlobalCell, Ref, RefMut, Step, Yielder};

// A coroutine's yielded and returned values.
fn coroutine_output<'a>(
    co: Coroutine<(), &'static str, &'static str>,
) -> Coroutine<(), &'a str, &'a str> {
    co
}

// A yielder's inputs (what `suspend` returns).
fn yielder_input<'a>(y: &'a Yielder<&'static str, ()>) -> &'a Yielder<&'a str, ()> {
    y
}

// A shared borrow of a cell: its lifetime and its contents' type.
fn cell_borrow<'a, 'long: 'a>(r: Ref<'long, &'static str>) -> Ref<'a, &'a str> {
    r
}

// A mutable borrow of a cell: its lifetime (not its contents' type).
fn cell_borrow_mut<'a, 'long: 'a>(r: RefMut<'long, u32>) -> RefMut<'a, u32> {
    r
}

static NAME: GlobalCell<&'static str> = GlobalCell::new("name");
static COUNT: GlobalCell<u32> = GlobalCell::new(0);

fn main() {
    let mut guard = costack::lock();
    let mut co = coroutine_output(Coroutine::new(|y: &mut Yielder<(), &'static str>, ()| {
        y.suspend("yielded");
        "returned"
    }));
    assert_eq!(co.resume(&mut guard, ()), Step::Yield("yielded"));
    assert_eq!(co.resume(&mut guard, ()), Step::Return("returned"));

    let mut co = Coroutine::new(|y: &mut Yielder<&'static str, ()>, first: &'static str| {
        // The shorter view of the yielder is still a proof.
        NAME.get(yielder_input(y)) == first
    });
    assert_eq!(co.resume(&mut guard, "name"), Step::Return(true));

    assert_eq!(*cell_borrow(NAME.borrow(&guard)), "name");
    *cell_borrow_mut(COUNT.borrow_mut(&guard)) += 1;
    assert_eq!(COUNT.get(&guard), 1);
}
