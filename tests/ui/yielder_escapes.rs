// The yielder cannot leave its coroutine: not returned, not stored outside.
use costack::{Coroutine, Yielder};
use std::cell::RefCell;
use std::rc::Rc;

fn main() {
    let _returned = Coroutine::new(|y: &mut Yielder<(), ()>, ()| y);

    let slot: Rc<RefCell<Option<&mut Yielder<(), ()>>>> = Rc::default();
    let inside = slot.clone();
    let _stored = Coroutine::new(move |y: &mut Yielder<(), ()>, ()| {
        *inside.borrow_mut() = Some(y);
    });
}
