#!/usr/bin/env bash
# Cross-build costack's C core for Windows (x86_64, mingw-w64: Fibers
# backend, platform_windows.c) with CMake and run its C tests under Wine:
#   - the C suite (tests/c), the same cases as on Unix, built as C99 and
#     as C++11;
#   - the Windows-only cases (tests/windows/fibers.c, with
#     tests/windows/in_dll.c as a DLL);
#   - the Rust crate's tests and doctests, built for x86_64-pc-windows-gnu
#     (all but tests/ui.rs and tests/panic_abort.rs: they run cargo, which
#     Wine does not have).
# The C programs link libcostack.a the way a program would; ctest runs them
# under Wine (CMAKE_CROSSCOMPILING_EMULATOR).  Installs cmake, the cross
# compilers and Wine with apt, and the Rust target with rustup, when they
# are missing (CI runs as root).
#
#   scripts/wine-test.sh             build and run everything
#   scripts/wine-test.sh CASE...     the C suite runs only these cases
#
# Environment: MINGW_CC (default x86_64-w64-mingw32-gcc; the C++ compiler
# is its g++), WINE (default wine64, else wine), WINEPREFIX (default
# target/wine/prefix), OUT (build directory, default target/wine).
set -euo pipefail
cd "$(dirname "$0")/.."

CC=${MINGW_CC:-x86_64-w64-mingw32-gcc}
CXX=${CC%gcc}g++
OUT=${OUT:-target/wine}
# The suite's cases to run (all when empty): ctest hands them to it.
export COSTACK_TEST_CASES="$*"

# ---- tools ------------------------------------------------------------------
find_wine() {
    command -v wine64 || { [ -x /usr/lib/wine/wine64 ] && echo /usr/lib/wine/wine64; } ||
        command -v wine || true
}
WINE=${WINE:-$(find_wine)}
if ! command -v "$CC" >/dev/null || ! command -v "$CXX" >/dev/null ||
    ! command -v cmake >/dev/null || [ -z "$WINE" ]; then
    echo "wine-test: installing cmake, mingw-w64 (gcc, g++) and Wine"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        cmake gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 wine wine64
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
# The core as a distribution would build it: warning-free, with the
# fortified flags; the tests beside it (CMake links them statically, so
# Wine needs no mingw DLLs).
echo "wine-test: $("$CC" --version | head -n1)"
build="$OUT/build"
cmake -S . -B "$build" -DCMAKE_SYSTEM_NAME=Windows -DCMAKE_SYSTEM_PROCESSOR=x86_64 \
    -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
    -DCMAKE_CROSSCOMPILING_EMULATOR="$WINE" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS=-D_FORTIFY_SOURCE=2 \
    -DCOSTACK_WERROR=ON >/dev/null
cmake --build "$build" --parallel "$(nproc)" >/dev/null

# ---- run --------------------------------------------------------------------
echo "wine-test: $("$WINE" --version) ($WINE), prefix $WINEPREFIX"
# The first start creates the prefix; do it apart so its messages stay out
# of the tests' output.
timeout 300 "$WINE" wineboot -i >/dev/null 2>&1 || true

status=0
echo "===== C suite (C99, C++11) and Windows-only cases under Wine ====="
(cd "$build" && ctest --output-on-failure) || status=1
# What did not run here, and why.
grep -h '^SKIP ' "$build/Testing/Temporary/LastTest.log" | tr -d '\r' | sort -u || true

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
        case "$name" in ui | panic_abort) ;; *) tests+=(--test "$name") ;; esac
    done
    export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER="$CC"
    export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$WINE"
    # --examples: they must build for Windows too (echo, Unix only, says so).
    cargo test --target "$target" --lib "${tests[@]}" --examples || status=1
    cargo test --target "$target" --doc || status=1
fi
"${WINE%64}server" -w 2>/dev/null || wineserver -w 2>/dev/null || true
exit $status
