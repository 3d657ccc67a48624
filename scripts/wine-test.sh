#!/usr/bin/env bash
# Cross-build costack's C core for Windows (x86_64, mingw-w64: Fibers
# backend, platform_windows.c) and run its C tests under Wine:
#   - the C suite (tests/c), the same cases as on Unix, built as C99 and
#     as C++11;
#   - the Windows-only cases (tests/windows/fibers.c);
#   - the Rust crate's tests and doctests, built for x86_64-pc-windows-gnu
#     (all but tests/ui.rs: trybuild runs cargo, which Wine does not have).
# The C programs link libcostack.a the way a program would.  Installs the
# cross compiler and Wine with apt, and the Rust target with rustup, when
# they are missing (CI runs as root).
#
#   scripts/wine-test.sh             build and run everything
#   scripts/wine-test.sh CASE...     the C suite runs only these cases
#
# Environment: MINGW_CC (default x86_64-w64-mingw32-gcc), WINE (default
# wine64, else wine), WINEPREFIX (default target/wine/prefix), OUT (build
# directory, default target/wine).
set -euo pipefail
cd "$(dirname "$0")/.."

CC=${MINGW_CC:-x86_64-w64-mingw32-gcc}
AR=${CC%gcc}ar
OUT=${OUT:-target/wine}

# ---- tools ------------------------------------------------------------------
find_wine() {
    command -v wine64 || { [ -x /usr/lib/wine/wine64 ] && echo /usr/lib/wine/wine64; } ||
        command -v wine || true
}
WINE=${WINE:-$(find_wine)}
if ! command -v "$CC" >/dev/null || [ -z "$WINE" ]; then
    echo "wine-test: installing mingw-w64 and Wine"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        gcc-mingw-w64-x86-64 wine wine64
    WINE=$(find_wine)
fi
[ -n "$WINE" ] || { echo "wine-test: no wine64 or wine found" >&2; exit 1; }

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export WINEPREFIX=${WINEPREFIX:-$OUT/prefix}
# Quiet (Wine's own 32-bit hint too), and no Mono or Gecko installers when
# the prefix is created.
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml="

# ---- build ------------------------------------------------------------------
# The core as the crate builds it: C99, warning-free, with the fortified
# flags a distribution would use.
core=(csrc/coroutine.c csrc/qemu_compat.c csrc/platform_windows.c csrc/backend_fibers.c)
cflags=(-std=c99 -O2 -Wall -Wextra -Werror -D_FORTIFY_SOURCE=2 -Iinclude -Icsrc)
echo "wine-test: $("$CC" --version | head -n1)"
objs=()
for f in "${core[@]}"; do
    o="$OUT/$(basename "${f%.c}").o"
    "$CC" "${cflags[@]}" -c "$f" -o "$o"
    objs+=("$o")
done
rm -f "$OUT/libcostack.a"
"$AR" rcs "$OUT/libcostack.a" "${objs[@]}"

# Tests: mingw's own printf (C99 formats such as %zu), winpthreads for the
# suite's threads; -static so Wine needs no mingw DLLs.
tflags=(-std=c99 -O2 -g -Wall -Wextra -Werror -D__USE_MINGW_ANSI_STDIO=1
        -Iinclude -Icsrc -Itests/c)
"$CC" "${tflags[@]}" tests/c/*.c -o "$OUT/suite.exe" \
    -L"$OUT" -lcostack -static -lpthread
"${CC%gcc}g++" "${tflags[@]/-std=c99/-std=c++11}" -x c++ tests/c/*.c -x none \
    -o "$OUT/suite-cxx.exe" -L"$OUT" -lcostack -static -lpthread
"$CC" "${tflags[@]}" tests/windows/fibers.c -o "$OUT/fibers.exe" \
    -L"$OUT" -lcostack -static
"$CC" "${tflags[@]}" -shared tests/windows/in_dll.c \
    -o "$OUT/costack_in_dll.dll" -L"$OUT" -lcostack -static

# ---- run --------------------------------------------------------------------
echo "wine-test: $("$WINE" --version) ($WINE), prefix $WINEPREFIX"
# The first start creates the prefix; do it apart so its messages stay out
# of the tests' output.
timeout 300 "$WINE" wineboot -i >/dev/null 2>&1 || true

status=0
echo "===== Windows-only cases (tests/windows/fibers.c) ====="
timeout 600 "$WINE" "$OUT/fibers.exe" || status=1
echo "===== C suite (tests/c) under Wine ====="
timeout 1200 "$WINE" "$OUT/suite.exe" "$@" || status=1
echo "===== C suite built as C++ (tests/c) under Wine ====="
timeout 1200 "$WINE" "$OUT/suite-cxx.exe" "$@" || status=1

# ---- Rust -------------------------------------------------------------------
target=x86_64-pc-windows-gnu
echo "===== Rust tests for $target under Wine ====="
have_target() { [ -d "$(rustc --print sysroot)/lib/rustlib/$target/lib" ]; }
have_target || rustup target add "$target" || true
if ! have_target; then
    # The C tests above do not depend on it; say loudly what did not run.
    echo "SKIP Rust tests under Wine: the standard library for $target is" \
         "not installed and rustup could not fetch it"
else
    # Rust's std imports ProcessPrng from bcryptprimitives.dll, which Wine
    # has only from 9.0 on.
    sys32="$WINEPREFIX/drive_c/windows/system32"
    if [ ! -e "$sys32/bcryptprimitives.dll" ]; then
        "$CC" -O2 -shared scripts/wine/bcryptprimitives.c -ladvapi32 \
            -o "$sys32/bcryptprimitives.dll"
    fi
    tests=()
    for f in tests/*.rs; do
        name=$(basename "$f" .rs)
        [ "$name" = ui ] || tests+=(--test "$name")
    done
    export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER="$CC"
    export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$WINE"
    # --examples: they must build for Windows too (echo, Unix only, says so).
    cargo test --target "$target" --lib "${tests[@]}" --examples || status=1
    cargo test --target "$target" --doc || status=1
fi
"${WINE%64}server" -w 2>/dev/null || wineserver -w 2>/dev/null || true
exit $status
