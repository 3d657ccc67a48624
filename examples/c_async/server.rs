//! The parts of the `c_async` example that its test and the `bridge`
//! benchmark share: the C library's binding, a connection served by a
//! coroutine on tokio through the bridge, the same served by an OS thread,
//! and the clients.

use costack::{Builder, Cancelled, CoFuture, Waiter};
use std::convert::Infallible;
use std::ffi::{c_char, c_long, c_void};
use std::io::{self, Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

type ReadFn = unsafe extern "C" fn(*mut c_void, *mut c_char, usize) -> c_long;
type WriteFn = unsafe extern "C" fn(*mut c_void, *const c_char, usize) -> c_long;

#[link(name = "lineproto", kind = "static")]
extern "C" {
    /// `examples/c_async/lineproto.h`.
    fn lineproto_serve(rd: ReadFn, wr: WriteFn, ctx: *mut c_void) -> c_long;
}

/// What one served connection did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Served {
    pub lines: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Sets the calling thread's `errno`, which the C library reads after a
/// callback returns -1.
fn set_errno(e: i32) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: the calling thread's errno, always valid.
    unsafe {
        *libc::__errno_location() = e
    };
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    // SAFETY: as above.
    unsafe {
        *libc::__error() = e
    };
}

/// A callback's failure: -1 with `errno`.
fn fail(e: i32) -> c_long {
    set_errno(e);
    -1
}

/// The C library's context for a connection served by a coroutine.
struct AsyncConn {
    /// The coroutine's waiter, from `Waiter::call_c`.
    waiter: *mut c_void,
    stream: tokio::net::TcpStream,
    served: Served,
}

/// What a callback of an async connection does: awaits `op` on the
/// connection's stream through the bridge, without unwinding into C.
///
/// # Safety
///
/// `ctx` is the `AsyncConn` that `serve_async` passed to the C library,
/// inside its `call_c`.
unsafe fn async_io(
    ctx: *mut c_void,
    op: impl FnOnce(&mut Waiter, &mut tokio::net::TcpStream) -> Result<io::Result<usize>, Cancelled>,
) -> c_long {
    // SAFETY: the caller's contract; the C library holds no other
    // reference to it while it calls us.
    let conn = unsafe { &mut *ctx.cast::<AsyncConn>() };
    // SAFETY: the pointer `call_c` gave, whose call is running (the C
    // library runs inside it); the waiter is used only here meanwhile.
    let w = unsafe { Waiter::<Infallible>::from_raw(conn.waiter) };
    // No panic may unwind into the C library.
    match panic::catch_unwind(AssertUnwindSafe(|| op(w, &mut conn.stream))) {
        Ok(Ok(Ok(n))) => n as c_long,
        Ok(Ok(Err(e))) => fail(e.raw_os_error().unwrap_or(libc::EIO)),
        Ok(Err(Cancelled)) => fail(libc::ECANCELED),
        Err(_) => fail(libc::EIO),
    }
}

unsafe extern "C" fn async_read(ctx: *mut c_void, buf: *mut c_char, len: usize) -> c_long {
    // SAFETY: the C library passes a buffer of `len` bytes.
    let buf = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
    // SAFETY: `ctx` is what `serve_async` gave the library.
    let n = unsafe { async_io(ctx, |w, s| w.try_wait(s.read(buf))) };
    if n > 0 {
        // SAFETY: as in `async_io`.
        unsafe { (*ctx.cast::<AsyncConn>()).served.bytes_in += n as u64 };
    }
    n
}

unsafe extern "C" fn async_write(ctx: *mut c_void, buf: *const c_char, len: usize) -> c_long {
    // SAFETY: the C library passes `len` bytes.
    let buf = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) };
    // SAFETY: `ctx` is what `serve_async` gave the library.
    let n = unsafe { async_io(ctx, |w, s| w.try_wait(s.write(buf))) };
    if n > 0 {
        // SAFETY: as in `async_io`.
        unsafe { (*ctx.cast::<AsyncConn>()).served.bytes_out += n as u64 };
    }
    n
}

/// A coroutine that serves `stream` with the C library, its blocking
/// callbacks awaiting tokio's I/O: a future to spawn on a `LocalSet`.
/// Dropping it while the library waits makes that callback fail with
/// `ECANCELED`, and the library returns.
pub fn serve_async(
    stream: tokio::net::TcpStream,
    stack_size: usize,
) -> CoFuture<io::Result<Served>> {
    serve_async_with(stream, stack_size, |_| {})
}

/// `serve_async`, calling `done` with the result as the coroutine ends
/// (also when the future was dropped, and the coroutine ran to its end
/// with its waits failing).
pub fn serve_async_with(
    stream: tokio::net::TcpStream,
    stack_size: usize,
    done: impl FnOnce(&io::Result<Served>) + 'static,
) -> CoFuture<io::Result<Served>> {
    Builder::new()
        .stack_size(stack_size)
        .guard_size(4096)
        .build_future(move |w| {
            let mut conn = AsyncConn {
                waiter: std::ptr::null_mut(),
                stream,
                served: Served::default(),
            };
            let lines = w.call_c(|waiter| {
                conn.waiter = waiter;
                let ctx = (&mut conn as *mut AsyncConn).cast();
                // SAFETY: the callbacks get `ctx`, an `AsyncConn` that lives
                // across the call, holding the waiter of this `call_c`.
                unsafe { lineproto_serve(async_read, async_write, ctx) }
            });
            let result = if lines < 0 {
                Err(io::Error::last_os_error())
            } else {
                conn.served.lines = lines as u64;
                Ok(conn.served)
            };
            done(&result);
            result
        })
        .expect("a coroutine")
}

/// The C library's context for a connection served by an OS thread.
struct BlockingConn {
    stream: std::net::TcpStream,
    served: Served,
}

unsafe extern "C" fn blocking_read(ctx: *mut c_void, buf: *mut c_char, len: usize) -> c_long {
    // SAFETY: `ctx` is the `BlockingConn` of `serve_blocking`; the buffer
    // has `len` bytes.
    let (conn, buf) = unsafe {
        (
            &mut *ctx.cast::<BlockingConn>(),
            std::slice::from_raw_parts_mut(buf.cast::<u8>(), len),
        )
    };
    match conn.stream.read(buf) {
        Ok(n) => {
            conn.served.bytes_in += n as u64;
            n as c_long
        }
        Err(e) => fail(e.raw_os_error().unwrap_or(libc::EIO)),
    }
}

unsafe extern "C" fn blocking_write(ctx: *mut c_void, buf: *const c_char, len: usize) -> c_long {
    // SAFETY: as in `blocking_read`.
    let (conn, buf) = unsafe {
        (
            &mut *ctx.cast::<BlockingConn>(),
            std::slice::from_raw_parts(buf.cast::<u8>(), len),
        )
    };
    match conn.stream.write(buf) {
        Ok(n) => {
            conn.served.bytes_out += n as u64;
            n as c_long
        }
        Err(e) => fail(e.raw_os_error().unwrap_or(libc::EIO)),
    }
}

/// Serves `stream` with the C library on the calling thread, blocking.
#[allow(dead_code)] // used by the benchmark only
pub fn serve_blocking(stream: std::net::TcpStream) -> io::Result<Served> {
    let mut conn = BlockingConn {
        stream,
        served: Served::default(),
    };
    // SAFETY: the callbacks get `ctx`, a `BlockingConn` that lives across
    // the call.
    let lines = unsafe {
        lineproto_serve(
            blocking_read,
            blocking_write,
            (&mut conn as *mut BlockingConn).cast(),
        )
    };
    if lines < 0 {
        return Err(io::Error::last_os_error());
    }
    conn.served.lines = lines as u64;
    Ok(conn.served)
}

/// A client: sends lines of numbers and checks each sum, one line at a
/// time, until `deadline`; then hangs up. Returns the lines answered.
pub async fn client(stream: tokio::net::TcpStream, id: u64, deadline: Instant) -> io::Result<u64> {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let mut reply = String::new();
    let mut answered = 0u64;
    let mut i = id;
    while Instant::now() < deadline {
        let (a, b, c) = (i % 1000, (i * 7) % 1000, 3);
        wr.write_all(format!("{a} {b} -{c}\n").as_bytes()).await?;
        reply.clear();
        if rd.read_line(&mut reply).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let sum: i64 = reply
            .trim()
            .parse()
            .map_err(|_| io::Error::other(reply.clone()))?;
        if sum != (a + b) as i64 - c {
            return Err(io::Error::other(format!(
                "wrong sum {sum} for {a} {b} -{c}"
            )));
        }
        answered += 1;
        i += 1;
    }
    wr.shutdown().await?;
    // The server answers what is left and closes.
    let mut rest = Vec::new();
    rd.read_to_end(&mut rest).await?;
    Ok(answered)
}
