//! Drives the C test suite (`tests/c/`) from `cargo test`: compiles it
//! against the public headers as C99 and as C++11 (`-Wall -Wextra -Werror`),
//! links it with the C core this build of the crate uses, runs both builds
//! and fails with the suite's output if any case failed.  Also compiles and
//! runs the README's C example with the README's own command.
//!
//! The core is the static library `build.rs` compiled into `OUT_DIR`
//! (`libcostack.a`, the C core alone), linked with the system libraries
//! `csrc/sources.txt` names; with the `system` feature, the installed
//! library, as `pkg-config --libs --static costack` gives it.
//!
//! With `COSTACK_TEST_VALGRIND=1` the C build also runs under Valgrind
//! memcheck (no errors, no definite or possible leaks allowed).  The cases
//! that must kill or exhaust a process run in child processes (the suite
//! executes itself again); Valgrind does not follow them
//! (`--trace-children=no`), so they run natively and are still checked.
//!
//! Compilers: `CC` and `CXX` from the environment, or `cc` and `c++`.
#![cfg(target_os = "linux")]

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// The system libraries a program that links the static library adds, as
/// `csrc/sources.txt` lists them for Unix (the line `unix libs ...`).
fn platform_libs() -> Vec<String> {
    let text =
        fs::read_to_string(manifest_dir().join("csrc/sources.txt")).expect("read sources.txt");
    text.lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .find_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("unix") && words.next() == Some("libs"))
                .then(|| words.map(|w| format!("-l{w}")).collect())
        })
        .expect("csrc/sources.txt has a line `unix libs ...`")
}

/// The C core build.rs compiled for this build of the crate.
fn core_library() -> PathBuf {
    let lib = Path::new(env!("OUT_DIR")).join("libcostack.a");
    assert!(lib.exists(), "build.rs should have built {}", lib.display());
    lib
}

/// What links the core into a C program: the library and what it needs.
fn core_link_args() -> Vec<String> {
    if cfg!(feature = "system") {
        let out = run(Command::new("pkg-config").args(["--libs", "--static", "costack"]));
        assert!(
            out.status.success(),
            "pkg-config --libs costack failed:\n{}",
            show(&out)
        );
        return String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect();
    }
    let mut args = vec![core_library().display().to_string()];
    args.extend(platform_libs());
    args
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
        .args(core_link_args())
        .arg("-lm")
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
        "the core linked is not the one for COSTACK_BACKEND={} (wanted a line {expect:?}):\n{text}",
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

/// The README's section "Using costack from C" shows `examples/c/hello.c`, a
/// command that compiles it and links it with the library of a CMake build
/// (`build/libcostack.a`), and what the program prints.  Run that very
/// command, with this build's core in place of CMake's, and compare the
/// output.  (CI also builds it against an installed costack, with pkg-config
/// and with CMake's find_package.)
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
        .find(|b| b.contains("build/libcostack.a"))
        .expect("a code block that links examples/c/hello.c with build/libcostack.a");
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
        command.contains("examples/c/hello.c") && command.contains("-o hello"),
        "unexpected README command: {command}"
    );
    // It links the library and the libraries sources.txt names, no more.
    let linked: Vec<&str> = command
        .split_whitespace()
        .filter(|w| w.starts_with("-l") || w.ends_with(".a"))
        .collect();
    let mut expected_libs = vec!["build/libcostack.a".to_string()];
    expected_libs.extend(platform_libs());
    assert_eq!(
        linked, expected_libs,
        "the README's command links other libraries than csrc/sources.txt names: {command}"
    );

    let exe = out_dir("example").join("hello");
    let command = command
        .replace("build/libcostack.a", &core_link_args().join(" "))
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
        .skip_while(|b| !b.contains("build/libcostack.a"))
        .nth(1)
        .expect("a code block with hello's output after the command");
    let expected: Vec<&str> = expected.lines().skip(1).filter(|l| !l.is_empty()).collect();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let got: Vec<&str> = stdout.lines().collect();
    assert_eq!(got, expected, "hello's output differs from the README's");
}
