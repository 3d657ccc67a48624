//! [`CoStream`]: a coroutine driven as a [`Stream`], so that one body can
//! both wait for futures and yield items, on stable Rust: what async
//! generators would give.
//!
//! The trait is [`futures_core::Stream`], the one the async ecosystem
//! shares (tokio-stream, futures' `StreamExt`, ...): a trait of our own
//! would need an adapter everywhere, and `futures-core` is small, stable
//! and has no dependencies of its own.
//!
//! ```
//! use costack::CoStream;
//! use futures_core::Stream;
//! use std::pin::pin;
//! use std::task::{Context, Poll, Waker};
//!
//! let mut numbers = pin!(CoStream::new(|w| {
//!     for i in 0..3 {
//!         let doubled = w.wait(async move { i * 2 }); // await...
//!         w.yield_item(doubled); // ...and yield, in one body
//!     }
//! }));
//! let mut cx = Context::from_waker(Waker::noop());
//! let mut got = Vec::new();
//! while let Poll::Ready(Some(v)) = numbers.as_mut().poll_next(&mut cx) {
//!     got.push(v);
//! }
//! assert_eq!(got, [0, 2, 4]);
//! ```

use crate::coroutine::{Builder, Step};
use crate::future::{Driver, Waiter};
use futures_core::{FusedStream, Stream};
use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A closure on a coroutine's stack, driven as a [`Stream`]: each
/// [`Waiter::yield_item`] is an item, the closure's return ends the
/// stream. Waits, panics, cancellation and threads are as for a
/// [`CoFuture`](crate::CoFuture) (see the [`future`](crate::future)
/// module): dropping the stream before its end cancels the coroutine.
///
/// ```
/// use costack::CoStream;
/// use futures_core::Stream;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut ticks = Box::pin(CoStream::new(|w| {
///     for i in 0..2 {
///         w.wait(tokio::time::sleep(Duration::from_millis(1)));
///         w.yield_item(i);
///     }
/// }));
/// let mut got = Vec::new();
/// while let Some(v) = std::future::poll_fn(|cx| ticks.as_mut().poll_next(cx)).await {
///     got.push(v);
/// }
/// assert_eq!(got, [0, 1]);
/// # }
/// ```
pub struct CoStream<T> {
    driver: Driver<T, ()>,
}

impl<T> CoStream<T> {
    /// A stream that runs `body` on a new coroutine with the default 1 MiB
    /// stack (mapped lazily); [`Builder::build_stream`] chooses the size.
    ///
    /// # Panics
    ///
    /// If the C core cannot create the coroutine (out of memory or
    /// mappings).
    ///
    /// ```
    /// let s = costack::CoStream::new(|w| w.yield_item("one"));
    /// # drop(s);
    /// ```
    pub fn new<F>(body: F) -> CoStream<T>
    where
        F: for<'t> FnOnce(&mut Waiter<'t, T>) + 'static,
    {
        match Builder::new().build_stream(body) {
            Ok(s) => s,
            Err(e) => panic!("costack: cannot create a coroutine: {e}"),
        }
    }

    /// Makes the stream `Send`, for multi-thread executors.
    ///
    /// # Safety
    ///
    /// As for [`CoFuture::into_send`](crate::CoFuture::into_send): nothing
    /// on the coroutine's stack is tied to its thread whenever it is
    /// suspended; `T` must be `Send`.
    ///
    /// ```
    /// // SAFETY: the coroutine holds only integers across its suspends.
    /// let s = unsafe { costack::CoStream::new(|w| w.yield_item(1u8)).into_send() };
    /// std::thread::spawn(move || drop(s)).join().unwrap();
    /// ```
    pub unsafe fn into_send(self) -> SendCoStream<T> {
        SendCoStream(self)
    }
}

impl<T> Stream for CoStream<T> {
    type Item = T;

    /// Resumes the coroutine until it yields an item (`Ready(Some)`),
    /// returns (`Ready(None)`, and so on every later poll), or waits
    /// (`Pending`).
    ///
    /// # Panics
    ///
    /// With the closure's panic.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        if this.driver.is_finished() {
            return Poll::Ready(None);
        }
        match this.driver.poll_step(cx) {
            Poll::Ready(Step::Yield(item)) => Poll::Ready(Some(item)),
            Poll::Ready(Step::Return(())) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> FusedStream for CoStream<T> {
    /// Whether the closure has returned (or panicked).
    ///
    /// ```
    /// use futures_core::stream::FusedStream;
    /// let s = costack::CoStream::<()>::new(|_| ());
    /// assert!(!s.is_terminated());
    /// ```
    fn is_terminated(&self) -> bool {
        self.driver.is_finished()
    }
}

impl<T> fmt::Debug for CoStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoStream")
            .field("finished", &self.driver.is_finished())
            .finish()
    }
}

/// A [`CoStream`] that may move between threads, from the `unsafe`
/// [`CoStream::into_send`], whose contract it carries.
///
/// ```
/// // SAFETY: the coroutine holds nothing across its suspends.
/// let s: costack::SendCoStream<()> = unsafe { costack::CoStream::new(|_| ()).into_send() };
/// let _inner: costack::CoStream<()> = s.into_inner();
/// ```
pub struct SendCoStream<T>(CoStream<T>);

// SAFETY: as for `SendCoFuture`: the contract of `CoStream::into_send`,
// and `T: Send`.
unsafe impl<T: Send> Send for SendCoStream<T> {}

impl<T> SendCoStream<T> {
    /// The stream, no longer `Send`.
    ///
    /// ```
    /// // SAFETY: never suspends.
    /// let s = unsafe { costack::CoStream::<u8>::new(|_| ()).into_send() }.into_inner();
    /// # drop(s);
    /// ```
    pub fn into_inner(self) -> CoStream<T> {
        self.0
    }
}

impl<T> Stream for SendCoStream<T> {
    type Item = T;

    /// As [`CoStream`]'s.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        Pin::new(&mut self.get_mut().0).poll_next(cx)
    }
}

impl<T> fmt::Debug for SendCoStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Builder {
    /// A [`CoStream`] on a coroutine with this builder's stack and guard.
    ///
    /// # Errors
    ///
    /// As [`Builder::build`].
    ///
    /// ```
    /// let s = costack::Builder::new()
    ///     .stack_size(64 << 10)
    ///     .build_stream(|w| w.yield_item(1))
    ///     .unwrap();
    /// # drop(s);
    /// ```
    pub fn build_stream<T, F>(self, body: F) -> io::Result<CoStream<T>>
    where
        F: for<'t> FnOnce(&mut Waiter<'t, T>) + 'static,
    {
        Ok(CoStream {
            driver: Driver::new(self, body)?,
        })
    }
}
