//! Type-system tests. Each file in `tests/ui/` is misuse: it must fail to
//! compile with the error in its `.stderr`. Each file in `tests/ui/pass/` is
//! a use the types must allow (the variance the public types state): it must
//! compile and run. The messages are rustc 1.95's; after a compiler upgrade,
//! regenerate them with `TRYBUILD=overwrite cargo test --test ui` and review
//! the diff.

#[test]
fn misuse_does_not_compile_and_allowed_uses_do() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
