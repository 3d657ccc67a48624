//! Builds the C core (`csrc/`) into the crate, or with the `system` feature
//! links the one installed on the system (found with pkg-config).
//!
//! Which files and defines make each backend, and each target's default
//! backend, come from `csrc/sources.txt`, the one description of the core
//! that CMake and the scripts read too. `COSTACK_BACKEND` picks another
//! backend; empty or unset means the default.

use std::collections::BTreeMap;
use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=COSTACK_BACKEND");
    println!("cargo:rerun-if-changed=csrc");
    println!("cargo:rerun-if-changed=include");
    #[cfg(feature = "bindgen")]
    bindings::generate();
    example_c_library();

    if cfg!(feature = "system") {
        link_system();
        return;
    }

    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let sources = Sources::read(Path::new("csrc/sources.txt"));
    let platform = if os == "windows" { "windows" } else { "unix" };
    let asked = env::var("COSTACK_BACKEND").unwrap_or_default();
    let backend = if asked.is_empty() {
        sources.default_backend(&os, &arch, platform)
    } else {
        asked
    };
    sources.check(&backend, platform, &os, &arch);

    let mut build = cc::Build::new();
    build
        .include("include")
        .include("csrc")
        .flag_if_supported("-std=c99")
        .flag_if_supported("-fstack-clash-protection")
        .warnings(true)
        .extra_warnings(true);
    for file in sources
        .get("core", "sources")
        .iter()
        .chain(sources.get(platform, "sources"))
        .chain(sources.get(&backend, "sources"))
    {
        build.file(Path::new("csrc").join(file.replace("@ARCH@", &arch)));
    }
    for define in sources.get(&backend, "defines") {
        build.define(define, None);
    }
    build.compile("costack");
    println!(
        "cargo:include={}/include",
        env::var("CARGO_MANIFEST_DIR").unwrap()
    );
}

/// The `system` feature: link the installed C library instead of building a
/// copy, so that a program whose C libraries also link it has one core (one
/// global mutex).
#[cfg(feature = "system")]
fn link_system() {
    let lib = pkg_config::Config::new()
        .atleast_version(env!("CARGO_PKG_VERSION"))
        .statik(true)
        .probe("costack")
        .unwrap_or_else(|e| {
            panic!(
                "costack: the `system` feature links the costack C library installed on this \
                 system, and pkg-config did not find it (install it with CMake, see the \
                 README, and set PKG_CONFIG_PATH to its lib/pkgconfig): {e}"
            )
        });
    for dir in &lib.include_paths {
        println!("cargo:include={}", dir.display());
    }
}

#[cfg(not(feature = "system"))]
fn link_system() {
    unreachable!("cfg!(feature = \"system\") and #[cfg] disagree")
}

/// `csrc/sources.txt`: lines of `<name> <key> <value>...`.
struct Sources(BTreeMap<(String, String), Vec<String>>);

impl Sources {
    fn read(path: &Path) -> Sources {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("costack: cannot read {}: {e}", path.display()));
        let mut facts = BTreeMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace().map(str::to_string);
            if let (Some(name), Some(key)) = (words.next(), words.next()) {
                facts.insert((name, key), words.collect());
            }
        }
        Sources(facts)
    }

    fn get(&self, name: &str, key: &str) -> &[String] {
        self.0
            .get(&(name.to_string(), key.to_string()))
            .map_or(&[], Vec::as_slice)
    }

    fn has(&self, name: &str, key: &str) -> bool {
        self.0.contains_key(&(name.to_string(), key.to_string()))
    }

    /// The backend of the first `default` line matching `<os>-<arch>`,
    /// `<os>`, `<platform>`.
    fn default_backend(&self, os: &str, arch: &str, platform: &str) -> String {
        [format!("{os}-{arch}"), os.to_string(), platform.to_string()]
            .iter()
            .find_map(|key| self.get("default", key).first())
            .unwrap_or_else(|| {
                panic!("costack: csrc/sources.txt has no default backend for {os}-{arch}")
            })
            .clone()
    }

    /// Refuse, with a sentence, a backend that does not exist or cannot
    /// run on this target.
    fn check(&self, backend: &str, platform: &str, os: &str, arch: &str) {
        let backends: Vec<&str> = self
            .0
            .keys()
            .filter(|(_, key)| key == "platform")
            .map(|(name, _)| name.as_str())
            .collect();
        if !self.has(backend, "platform") {
            panic!(
                "costack: unknown COSTACK_BACKEND={backend:?} (csrc/sources.txt has {backends:?})"
            );
        }
        let allows = |key: &str, value: &str| {
            let values = self.get(backend, key);
            values.iter().any(|v| v == "any" || v == value)
        };
        if !allows("platform", platform) || !allows("os", os) || !allows("arch", arch) {
            panic!(
                "costack: the {backend} backend does not support this target ({os}, {arch}): it \
                 needs platform {:?}, os {:?}, arch {:?} (csrc/sources.txt)",
                self.get(backend, "platform"),
                self.get(backend, "os"),
                self.get(backend, "arch"),
            );
        }
    }
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

/// The blocking-style C library of the async bridge's example and
/// benchmark (`examples/c_async/`): built into `OUT_DIR` without being
/// linked into the crate; the example and the benchmark link it by name
/// (`#[link(name = "lineproto")]`).
fn example_c_library() {
    println!("cargo:rerun-if-changed=examples/c_async");
    cc::Build::new()
        .file("examples/c_async/lineproto.c")
        .flag_if_supported("-std=c99")
        .warnings(true)
        .extra_warnings(true)
        .cargo_metadata(false)
        .compile("lineproto");
    println!(
        "cargo:rustc-link-search=native={}",
        env::var("OUT_DIR").unwrap()
    );
}
