//! costack: stackful coroutines for Rust and C.
//!
//! The C core lives in `csrc/` and is compiled into this crate; its API is
//! `include/costack.h`.

#![warn(missing_docs)]

pub mod sys;
