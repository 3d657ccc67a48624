//! The `c_async` example, small: its C library served over TCP by
//! coroutines on tokio, with its own clients for a moment; and the
//! cancellation of a connection while the C library waits in a callback.

#![cfg(unix)]

#[allow(dead_code)]
#[path = "../examples/c_async.rs"]
mod example;

use example::server::serve_async_with;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn the_example_serves_its_clients() {
    let totals = example::demo::run(Duration::from_millis(200), 8).unwrap();
    assert_eq!(totals.connections, 8);
    assert!(totals.lines > 0);
    assert!(totals.bytes_in > 0 && totals.bytes_out > 0);
}

/// Dropping a connection's future while the C library blocks in its read
/// callback: the callback's `try_wait` fails, the callback returns -1 with
/// `ECANCELED`, the C library returns that, and the coroutine runs to its
/// end; nothing unwinds through the C frames.
#[test]
fn cancelling_a_connection_fails_the_c_callback_with_ecanceled() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let outcome = Rc::new(RefCell::new(None));
        let o = outcome.clone();
        let served = serve_async_with(stream, 64 << 10, move |r| {
            *o.borrow_mut() = Some(match r {
                Ok(s) => Ok(s.lines),
                Err(e) => Err(e.raw_os_error()),
            });
        });
        // One line answered, then the C library blocks reading the next.
        client.write_all(b"1 2 3\n").await.unwrap();
        let task = async {
            let mut reply = [0u8; 2];
            let (_, read) = tokio::join!(served, client.read_exact(&mut reply));
            unreachable!("{read:?}");
        };
        let timed_out = tokio::time::timeout(Duration::from_millis(50), task).await;
        assert!(timed_out.is_err());
        assert_eq!(*outcome.borrow(), Some(Err(Some(libc::ECANCELED))));
        assert!(!costack::lock_held());
    });
}
