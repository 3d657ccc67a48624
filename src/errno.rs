//! `errno` as the C core sets it (resource exhaustion, invalid sizes), read
//! back as an [`io::Error`].
//!
//! On Unix `errno` is the OS error that [`io::Error::last_os_error`] reads.
//! On Windows it is the C runtime's variable, unrelated to the OS error
//! (`GetLastError`) that `last_os_error` reads there, so it is read from the
//! C runtime and its values translated.

use std::io;

/// The error the last failed C call of the core reported in `errno`.
pub(crate) fn last_error() -> io::Error {
    #[cfg(not(windows))]
    {
        io::Error::last_os_error()
    }
    #[cfg(windows)]
    {
        extern "C" {
            // msvcrt and the UCRT alike: the calling thread's errno.
            fn _errno() -> *mut libc::c_int;
        }
        // SAFETY: `_errno` takes nothing and returns a valid pointer to the
        // calling thread's errno.
        let e = unsafe { *_errno() };
        match e {
            libc::ENOMEM => io::ErrorKind::OutOfMemory.into(),
            libc::EINVAL => io::ErrorKind::InvalidInput.into(),
            libc::EAGAIN => io::ErrorKind::WouldBlock.into(),
            _ => io::Error::other(format!("C error {e} (errno)")),
        }
    }
}
