#!/usr/bin/env bash
# Cross-build costack's C core for aarch64 Linux with CMake and run the C
# suite (tests/c) under qemu-user through ctest, for each Unix backend (asm
# first: its switch is the one written for aarch64,
# csrc/switch_asm_aarch64.S).  The core is built warning-free into
# libcostack.a, the suite as C99 and as C++11 against it, as natively.
# Installs cmake, the cross compilers and qemu-user with apt when they are
# missing (CI runs as root).
#
#   scripts/aarch64-test.sh                 every backend, the whole suite
#   scripts/aarch64-test.sh BACKEND [CASE...]   one backend, some cases
#
# What differs from a native run, and why:
#   - CMAKE_CROSSCOMPILING_EMULATOR is qemu-aarch64: ctest runs the suite
#     through it, and so are the suite's child processes (death and
#     exhaustion cases; COSTACK_TEST_RUNNER): without binfmt_misc the
#     kernel cannot execute an aarch64 binary by itself;
#   - COSTACK_NO_MADV_GUARD=1: qemu-user answers madvise() with success and
#     does nothing, so MADV_GUARD_INSTALL would seem to work and leave the
#     stacks unguarded; mprotect guards, which qemu does implement, are used
#     instead (so the ctest case that forces them is left out: it would
#     run the same thing twice);
#   - qemu-user does not apply RLIMIT_AS to the program it runs, so the
#     address-space exhaustion case reports itself skipped (it detects
#     that); the mapping-count exhaustion case still runs.
#
# Environment: CROSS (default aarch64-linux-gnu-), QEMU (default
# qemu-aarch64), QEMU_LD_PREFIX (default /usr/aarch64-linux-gnu), OUT
# (build directories, one per backend, default target/aarch64).
set -euo pipefail
cd "$(dirname "$0")/.."

CROSS=${CROSS:-aarch64-linux-gnu-}
QEMU=${QEMU:-qemu-aarch64}
OUT=${OUT:-target/aarch64}
CC=${CROSS}gcc
CXX=${CROSS}g++

if [ $# -gt 0 ]; then
    backends=("$1")
    shift
else
    backends=(asm ucontext sigaltstack)
fi
# The suite's cases to run (all when empty): ctest hands them to it.
export COSTACK_TEST_CASES="$*"

# ---- tools ------------------------------------------------------------------
if ! command -v "$CC" >/dev/null || ! command -v "$CXX" >/dev/null ||
    ! command -v "$QEMU" >/dev/null || ! command -v cmake >/dev/null; then
    echo "aarch64-test: installing cmake, the aarch64 cross compilers and qemu-user"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        cmake gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
fi
# Where Debian's cross packages put the aarch64 loader and libraries.
export QEMU_LD_PREFIX=${QEMU_LD_PREFIX:-/usr/aarch64-linux-gnu}
export COSTACK_NO_MADV_GUARD=1
echo "aarch64-test: $("$CC" --version | head -n1); $("$QEMU" --version | head -n1)"

# ---- build and run, per backend ---------------------------------------------
status=0
for backend in "${backends[@]}"; do
    dir="$OUT/$backend"
    echo "===== aarch64 $backend: build ====="
    cmake -S . -B "$dir" -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 \
        -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
        -DCMAKE_CROSSCOMPILING_EMULATOR="$QEMU" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS=-D_FORTIFY_SOURCE=2 \
        -DCOSTACK_BACKEND="$backend" -DCOSTACK_WERROR=ON >/dev/null
    cmake --build "$dir" --parallel "$(nproc)" >/dev/null

    echo "===== aarch64 $backend: C and C++ suites (under $QEMU) ====="
    if ! (cd "$dir" && ctest --output-on-failure -E no-madv-guard); then
        echo "aarch64-test: $backend failed"
        status=1
    fi
    # What did not run here, and why.
    grep -h '^SKIP ' "$dir/Testing/Temporary/LastTest.log" | sort -u || true
done
exit $status
