//! The async bridge's figures (`cargo bench --bench bridge`):
//!
//! 1. The cost of one `Waiter::wait` on an already-ready future, against a
//!    plain `.await` of the same future in an `async` block, both behind
//!    `black_box`.
//! 2. The C library of `examples/c_async` served to 1,000 concurrent
//!    connections (a) by coroutines on a tokio `current_thread` runtime
//!    through the bridge and (b) by one OS thread per connection, in the
//!    same run, with the whole process (and its client process) pinned to
//!    CPUs 0 and 1 as `taskset -c 0,1` would: lines answered per second,
//!    and memory per connection, counted as the growth of the server's
//!    resident memory (`VmRSS`) plus the growth of the kernel's
//!    `KernelStack` (`/proc/meminfo`, system-wide: every thread costs a
//!    kernel stack), sampled in the middle of the traffic.
//!
//! `cargo bench --bench bridge -- [seconds] [connections]` (3 s, 1000).
//! The clients run in a child process (this program with `--client`), so
//! that their memory is not the server's.

#[cfg(target_os = "linux")]
#[path = "../examples/c_async/server.rs"]
mod server;

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("bridge: this benchmark reads /proc and pins CPUs the Linux way");
}

#[cfg(target_os = "linux")]
fn main() {
    linux::main()
}

#[cfg(target_os = "linux")]
mod linux {
    use super::server::{client, serve_async, serve_blocking};
    use costack::CoFuture;
    use std::hint::black_box;
    use std::io::{BufRead, BufReader};
    use std::net::SocketAddr;
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    pub fn main() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        match args.first().map(String::as_str) {
            Some("--client") => return client_process(&args[1..]),
            Some("--server") => return server_process(&args[1..]),
            _ => {}
        }
        // `cargo bench` passes `--bench`; numbers are ours.
        let nums: Vec<f64> = args.iter().filter_map(|a| a.parse().ok()).collect();
        let seconds = nums.first().copied().unwrap_or(3.0);
        let conns = nums.get(1).copied().unwrap_or(1000.0) as u64;
        pin_to_cpus_0_1();
        wait_cost();
        // Each variant in a process of its own, so that none finds the
        // memory (or pooled stacks) of another.
        let mut results = Vec::new();
        for variant in ["bridge", "bridge-2-workers", "plain-tokio", "threads"] {
            let out = Command::new(std::env::current_exe().unwrap())
                .args([
                    "--server",
                    variant,
                    &seconds.to_string(),
                    &conns.to_string(),
                ])
                .stderr(Stdio::inherit())
                .output()
                .expect("server process");
            assert!(out.status.success(), "the {variant} server process failed");
            let text = String::from_utf8(out.stdout).unwrap();
            print!(
                "{}",
                text.lines()
                    .filter(|l| !l.starts_with("RESULT"))
                    .fold(String::new(), |a, l| a + l + "\n")
            );
            let result = text
                .lines()
                .find_map(|l| l.strip_prefix("RESULT "))
                .unwrap();
            let mut it = result.split_whitespace().map(|v| v.parse::<f64>().unwrap());
            let (a, b, c) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
            results.push((variant, a, b, c));
        }
        println!();
        let threads = results[3];
        for &(name, per_sec, kib, per_cpu) in &results[..3] {
            println!(
                "{name} vs threads: {:.2}x the throughput, {:.2}x the memory per connection, \
                 {:.2}x the lines per server CPU-second",
                per_sec / threads.1,
                kib / threads.2,
                per_cpu / threads.3
            );
        }
    }

    /// A server process: `variant seconds conns`.
    fn server_process(args: &[String]) {
        let seconds: f64 = args[1].parse().unwrap();
        let conns: u64 = args[2].parse().unwrap();
        let (name, start): (&str, Start) = match args[0].as_str() {
            "bridge" => ("coroutines on tokio current_thread (bridge)", serve_bridge),
            "bridge-2-workers" => (
                "coroutines on tokio, 2 worker threads (bridge, into_send)",
                serve_bridge_multi,
            ),
            "plain-tokio" => (
                "reference: plain async Rust on tokio current_thread (no coroutine, no C)",
                serve_plain_tokio,
            ),
            _ => ("one OS thread per connection", serve_threads),
        };
        let (per_sec, kib, per_cpu) = run_variant(name, seconds, conns, start);
        println!("RESULT {per_sec} {kib} {per_cpu}");
        // The servers' threads still run: leave without waiting for them.
        std::process::exit(0);
    }

    /// Pins this process (and the threads and children it makes from now
    /// on) to CPUs 0 and 1, as `taskset -c 0,1`.
    fn pin_to_cpus_0_1() {
        // SAFETY: a zeroed cpu_set_t is an empty set; the calls get valid
        // pointers and sizes.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(0, &mut set);
            libc::CPU_SET(1, &mut set);
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                eprintln!(
                    "bridge: cannot pin to CPUs 0,1: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
        println!("pinned to CPUs 0,1 (the clients' process too)");
    }

    /// 1: one `wait` on a ready future against a plain `.await`.
    fn wait_cost() {
        const N: u64 = 20_000_000;
        let mut best_wait = f64::MAX;
        let mut best_await = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            let sum = futures_executor::block_on(CoFuture::new(|w| {
                let mut sum = 0u64;
                for i in 0..N {
                    sum = sum.wrapping_add(w.wait(black_box(std::future::ready(i))));
                }
                sum
            }));
            black_box(sum);
            best_wait = best_wait.min(t.elapsed().as_secs_f64() * 1e9 / N as f64);
            let t = Instant::now();
            let sum = futures_executor::block_on(async {
                let mut sum = 0u64;
                for i in 0..N {
                    sum = sum.wrapping_add(black_box(std::future::ready(i)).await);
                }
                sum
            });
            black_box(sum);
            best_await = best_await.min(t.elapsed().as_secs_f64() * 1e9 / N as f64);
        }
        println!(
            "wait on a ready future: {best_wait:.2} ns; .await of it: {best_await:.2} ns; \
             ratio {:.2}x (best of 5 runs of {N})",
            best_wait / best_await
        );
    }

    fn vm_rss_kib() -> u64 {
        field("/proc/self/status", "VmRSS:")
    }

    fn kernel_stack_kib() -> u64 {
        field("/proc/meminfo", "KernelStack:")
    }

    fn field(file: &str, name: &str) -> u64 {
        let text = std::fs::read_to_string(file).unwrap();
        let line = text.lines().find(|l| l.starts_with(name)).unwrap();
        line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap()
    }

    /// A server variant: starts serving on a listener, returns its address.
    type Start = fn(Arc<AtomicU64>) -> SocketAddr;

    /// Runs one variant: the server, a client process with `conns`
    /// connections for `seconds`; prints and returns (lines per second,
    /// KiB per connection).
    fn run_variant(name: &str, seconds: f64, conns: u64, start: Start) -> (f64, f64, f64) {
        let accepted = Arc::new(AtomicU64::new(0));
        let rss0 = vm_rss_kib();
        let ks0 = kernel_stack_kib();
        let addr = start(accepted.clone());
        let cpu0 = cpu_seconds();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--client",
                &addr.to_string(),
                &conns.to_string(),
                &seconds.to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("client process");
        // Sample the memory in the middle of the traffic, all connected.
        let t = Instant::now();
        while accepted.load(Ordering::Relaxed) < conns && t.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_secs_f64(seconds / 2.0));
        let rss1 = vm_rss_kib();
        let ks1 = kernel_stack_kib();
        let mut out = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut out)
            .unwrap();
        assert!(child.wait().unwrap().success(), "the client process failed");
        let cpu = cpu_seconds() - cpu0;
        let mut it = out.split_whitespace().map(|v| v.parse::<f64>().unwrap());
        let (lines, elapsed) = (it.next().unwrap(), it.next().unwrap());
        let per_sec = lines / elapsed;
        let rss = (rss1 as f64 - rss0 as f64) / conns as f64;
        let ks = (ks1 as f64 - ks0 as f64) / conns as f64;
        println!();
        println!("{name}: {conns} connections, {elapsed:.2} s");
        println!("  throughput:  {per_sec:.0} lines/s");
        println!(
            "  server CPU:  {cpu:.2} s, {:.0} lines per CPU-second",
            lines / cpu
        );
        println!(
            "  memory:      {:.1} KiB per connection ({rss:.1} KiB resident + {ks:.1} KiB kernel stack)",
            rss + ks
        );
        (per_sec, rss + ks, lines / cpu)
    }

    /// The user + system CPU time of this (server) process so far.
    fn cpu_seconds() -> f64 {
        // SAFETY: `getrusage` fills the struct it is given.
        let u = unsafe {
            let mut u: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut u);
            u
        };
        let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        t(u.ru_utime) + t(u.ru_stime)
    }

    /// A reference, not the bridge: the same protocol in plain async Rust
    /// on tokio `current_thread` (no coroutine, no C), to tell the bridge's
    /// cost from tokio's.
    fn serve_plain_tokio(accepted: Arc<AtomicU64>) -> SocketAddr {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    accepted.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(async move {
                        let (rd, mut wr) = stream.into_split();
                        let mut rd = tokio::io::BufReader::new(rd);
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if rd.read_line(&mut line).await? == 0 {
                                return Ok::<(), std::io::Error>(());
                            }
                            let sum: i64 = line
                                .split_whitespace()
                                .map(|t| t.parse::<i64>().unwrap_or(0))
                                .sum();
                            wr.write_all(format!("{sum}\n").as_bytes()).await?;
                        }
                    });
                }
            });
        });
        rx.recv().unwrap()
    }

    /// (a): a thread running a tokio `current_thread` runtime, one
    /// coroutine (32 KiB stack) per connection.
    fn serve_bridge(accepted: Arc<AtomicU64>) -> SocketAddr {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    accepted.fetch_add(1, Ordering::Relaxed);
                    tokio::task::spawn_local(serve_async(stream, costack::Builder::MIN_STACK_SIZE));
                }
            });
        });
        rx.recv().unwrap()
    }

    /// (a) on a multi-thread runtime: two worker threads, the coroutines
    /// made `Send` with `into_send` (the C library keeps nothing
    /// thread-bound across its callbacks' waits).
    fn serve_bridge_multi(accepted: Arc<AtomicU64>) -> SocketAddr {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    accepted.fetch_add(1, Ordering::Relaxed);
                    let conn = serve_async(stream, costack::Builder::MIN_STACK_SIZE);
                    // SAFETY: see above: between waits the coroutine's stack
                    // holds the C library's buffers and tokio's `Send`
                    // stream only.
                    tokio::spawn(unsafe { conn.into_send() });
                }
            });
        });
        rx.recv().unwrap()
    }

    /// (b): one OS thread per connection (64 KiB stacks), blocking.
    fn serve_threads(accepted: Arc<AtomicU64>) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || loop {
            let (stream, _) = listener.accept().unwrap();
            accepted.fetch_add(1, Ordering::Relaxed);
            std::thread::Builder::new()
                .stack_size(64 << 10)
                .spawn(move || serve_blocking(stream))
                .expect("a thread");
        });
        addr
    }

    /// The client process: `addr conns seconds`; prints "lines elapsed".
    fn client_process(args: &[String]) {
        let addr: SocketAddr = args[0].parse().unwrap();
        let conns: u64 = args[1].parse().unwrap();
        let seconds: f64 = args[2].parse().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut streams = Vec::new();
            for _ in 0..conns {
                streams.push(tokio::net::TcpStream::connect(addr).await.unwrap());
            }
            let start = Instant::now();
            let deadline = start + Duration::from_secs_f64(seconds);
            let handles: Vec<_> = streams
                .into_iter()
                .enumerate()
                .map(|(id, s)| tokio::spawn(client(s, id as u64, deadline)))
                .collect();
            let mut lines = 0;
            for h in handles {
                lines += h.await.unwrap().unwrap();
            }
            println!("{lines} {}", start.elapsed().as_secs_f64());
        });
    }
}
