#!/usr/bin/env bash
# Cross-build costack's C core for aarch64 Linux and run the C suite
# (tests/c) under qemu-user, for each Unix backend (asm first: its switch
# is the one written for aarch64, csrc/switch_asm_aarch64.S).  The core is
# built warning-free into libcostack.a, the suite as C99 and as C++11
# against it, as tests/c_suite.rs does natively.  Installs the cross
# compilers and qemu-user with apt when they are missing (CI runs as root).
#
#   scripts/aarch64-test.sh                 every backend, the whole suite
#   scripts/aarch64-test.sh BACKEND [CASE...]   one backend, some cases
#
# What differs from a native run, and why:
#   - the suite's child processes (death and exhaustion cases) are started
#     through qemu-aarch64 (COSTACK_TEST_RUNNER): without binfmt_misc the
#     kernel cannot execute an aarch64 binary by itself;
#   - COSTACK_NO_MADV_GUARD=1: qemu-user answers madvise() with success and
#     does nothing, so MADV_GUARD_INSTALL would seem to work and leave the
#     stacks unguarded; mprotect guards, which qemu does implement, are used
#     instead;
#   - qemu-user does not apply RLIMIT_AS to the program it runs, so the
#     address-space exhaustion case reports itself skipped (it detects
#     that); the mapping-count exhaustion case still runs.
#
# Environment: CROSS (default aarch64-linux-gnu-), QEMU (default
# qemu-aarch64), QEMU_LD_PREFIX (default /usr/aarch64-linux-gnu), OUT
# (build directory, default target/aarch64).
set -euo pipefail
cd "$(dirname "$0")/.."

CROSS=${CROSS:-aarch64-linux-gnu-}
QEMU=${QEMU:-qemu-aarch64}
OUT=${OUT:-target/aarch64}
CC=${CROSS}gcc
CXX=${CROSS}g++
AR=${CROSS}ar

if [ $# -gt 0 ]; then
    backends=("$1")
    shift
else
    backends=(asm ucontext sigaltstack)
fi
cases=("$@")

# ---- tools ------------------------------------------------------------------
if ! command -v "$CC" >/dev/null || ! command -v "$CXX" >/dev/null ||
    ! command -v "$QEMU" >/dev/null; then
    echo "aarch64-test: installing the aarch64 cross compilers and qemu-user"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
fi
# Where Debian's cross packages put the aarch64 loader and libraries.
export QEMU_LD_PREFIX=${QEMU_LD_PREFIX:-/usr/aarch64-linux-gnu}
echo "aarch64-test: $("$CC" --version | head -n1); $("$QEMU" --version | head -n1)"

# ---- build and run, per backend ---------------------------------------------
cflags=(-std=c99 -O2 -g -Wall -Wextra -Werror -D_FORTIFY_SOURCE=2 -Iinclude -Icsrc)
tflags=(-O2 -g -Wall -Wextra -Werror -pthread -Iinclude)
status=0
for backend in "${backends[@]}"; do
    dir="$OUT/$backend"
    mkdir -p "$dir"
    core=(csrc/coroutine.c csrc/qemu_compat.c csrc/platform_unix.c csrc/stack_unix.c)
    defs=()
    case "$backend" in
    asm) core+=(csrc/backend_asm.c csrc/switch_asm_aarch64.S); defs=(-DCOSTACK_BACKEND_ASM) ;;
    ucontext|sigaltstack) core+=(csrc/switch_setjmp.c "csrc/backend_$backend.c"); defs=(-DCOSTACK_BACKEND_SETJMP) ;;
    *) echo "aarch64-test: unknown backend $backend" >&2; exit 2 ;;
    esac
    objs=()
    for f in "${core[@]}"; do
        o="$dir/$(basename "${f%.*}").o"
        "$CC" "${cflags[@]}" "${defs[@]}" -c "$f" -o "$o"
        objs+=("$o")
    done
    rm -f "$dir/libcostack.a"
    "$AR" rcs "$dir/libcostack.a" "${objs[@]}"
    "$CC" -x c -std=c99 "${tflags[@]}" tests/c/*.c -x none "$dir/libcostack.a" \
        -lm -o "$dir/suite"
    "$CXX" -x c++ -std=c++11 "${tflags[@]}" tests/c/*.c -x none "$dir/libcostack.a" \
        -lm -o "$dir/suite-cxx"

    for exe in suite suite-cxx; do
        echo "===== aarch64 $backend: $exe (under $QEMU) ====="
        log="$dir/$exe.log"
        rc=0
        COSTACK_TEST_RUNNER=$QEMU COSTACK_NO_MADV_GUARD=1 \
            timeout 900 "$QEMU" "$dir/$exe" ${cases[@]+"${cases[@]}"} >"$log" 2>&1 || rc=$?
        grep -v '^RUN \|^PASS ' "$log" || true
        if [ $rc -ne 0 ]; then
            echo "aarch64-test: $backend $exe failed (status $rc)"
            status=1
        elif ! grep -q "^costack C suite, backend $backend\$" "$log"; then
            echo "aarch64-test: $exe does not report backend $backend"
            status=1
        fi
    done
done
exit $status
