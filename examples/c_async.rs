//! Legacy C, made async: a C library written in the blocking style
//! (`examples/c_async/lineproto.c`: it pulls its input through a `read`
//! callback and pushes replies through a `write` callback, and sums the
//! numbers on each line) served over TCP by tokio, one costack coroutine
//! per connection.
//!
//! The C code blocks in its callbacks as it would in `read(2)`; each
//! callback awaits tokio's `AsyncRead`/`AsyncWrite` through the bridge
//! (`Waiter::try_wait`), so the coroutine, C frames and all, suspends to
//! tokio while the socket is not ready, and tokio serves the other
//! connections meanwhile. One thread, no change to the C code.
//!
//! Built-in clients (plain tokio tasks) connect and send lines for two
//! seconds, checking every sum; then they hang up, the C library returns
//! at end of input, and the program prints what it did:
//!
//! ```sh
//! cargo run --release --example c_async             # 2 s, 50 clients
//! cargo run --release --example c_async -- 5 200    # 5 s, 200 clients
//! ```

#[cfg(unix)]
#[path = "c_async/server.rs"]
pub mod server;

#[cfg(unix)]
fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().map_or(2.0, |s| s.parse().expect("seconds"));
    let clients: u64 = args.next().map_or(50, |s| s.parse().expect("clients"));
    let totals = demo::run(std::time::Duration::from_secs_f64(seconds), clients)?;
    println!("connections:  {}", totals.connections);
    println!("lines:        {}", totals.lines);
    println!(
        "bytes:        {} in, {} out",
        totals.bytes_in, totals.bytes_out
    );
    println!("elapsed:      {:.2} s", totals.elapsed.as_secs_f64());
    Ok(())
}

#[cfg(not(unix))]
fn main() {
    eprintln!("c_async: this demo's C callbacks set errno the Unix way");
    std::process::exit(1);
}

#[cfg(unix)]
pub mod demo {
    use super::server::{client, serve_async};
    use std::cell::RefCell;
    use std::io;
    use std::rc::Rc;
    use std::time::{Duration, Instant};

    /// What a run did.
    #[derive(Debug, Default)]
    pub struct Totals {
        pub connections: u64,
        pub lines: u64,
        pub bytes_in: u64,
        pub bytes_out: u64,
        pub elapsed: Duration,
    }

    /// Serves `clients` built-in clients for `duration`, on a tokio
    /// `current_thread` runtime.
    pub fn run(duration: Duration, clients: u64) -> io::Result<Totals> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let start = Instant::now();
            let deadline = start + duration;
            let served = Rc::new(RefCell::new(Vec::new()));
            let s = served.clone();
            let acceptor = tokio::task::spawn_local(async move {
                loop {
                    let (stream, _) = listener.accept().await?;
                    // One coroutine per connection, 64 KiB of stack.
                    let conn = tokio::task::spawn_local(serve_async(stream, 64 << 10));
                    s.borrow_mut().push(conn);
                }
                #[allow(unreachable_code)]
                Ok::<(), io::Error>(())
            });
            let mut handles = Vec::new();
            for id in 0..clients {
                let stream = tokio::net::TcpStream::connect(addr).await?;
                handles.push(tokio::task::spawn_local(client(stream, id, deadline)));
            }
            let mut totals = Totals::default();
            for h in handles {
                h.await.expect("client task")?;
            }
            acceptor.abort();
            let conns = std::mem::take(&mut *served.borrow_mut());
            for conn in conns {
                let done = conn.await.expect("connection task")?;
                totals.connections += 1;
                totals.lines += done.lines;
                totals.bytes_in += done.bytes_in;
                totals.bytes_out += done.bytes_out;
            }
            totals.elapsed = start.elapsed();
            Ok(totals)
        })
    }
}
