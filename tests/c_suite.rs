//! Drives the C test suite (`tests/c/`) from `cargo test`: compiles it
//! against the public headers as C99 and as C++11 (`-Wall -Wextra -Werror`),
//! links it with the crate's staticlib `libcostack.a`, runs both builds and
//! fails with the suite's output if any case failed.  Also compiles and runs
//! the README's C example with the README's own command.
//!
//! With `COSTACK_TEST_VALGRIND=1` the C build also runs under Valgrind
//! memcheck (no errors, no definite or possible leaks allowed).  The cases
//! that must kill or exhaust a process run in child processes (the suite
//! executes itself again); Valgrind does not follow them
//! (`--trace-children=no`), so they run natively and are still checked.
//!
//! Compilers: `CC` and `CXX` from the environment, or `cc` and `c++`.
//!
//! # Where the staticlib comes from
//!
//! `cargo test` builds the library with every crate type of `[lib]`, so the
//! staticlib of this very build exists, but only in `target/<profile>/deps/`
//! as `libcostack-<hash>.a`, next to this test's executable: cargo uplifts
//! (copies to `target/<profile>/libcostack.a`) only what `cargo build`
//! builds.  Checked empirically with cargo 1.95: after `cargo test --test
//! c_suite` from a clean target directory, `deps/libcostack-<hash>.a` is
//! there and `target/debug/libcostack.a` is not.  The uplifted file, when
//! present, may come from an older `cargo build` with another backend, so it
//! is not used.
//!
//! `deps/` can hold several `libcostack-<hash>.a` (one per feature set ever
//! built).  We take the newest one that is not older than the C core the
//! build script made for this build (`$OUT_DIR/libcostack_core.a`): the
//! staticlib is always linked after the core it contains.  And because a
//! stale pick would most likely differ in backend, the suite prints the
//! backend it was linked with and we check it against `COSTACK_BACKEND`.
//! Building the staticlib again from here (a nested `cargo build`) would be
//! exact but would compile the crate and its dependencies a second time.
#![cfg(target_os = "linux")]

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

/// What a C program linked with `libcostack.a` needs on Linux, as printed
/// by `cargo rustc --lib -- --print native-static-libs` (Rust's std is in
/// the staticlib).  The README and `costack.pc` list the same.
const NATIVE_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The backend this build of the crate has (`COSTACK_BACKEND`, or the
/// target's default: see build.rs).
fn backend() -> String {
    costack::backend_name().to_string()
}

/// A scratch directory for this backend's binaries.
fn out_dir(what: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("c-{what}-{}", backend()));
    fs::create_dir_all(&dir).expect("create scratch directory");
    dir
}

fn mtime(p: &Path) -> SystemTime {
    fs::metadata(p)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// The staticlib `cargo test` built for this run (see the module docs).
fn staticlib() -> PathBuf {
    let exe = env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test executable has a directory");
    let core = Path::new(env!("OUT_DIR")).join("libcostack_core.a");
    let core_time = mtime(&core);
    let mut candidates: Vec<PathBuf> = fs::read_dir(deps)
        .expect("read the deps directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("libcostack-") && name.ends_with(".a")
        })
        .filter(|p| mtime(p) >= core_time)
        .collect();
    candidates.sort_by_key(|p| mtime(p));
    match candidates.pop() {
        Some(p) => p,
        None => panic!(
            "no libcostack-*.a in {} at least as new as {}: cargo test should have built the \
             staticlib there (crate-type \"staticlib\" in Cargo.toml)",
            deps.display(),
            core.display()
        ),
    }
}

fn compiler(var: &str, default: &str) -> OsString {
    env::var_os(var)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.into())
}

fn show(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Compile the suite's sources with `cc` in `lang` ("c" or "c++").
fn build_suite(cc: &OsString, lang: &str, std: &str, exe: &Path) {
    let root = manifest_dir();
    let mut sources: Vec<PathBuf> = fs::read_dir(root.join("tests/c"))
        .expect("read tests/c")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    let mut cmd = Command::new(cc);
    cmd.current_dir(&root)
        .args([
            "-x", lang, std, "-Wall", "-Wextra", "-Werror", "-O2", "-g", "-pthread",
        ])
        .arg("-Iinclude")
        .args(&sources)
        .args(["-x", "none"])
        .arg(staticlib())
        .args(NATIVE_LIBS)
        .arg("-o")
        .arg(exe);
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "compiling the C suite as {lang} failed: {cmd:?}\n{}",
        show(&out)
    );
}

/// Run a built suite (directly or under a wrapper) and check it passed,
/// against the backend this test was built for.
fn check_suite(mut cmd: Command, what: &str) -> String {
    let out = run(&mut cmd);
    let text = show(&out);
    // Shown with --nocapture, and by cargo test when something fails.
    println!("{what}:\n{text}");
    assert!(out.status.success(), "the C suite ({what}) failed:\n{text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let expect = format!("costack C suite, backend {}", backend());
    assert!(
        stdout.lines().any(|l| l == expect),
        "the staticlib linked is not the one for COSTACK_BACKEND={} (wanted a line {expect:?}):\n{text}",
        backend()
    );
    assert!(
        !stdout.lines().any(|l| l.starts_with("FAIL")),
        "a case failed:\n{text}"
    );
    // "N passed, M failed, K skipped".  Skips exist for platforms without
    // some facility (Windows, qemu-user); natively on Linux every case runs.
    let summary: Vec<u64> = stdout
        .lines()
        .rev()
        .find(|l| l.contains(" passed, "))
        .unwrap_or_else(|| panic!("no summary line:\n{text}"))
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(
        summary.len() >= 2 && summary[0] > 0 && summary[1..].iter().all(|&n| n == 0),
        "the suite should pass every case, fail and skip none:\n{text}"
    );
    text
}

#[test]
fn c_suite_as_c() {
    let exe = out_dir("suite").join("suite-c");
    build_suite(&compiler("CC", "cc"), "c", "-std=c99", &exe);
    check_suite(Command::new(&exe), "C build");
    // Again with the stacks of kernels before 6.13 (a mapping and an
    // mprotect guard each, within the vm.max_map_count budget), forced.
    let mut old_kernel = Command::new(&exe);
    old_kernel.env("COSTACK_NO_MADV_GUARD", "1");
    check_suite(old_kernel, "C build, COSTACK_NO_MADV_GUARD=1");

    if env::var("COSTACK_TEST_VALGRIND").is_ok_and(|v| v == "1") {
        let mut cmd = Command::new("valgrind");
        cmd.args([
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,possible",
            // The death and exhaustion cases run in children, natively.
            "--trace-children=no",
        ])
        .arg(&exe);
        let text = check_suite(cmd, "C build under Valgrind memcheck");
        assert!(
            text.contains("ERROR SUMMARY: 0 errors"),
            "Valgrind did not report a clean run:\n{text}"
        );
    }
}

#[test]
fn c_suite_as_cxx() {
    let exe = out_dir("suite").join("suite-cxx");
    build_suite(&compiler("CXX", "c++"), "c++", "-std=c++11", &exe);
    check_suite(Command::new(&exe), "C++ build");
}

/// The README's section "Using costack from C" shows a command that compiles
/// and links `examples/c/hello.c` against `target/release/libcostack.a`, and
/// what the program prints.  Run that very command (with this build's
/// staticlib in place of the release one) and compare the output.
#[test]
fn readme_c_example() {
    let root = manifest_dir();
    let readme = fs::read_to_string(root.join("README.md")).expect("read README.md");
    let section = readme
        .split("## Using costack from C")
        .nth(1)
        .expect("README has a section \"Using costack from C\"");
    let section = section.split("\n## ").next().unwrap();
    let blocks: Vec<&str> = section.split("```").skip(1).step_by(2).collect();
    // The program shown is the file, exactly.
    let shown = blocks
        .iter()
        .find_map(|b| b.strip_prefix("c\n"))
        .expect("a ```c block showing examples/c/hello.c");
    let file = fs::read_to_string(root.join("examples/c/hello.c")).expect("read hello.c");
    assert_eq!(
        shown, file,
        "the README's C code differs from examples/c/hello.c"
    );
    let build = blocks
        .iter()
        .find(|b| b.contains("examples/c/hello.c"))
        .expect("a code block that compiles examples/c/hello.c");
    // The command: the block's line that runs cc, with its continuations.
    let command: String = build
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("cc "))
        .scan(true, |more, l| {
            if !*more {
                return None;
            }
            *more = l.trim_end().ends_with('\\');
            Some(l.trim_end().trim_end_matches('\\').to_string())
        })
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        command.contains("target/release/libcostack.a") && command.contains("-o hello"),
        "unexpected README command: {command}"
    );
    let exe = out_dir("example").join("hello");
    let lib = staticlib();
    let command = command
        .replace("target/release/libcostack.a", lib.to_str().unwrap())
        .replace("-o hello", &format!("-o {}", exe.display()));
    let cc = compiler("CC", "cc");
    let out = run(Command::new("sh")
        .current_dir(&root)
        .env("CC", &cc)
        .arg("-c")
        // The README says `cc`; honour CC like the other builds here.
        .arg(format!(
            "\"$CC\" {}",
            command.trim_start().trim_start_matches("cc ")
        )));
    assert!(
        out.status.success(),
        "the README's command failed: {command}\n{}",
        show(&out)
    );

    let out = run(&mut Command::new(&exe));
    assert!(out.status.success(), "hello failed:\n{}", show(&out));
    // The block after the command shows the output, line for line.
    let expected = blocks
        .iter()
        .skip_while(|b| !b.contains("examples/c/hello.c"))
        .nth(1)
        .expect("a code block with hello's output after the command");
    let expected: Vec<&str> = expected.lines().skip(1).filter(|l| !l.is_empty()).collect();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let got: Vec<&str> = stdout.lines().collect();
    assert_eq!(got, expected, "hello's output differs from the README's");
}

/// `costack.pc` names this crate's version and links what the README and
/// the builds above link.  (CI also builds hello with pkg-config itself.)
#[test]
fn pkg_config_file() {
    let pc = fs::read_to_string(manifest_dir().join("costack.pc")).expect("read costack.pc");
    let field = |name: &str| {
        pc.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("costack.pc has no {name} line"))
            .trim()
            .to_string()
    };
    assert_eq!(field("Version:"), env!("CARGO_PKG_VERSION"));
    assert_eq!(field("Cflags:"), "-I${includedir}");
    let libs = field("Libs:");
    let mut words = libs.split_whitespace();
    assert_eq!(words.next(), Some("${libdir}/libcostack.a"));
    assert_eq!(words.collect::<Vec<_>>(), NATIVE_LIBS);
    assert_eq!(field("prefix="), "${pcfiledir}");
}
