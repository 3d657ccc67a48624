//! Raw bindings to the C API in `include/costack.h` (temporary hand-written
//! subset until the bindgen issue lands).
#![allow(non_camel_case_types, missing_docs)]

use libc::{c_char, c_int, c_void, size_t};

#[repr(C)]
pub struct CostackCoroutine {
    _private: [u8; 0],
}

pub type CostackEntry = unsafe extern "C" fn(opaque: *mut c_void);

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct CostackStats {
    pub live: size_t,
    pub pooled: size_t,
    pub stacks_mapped: size_t,
    pub stack_bytes_mapped: size_t,
}

extern "C" {
    pub fn costack_create(entry: Option<CostackEntry>, opaque: *mut c_void) -> *mut CostackCoroutine;
    pub fn costack_enter(co: *mut CostackCoroutine);
    pub fn costack_yield();
    pub fn costack_self() -> *mut CostackCoroutine;
    pub fn costack_in_coroutine() -> c_int;
    pub fn costack_stats(stats: *mut CostackStats);
    pub fn costack_backend_name() -> *const c_char;
}
