//! A TCP echo server on 127.0.0.1 where every connection is a coroutine.
//!
//! Each connection's code reads like blocking I/O — `read`, then
//! `write_all` — but its socket is non-blocking: when the kernel says
//! `EAGAIN`, the coroutine suspends, handing the event loop the file
//! descriptor it waits for; a small `poll(2)` loop resumes it when the
//! socket is ready. Synchronous-looking code, asynchronous underneath.
//!
//! Built-in client coroutines, in the same loop, connect to the server and
//! send messages of varying sizes for a few seconds, checking every echo.
//! Then they hang up, the server's connection coroutines see end-of-file
//! and return, and the program prints what it did:
//!
//! ```sh
//! cargo run --release --example echo          # 2 seconds of traffic
//! cargo run --release --example echo -- 5     # 5 seconds
//! ```

// The demo needs poll(2) and Unix file descriptors; costack itself runs on
// Windows too (the Fibers backend), this example does not.
#[cfg(unix)]
fn main() -> std::io::Result<()> {
    demo::main()
}

#[cfg(not(unix))]
fn main() {
    eprintln!("echo: this demo uses poll(2), which is Unix only");
    std::process::exit(1);
}

#[cfg(unix)]
mod demo {
    use costack::{Builder, Coroutine, GlobalCell, Step, Yielder};
    use std::io::{self, ErrorKind, Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::os::fd::{AsRawFd, RawFd};
    use std::time::{Duration, Instant};

    /// How many client coroutines (and so server connections) run at once.
    const CLIENTS: usize = 16;
    /// The largest message a client sends.
    const MAX_MESSAGE: usize = 8 * 1024;

    /// What a coroutine asks of the event loop when it suspends.
    enum Request {
        /// Resume me when `fd` is ready for `events` (`POLLIN`/`POLLOUT`).
        Wait { fd: RawFd, events: i16 },
        /// Start this coroutine too, then resume me.
        Spawn(Task),
    }

    /// Every coroutine here: resumed with `()`, suspends with a request,
    /// returns how it ended.
    type Task = Coroutine<(), Request, io::Result<()>>;
    type Y = Yielder<(), Request>;

    /// Totals, shared by all coroutines without a lock of their own: the
    /// global mutex (held by the loop, proven by each coroutine's yielder)
    /// protects them.
    struct Totals {
        connections: u64,
        bytes_echoed: u64,
        messages: u64,
    }

    static TOTALS: GlobalCell<Totals> = GlobalCell::new(Totals {
        connections: 0,
        bytes_echoed: 0,
        messages: 0,
    });

    /// A non-blocking socket with blocking-looking `Read`/`Write`: on `EAGAIN`
    /// it suspends the coroutine until `poll` reports the socket ready.
    struct Socket<'y> {
        stream: TcpStream,
        y: &'y mut Y,
    }

    impl<'y> Socket<'y> {
        fn new(stream: TcpStream, y: &'y mut Y) -> io::Result<Socket<'y>> {
            stream.set_nonblocking(true)?;
            stream.set_nodelay(true)?;
            Ok(Socket { stream, y })
        }

        /// Suspends until the socket is ready for `events`.
        fn wait(&mut self, events: i16) {
            let fd = self.stream.as_raw_fd();
            self.y.suspend(Request::Wait { fd, events });
        }
    }

    impl Read for Socket<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            loop {
                match self.stream.read(buf) {
                    Err(e) if e.kind() == ErrorKind::WouldBlock => self.wait(libc::POLLIN),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    other => return other,
                }
            }
        }
    }

    impl Write for Socket<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            loop {
                match self.stream.write(buf) {
                    Err(e) if e.kind() == ErrorKind::WouldBlock => self.wait(libc::POLLOUT),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    other => return other,
                }
            }
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A coroutine with a stack big enough for this program (64 KiB).
    fn task<F>(body: F) -> Task
    where
        F: FnOnce(&mut Y, ()) -> io::Result<()> + 'static,
    {
        Builder::new()
            .stack_size(64 * 1024)
            .build(body)
            .expect("create a coroutine")
    }

    /// The server side of one connection: echo until the peer hangs up.
    fn serve(stream: TcpStream, y: &mut Y) -> io::Result<()> {
        let mut sock = Socket::new(stream, y)?;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = sock.read(&mut buf)?;
            if n == 0 {
                return Ok(()); // end of file: the client is done
            }
            sock.write_all(&buf[..n])?;
            TOTALS.borrow_mut(&*sock.y).bytes_echoed += n as u64;
        }
    }

    /// Accepts `count` connections, starting a `serve` coroutine for each.
    fn accept(listener: TcpListener, count: usize, y: &mut Y) -> io::Result<()> {
        listener.set_nonblocking(true)?;
        let mut accepted = 0;
        while accepted < count {
            match listener.accept() {
                Ok((stream, _peer)) => {
                    accepted += 1;
                    TOTALS.borrow_mut(&*y).connections += 1;
                    y.suspend(Request::Spawn(task(move |y, ()| serve(stream, y))));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    let fd = listener.as_raw_fd();
                    y.suspend(Request::Wait {
                        fd,
                        events: libc::POLLIN,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// A client: sends messages of varying sizes until `deadline`, checking
    /// that each comes back intact, then hangs up.
    fn client(id: usize, server: SocketAddr, deadline: Instant, y: &mut Y) -> io::Result<()> {
        let mut sock = Socket::new(TcpStream::connect(server)?, y)?;
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
            TOTALS.borrow_mut(&*sock.y).messages += 1;
        }
        Ok(()) // dropping the socket closes it: the server sees end-of-file
    }

    /// The event loop: resumes runnable coroutines, polls for the waiting ones.
    /// Returns how many resumes it made.
    fn run(first: Vec<Task>) -> io::Result<u64> {
        let mut guard = costack::lock();
        // Each task, and what it waits for (None: runnable).
        let mut tasks: Vec<(Task, Option<(RawFd, i16)>)> =
            first.into_iter().map(|t| (t, None)).collect();
        let mut resumes = 0u64;
        while !tasks.is_empty() {
            let mut i = 0;
            while i < tasks.len() {
                if tasks[i].1.is_some() {
                    i += 1;
                    continue;
                }
                resumes += 1;
                match tasks[i].0.resume(&mut guard, ()) {
                    Step::Yield(Request::Wait { fd, events }) => tasks[i].1 = Some((fd, events)),
                    Step::Yield(Request::Spawn(new)) => {
                        tasks.push((new, None));
                        continue; // resume the spawner again right away
                    }
                    Step::Return(result) => {
                        tasks.swap_remove(i);
                        result?;
                        continue; // `i` is now another task
                    }
                }
                i += 1;
            }
            if tasks.is_empty() {
                break;
            }
            let mut fds: Vec<libc::pollfd> = tasks
                .iter()
                .map(|(_, w)| {
                    let (fd, events) = w.expect("every remaining task waits");
                    libc::pollfd {
                        fd,
                        events,
                        revents: 0,
                    }
                })
                .collect();
            // SAFETY: `fds` is a valid array of `fds.len()` pollfds.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 5_000) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != ErrorKind::Interrupted {
                    return Err(e);
                }
            } else if n == 0 {
                return Err(io::Error::new(ErrorKind::TimedOut, "nothing ready for 5 s"));
            }
            for ((_, wait), fd) in tasks.iter_mut().zip(&fds) {
                if fd.revents != 0 {
                    *wait = None;
                }
            }
        }
        Ok(resumes)
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
        let mut first = vec![task(move |y, ()| accept(listener, CLIENTS, y))];
        for id in 0..CLIENTS {
            first.push(task(move |y, ()| client(id, addr, deadline, y)));
        }
        let resumes = run(first)?;
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
        println!("resumes:      {resumes}");
        println!("elapsed:      {:.2} s", elapsed.as_secs_f64());
        Ok(())
    }
}
