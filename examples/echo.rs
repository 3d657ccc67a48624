//! A TCP echo server on 127.0.0.1 where every connection is a task of a
//! costack [`Loop`](costack::Loop).
//!
//! Each connection's code reads like blocking I/O — `read`, then
//! `write_all` — but its socket is non-blocking: when the kernel says
//! `EAGAIN`, the task waits for the socket to become ready
//! (`TaskCx::readable`/`writable`), and the loop (epoll underneath) runs
//! the other tasks meanwhile. Synchronous-looking code, asynchronous
//! underneath, and no scheduler of the program's own.
//!
//! Built-in client tasks, on the same loop, connect to the server and
//! send messages of varying sizes for a few seconds, checking every echo.
//! Then they hang up, the server's connection tasks see end-of-file
//! and return, and the program prints what it did:
//!
//! ```sh
//! cargo run --release --example echo          # 2 seconds of traffic
//! cargo run --release --example echo -- 5     # 5 seconds
//! ```

// The demo waits on Unix file descriptors; costack itself runs on Windows
// too (the Fibers backend), this example does not.
#[cfg(unix)]
fn main() -> std::io::Result<()> {
    demo::main()
}

#[cfg(not(unix))]
fn main() {
    eprintln!("echo: this demo waits on Unix file descriptors");
    std::process::exit(1);
}

#[cfg(unix)]
mod demo {
    use costack::{Builder, GlobalCell, JoinHandle, Loop, TaskCx};
    use std::io::{self, ErrorKind, Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    /// How many client tasks (and so server connections) run at once.
    const CLIENTS: usize = 16;
    /// The largest message a client sends.
    const MAX_MESSAGE: usize = 8 * 1024;
    /// How long a task waits for its socket before it gives up.
    const STALL: Duration = Duration::from_secs(5);

    /// Totals, shared by all tasks without a lock of their own: the global
    /// mutex (held by the loop while tasks run, proven by each task's
    /// `TaskCx`) protects them.
    struct Totals {
        connections: u64,
        bytes_echoed: u64,
        messages: u64,
        /// Task entries by the loop: each task's first run, and each wait
        /// that ended.
        resumes: u64,
    }

    static TOTALS: GlobalCell<Totals> = GlobalCell::new(Totals {
        connections: 0,
        bytes_echoed: 0,
        messages: 0,
        resumes: 0,
    });

    /// Counts one entry of the running task by the loop.
    fn resumed(cx: &TaskCx<'_>) {
        TOTALS.borrow_mut(cx).resumes += 1;
    }

    /// A non-blocking socket with blocking-looking `Read`/`Write`: on
    /// `EAGAIN` the task waits until the loop reports the socket ready.
    struct Socket<'c, 't> {
        stream: TcpStream,
        cx: &'c mut TaskCx<'t>,
    }

    impl<'c, 't> Socket<'c, 't> {
        fn new(stream: TcpStream, cx: &'c mut TaskCx<'t>) -> io::Result<Socket<'c, 't>> {
            stream.set_nonblocking(true)?;
            stream.set_nodelay(true)?;
            Ok(Socket { stream, cx })
        }

        /// Waits until the socket is readable (or writable), at most
        /// `STALL`.
        fn wait(&mut self, writable: bool) -> io::Result<()> {
            let ready = if writable {
                self.cx.writable(&self.stream, Some(STALL))?
            } else {
                self.cx.readable(&self.stream, Some(STALL))?
            };
            resumed(self.cx);
            if !ready {
                return Err(io::Error::new(ErrorKind::TimedOut, "nothing ready for 5 s"));
            }
            Ok(())
        }
    }

    impl Read for Socket<'_, '_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            loop {
                match self.stream.read(buf) {
                    Err(e) if e.kind() == ErrorKind::WouldBlock => self.wait(false)?,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    other => return other,
                }
            }
        }
    }

    impl Write for Socket<'_, '_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            loop {
                match self.stream.write(buf) {
                    Err(e) if e.kind() == ErrorKind::WouldBlock => self.wait(true)?,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    other => return other,
                }
            }
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Tasks with a stack big enough for this program (64 KiB).
    fn small_stack() -> Builder {
        Builder::new().stack_size(64 * 1024)
    }

    /// The server side of one connection: echo until the peer hangs up.
    fn serve(stream: TcpStream, cx: &mut TaskCx<'_>) -> io::Result<()> {
        resumed(cx);
        let mut sock = Socket::new(stream, cx)?;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = sock.read(&mut buf)?;
            if n == 0 {
                return Ok(()); // end of file: the client is done
            }
            sock.write_all(&buf[..n])?;
            TOTALS.borrow_mut(&*sock.cx).bytes_echoed += n as u64;
        }
    }

    /// Accepts `count` connections, spawning a `serve` task for each, then
    /// waits for them all to end.
    fn accept(listener: TcpListener, count: usize, cx: &mut TaskCx<'_>) -> io::Result<()> {
        resumed(cx);
        listener.set_nonblocking(true)?;
        let mut servers: Vec<JoinHandle<io::Result<()>>> = Vec::new();
        while servers.len() < count {
            match listener.accept() {
                Ok((stream, _peer)) => {
                    TOTALS.borrow_mut(cx).connections += 1;
                    let task = cx.spawn_with(&small_stack(), move |cx| serve(stream, cx))?;
                    servers.push(task);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    let ready = cx.readable(&listener, Some(STALL))?;
                    resumed(cx);
                    if !ready {
                        return Err(io::Error::new(ErrorKind::TimedOut, "no client for 5 s"));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        for server in servers {
            cx.join(server)?;
        }
        Ok(())
    }

    /// A client: sends messages of varying sizes until `deadline`, checking
    /// that each comes back intact, then hangs up.
    fn client(
        id: usize,
        server: SocketAddr,
        deadline: Instant,
        cx: &mut TaskCx<'_>,
    ) -> io::Result<()> {
        resumed(cx);
        // A blocking connect to the loopback address returns at once: the
        // kernel completes the handshake with the listening socket's
        // backlog, before the server task accepts.
        let mut sock = Socket::new(TcpStream::connect(server)?, cx)?;
        let mut seed = (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1; // xorshift needs a non-zero seed
        let mut sent = vec![0u8; MAX_MESSAGE];
        let mut back = vec![0u8; MAX_MESSAGE];
        while Instant::now() < deadline {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = 1 + (seed as usize % MAX_MESSAGE);
            for (i, b) in sent[..len].iter_mut().enumerate() {
                *b = (seed >> (i % 8 * 8)) as u8 ^ i as u8;
            }
            sock.write_all(&sent[..len])?;
            sock.read_exact(&mut back[..len])?;
            if back[..len] != sent[..len] {
                return Err(io::Error::new(ErrorKind::InvalidData, "echo differs"));
            }
            TOTALS.borrow_mut(&*sock.cx).messages += 1;
        }
        Ok(()) // dropping the socket closes it: the server sees end-of-file
    }

    pub fn main() -> io::Result<()> {
        let seconds: f64 = match std::env::args().nth(1) {
            Some(s) => s.parse().expect("usage: echo [seconds]"),
            None => 2.0,
        };
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        println!(
            "echo server on {addr} ({} backend): {CLIENTS} client coroutines for {seconds} s",
            costack::backend_name()
        );

        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(seconds);
        let lp = Loop::new()?;
        let server = lp.spawn_with(&small_stack(), move |cx| accept(listener, CLIENTS, cx))?;
        let mut clients = Vec::new();
        for id in 0..CLIENTS {
            clients.push(lp.spawn_with(&small_stack(), move |cx| client(id, addr, deadline, cx))?);
        }
        lp.run()?; // until every task ended
        for task in clients {
            task.join()?;
        }
        server.join()?;
        let elapsed = start.elapsed();

        let guard = costack::lock();
        let totals = TOTALS.borrow(&guard);
        let mib = totals.bytes_echoed as f64 / (1024.0 * 1024.0);
        println!("connections:  {}", totals.connections);
        println!("messages:     {}", totals.messages);
        println!(
            "bytes echoed: {} ({:.1} MiB, {:.1} MiB/s)",
            totals.bytes_echoed,
            mib,
            mib / elapsed.as_secs_f64()
        );
        println!("resumes:      {}", totals.resumes);
        println!("elapsed:      {:.2} s", elapsed.as_secs_f64());
        Ok(())
    }
}
