//! The crate's way out for misuse that cannot be reported by a panic: a
//! named message on stderr, then `abort`; and the same kind of line for
//! what the process survives but must hear about.
//!
//! Used where unwinding is impossible or unsound: in code that runs between
//! a C frame and the `catch_unwind` at a coroutine's root, for misuse that
//! leaves a coroutine in a state nothing can recover from, and for misuse
//! found while the thread is already unwinding, where a second panic would
//! abort anyway, without saying why.

/// Writes `msg` and a newline to stderr with `write(2)` (no allocation, no
/// lock, nothing that could panic). A failed write is given up silently:
/// there is nowhere else to say it.
pub(crate) fn report(msg: &str) {
    let line = [msg.as_bytes(), b"\n"];
    for part in line {
        let mut rest = part;
        while !rest.is_empty() {
            // SAFETY: `rest` is a valid byte slice for its whole length.
            let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len() as _) };
            if n <= 0 {
                return;
            }
            rest = &rest[n as usize..];
        }
    }
}

/// Writes `msg` as [`report`] does, then aborts the process.
pub(crate) fn die(msg: &str) -> ! {
    report(msg);
    std::process::abort()
}
