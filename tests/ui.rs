//! Compile-fail tests: misuse the type system rejects. Each file in
//! `tests/ui/` must fail to compile with the error in its `.stderr` (rustc
//! 1.95; after a compiler upgrade, regenerate with `TRYBUILD=overwrite cargo
//! test --test ui` and review the diff).

#[test]
fn misuse_does_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
