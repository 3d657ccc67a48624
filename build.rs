//! Builds the C core (`csrc/`) into the crate.
//!
//! One backend file is compiled beside the generic core, chosen by the
//! target and, on Unix, by `COSTACK_BACKEND=asm|ucontext|sigaltstack`.
//! The default is `asm` (our own switch) on x86-64 and aarch64 Linux,
//! `ucontext` on other Unix targets, `fibers` on Windows.

use std::env;

fn main() {
    println!("cargo:rerun-if-env-changed=COSTACK_BACKEND");
    println!("cargo:rerun-if-changed=csrc");
    println!("cargo:rerun-if-changed=include");
    #[cfg(feature = "bindgen")]
    bindings::generate();

    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let has_asm = target_arch == "x86_64" || target_arch == "aarch64";
    let default_backend = if target_os == "linux" && has_asm {
        "asm"
    } else {
        "ucontext"
    };
    let backend = env::var("COSTACK_BACKEND").unwrap_or_else(|_| default_backend.to_string());

    let mut build = cc::Build::new();
    build
        .include("include")
        .include("csrc")
        .flag_if_supported("-std=c99")
        .warnings(true)
        .extra_warnings(true)
        .file("csrc/coroutine.c")
        .file("csrc/qemu_compat.c");

    if target_os == "windows" {
        // One backend on Windows, Fibers: every architecture, the gnu
        // (mingw) and msvc toolchains alike.
        if env::var("COSTACK_BACKEND").is_ok_and(|b| b != "fibers") {
            panic!(
                "costack: on Windows the only backend is \"fibers\" (COSTACK_BACKEND={backend:?})"
            );
        }
        build
            .file("csrc/platform_windows.c")
            .file("csrc/backend_fibers.c");
        finish(build, "fibers");
        return;
    }
    build.file("csrc/platform_unix.c").file("csrc/stack_unix.c");
    match backend.as_str() {
        "ucontext" | "sigaltstack" => {
            // The define reaches every file, so the core writes the
            // _setjmp/_longjmp switch into its own functions (backend.h).
            build
                .define("COSTACK_BACKEND_SETJMP", None)
                .file("csrc/switch_setjmp.c")
                .file(format!("csrc/backend_{backend}.c"));
        }
        "asm" => {
            // Our own switch: x86-64 System V and aarch64 only.  The define
            // reaches every file, so the core inlines the switch (backend.h).
            if !has_asm {
                panic!(
                    "costack: COSTACK_BACKEND=asm supports x86_64 and aarch64, not {target_arch:?}"
                );
            }
            build
                .define("COSTACK_BACKEND_ASM", None)
                .file("csrc/backend_asm.c")
                .file(format!("csrc/switch_asm_{target_arch}.S"));
        }
        other => panic!(
            "costack: unknown COSTACK_BACKEND={other:?} (expected \"asm\", \"ucontext\" or \"sigaltstack\")"
        ),
    }
    finish(build, &backend);
}

/// Compile the core and tell rustc and dependent crates what was built.
fn finish(build: cc::Build, backend: &str) {
    build.compile("costack_core");
    println!("cargo:rustc-cfg=costack_backend=\"{backend}\"");
    println!("cargo:rustc-check-cfg=cfg(costack_backend, values(\"ucontext\", \"sigaltstack\", \"fibers\", \"asm\"))");
    println!(
        "cargo:include={}/include",
        env::var("CARGO_MANIFEST_DIR").unwrap()
    );
}

/// The `bindgen` feature: regenerate `src/sys/bindings.rs` from
/// `include/costack.h` into `OUT_DIR`; `src/sys/mod.rs` then includes that
/// file instead of the committed one (and a test compares the two).
#[cfg(feature = "bindgen")]
mod bindings {
    use std::{env, path::PathBuf};

    /// The first line of the generated file, committed with it.
    const HEADER: &str = "// Generated from include/costack.h by `cargo build --features bindgen` \
                          (build.rs writes $OUT_DIR/bindings.rs; see src/sys/mod.rs). Do not edit.";

    pub fn generate() {
        let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("bindings.rs");
        bindgen::Builder::default()
            .header("include/costack.h")
            .raw_line(HEADER)
            .allowlist_function("costack_.*")
            .allowlist_type("Costack.*")
            .allowlist_var("COSTACK_.*")
            .ctypes_prefix("libc")
            .use_core()
            .layout_tests(false)
            .clang_macro_fallback()
            .merge_extern_blocks(true)
            .rust_target(bindgen::RustTarget::stable(75, 0).unwrap_or_else(|e| panic!("{e}")))
            .generate()
            .expect("costack: bindgen could not process include/costack.h")
            .write_to_file(&out)
            .expect("costack: cannot write the generated bindings");
    }
}
