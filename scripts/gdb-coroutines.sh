#!/usr/bin/env bash
# gdb understands costack's coroutines: checks scripts/costack-gdb.py
# (`costack list`, `costack bt`) in gdb -batch, for the asm, ucontext and
# sigaltstack backends, natively (live and on a core dump) and for aarch64
# under qemu-user (live).
#
# Per backend: build the C core with CMake (RelWithDebInfo: -O2 -g;
# -Werror) and tests/gdb/coroutines.c against it, run that under gdb to
# gdbt_checkpoint (suspended coroutines, some nested, active ones, on three
# threads: its header lists them), source the script and tests/gdb/check.py,
# which compares what the commands print (entry functions, states, threads,
# stack sizes, the high-water mark, the functions each backtrace passes
# through down to costack__coroutine_main) with the program's own globals.
#
# Natively, four gdb runs per backend:
#   live        the default stacks (slabs where the kernel has guard
#               markers); then gcore, and in that core `costack bt` must
#               either work or say that the stack is not in the core (gdb's
#               gcore cannot save slabs: costack-gdb.py explains)
#   live        COSTACK_NO_MADV_GUARD=1 (a mapping per stack); then gcore
#   core dump   the check again, in a fresh gdb on that core
#   mutant      a copy of costack-gdb.py with its frame layout (asm) or its
#               pointer-guard demangling (ucontext, sigaltstack) broken must
#               FAIL the check: proof that the check reads the output
# For aarch64 (cross-built, run by qemu-aarch64 with its gdb stub, debugged
# by gdb-multiarch): live and mutant.  qemu-user offers no core dumps to
# gdb, and gdb cannot read thread-locals there, so this also covers the
# script's other way of matching threads (by stack pointer).
#
#   scripts/gdb-coroutines.sh                  native and aarch64, every backend
#   scripts/gdb-coroutines.sh native|aarch64 [BACKEND...]
#
# Natively: x86-64 or aarch64 Linux with glibc.  Installs what it calls
# with apt when missing (gdb, cmake; for aarch64 gdb-multiarch, the cross
# compiler and qemu-user), as CI runs it: as root on a fresh Debian 12.
#
# Environment: CC (default gcc), CROSS (default aarch64-linux-gnu-), QEMU
# (default qemu-aarch64), OUT (default target/gdb-coroutines).
set -euo pipefail
cd "$(dirname "$0")/.."

CC=${CC:-gcc}
CROSS=${CROSS:-aarch64-linux-gnu-}
QEMU=${QEMU:-qemu-aarch64}
OUT=${OUT:-target/gdb-coroutines}
modes=(native aarch64)
if [ $# -gt 0 ]; then
    modes=("$1")
    shift
fi
backends=("$@")
[ ${#backends[@]} -gt 0 ] || backends=(asm ucontext sigaltstack)

need=()
command -v cmake >/dev/null || need+=(cmake)
for mode in "${modes[@]}"; do
    case "$mode" in
    native)
        command -v gdb >/dev/null || need+=(gdb)
        command -v "$CC" >/dev/null || need+=("$CC")
        ;;
    aarch64)
        command -v gdb-multiarch >/dev/null || need+=(gdb-multiarch)
        command -v "${CROSS}gcc" >/dev/null || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
        command -v "$QEMU" >/dev/null || need+=(qemu-user)
        ;;
    *) echo "usage: $0 [native|aarch64 [BACKEND...]]" >&2; exit 2 ;;
    esac
done
if [ ${#need[@]} -gt 0 ]; then
    echo "gdb-coroutines: installing ${need[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi

root=$PWD
script=$root/scripts/costack-gdb.py
check=$root/tests/gdb/check.py
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

fail() {
    echo "gdb-coroutines: FAILED: $1; gdb's output ($2):" >&2
    cat "$2" >&2
    exit 1
}

# The check passed exactly once in this log, with enough checks made.
expect_ok() {
    local log=$1 what=$2 n
    n=$(sed -n 's/^gdb-coroutines check: ok (\([0-9]*\) checks)$/\1/p' "$log")
    [ "$(printf '%s\n' "$n" | grep -c .)" = 1 ] && [ "$n" -ge 100 ] ||
        fail "$what: no \"check: ok\" line with 100 checks or more" "$log"
    ! grep -q '^FAIL' "$log" || fail "$what: a check failed" "$log"
    echo "gdb-coroutines: $what: ok ($n checks)"
}

# gdb -batch on the program ($mode's way), stopped at the checkpoint with
# the gdb script given sourced, then the commands given.
run_live() {
    local prog=$1 gdb_script=$2 log=$3 pid=
    shift 3
    {
        echo "set pagination off"
        echo "set confirm off"
        echo "set debuginfod enabled off"
        echo "handle SIGUSR2 nostop noprint pass" # the sigaltstack backend's
        if [ "$mode" = aarch64 ]; then
            echo "set sysroot $QEMU_LD_PREFIX"
            echo "file $prog"
            echo "target remote $sock_path"
            echo "break gdbt_checkpoint"
            echo "continue"
        else
            echo "break gdbt_checkpoint"
            echo "run"
        fi
        echo "source $gdb_script"
        printf '%s\n' "$@"
        echo "kill"
    } >"$log.gdb"
    if [ "$mode" = aarch64 ]; then
        rm -f "$sock_path"
        "$QEMU" -g "$sock_path" "$prog" >"$log.qemu" 2>&1 &
        pid=$!
        for _ in $(seq 100); do [ -S "$sock_path" ] && break; sleep 0.1; done
        timeout 300 gdb-multiarch -q -batch -x "$log.gdb" >"$log" 2>&1 || true
        # Still waiting for a debugger if gdb never got to it.
        kill "$pid" 2>/dev/null || true
        wait "$pid" || true
    else
        timeout 300 gdb -q -batch -x "$log.gdb" "$prog" >"$log" 2>&1 || true
    fi
}

# A copy of the script with one thing broken, which the check must catch.
mutate() {
    local backend=$1 mutant=$2
    case "$backend" in
    asm) sed 's/s = _addr(holder\["ctx"\])$/s = _addr(holder["ctx"]) + 8/' "$script" >"$mutant" ;;
    *) sed 's/return value ^ guard$/return value/' "$script" >"$mutant" ;;
    esac
    ! cmp -s "$script" "$mutant" ||
        { echo "gdb-coroutines: the mutation no longer applies to $script" >&2; exit 1; }
}

for mode in "${modes[@]}"; do
    if [ "$mode" = aarch64 ]; then
        cc=${CROSS}gcc
        cmake_cross=(-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64)
        # Where Debian's cross packages put the aarch64 loader and
        # libraries; qemu-user answers madvise() without doing anything, so
        # the stacks take mprotect guards (scripts/aarch64-test.sh).
        export QEMU_LD_PREFIX=${QEMU_LD_PREFIX:-/usr/aarch64-linux-gnu}
    else
        cc=$CC
        cmake_cross=()
    fi
    for backend in "${backends[@]}"; do
        what="$mode $backend"
        dir=$OUT/$mode-$backend
        sock_path=$dir/gdb.sock
        cmake -S . -B "$dir" "${cmake_cross[@]}" -DCMAKE_C_COMPILER="$cc" \
            -DCOSTACK_BACKEND="$backend" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
            -DCOSTACK_WERROR=ON -DBUILD_TESTING=OFF >/dev/null
        cmake --build "$dir" --parallel "$(nproc)" --target costack >/dev/null
        prog=$dir/coroutines
        "$cc" -std=c99 -O2 -g -Wall -Wextra -Werror -Iinclude \
            tests/gdb/coroutines.c "$dir/libcostack.a" -lpthread -o "$prog"
        rm -f "$dir"/*.core

        if [ "$mode" = aarch64 ]; then
            COSTACK_NO_MADV_GUARD=1 run_live "$prog" "$script" "$dir/live.log" "source $check"
            expect_ok "$dir/live.log" "$what, live"
        else
            # Live, default stacks; the core gcore makes of them.
            log=$dir/live.log
            run_live "$prog" "$script" "$log" "source $check" "gcore $dir/slabs.core"
            expect_ok "$log" "$what, live"
            [ -s "$dir/slabs.core" ] || fail "$what: gcore made no core" "$log"
            log=$dir/slabs-core.log
            timeout 300 gdb -q -batch -ex "set debuginfod enabled off" -x "$script" \
                -ex "costack bt gdbt_a" "$prog" "$dir/slabs.core" >"$log" 2>&1 || true
            grep -q "gdbt_park_a" "$log" || grep -q "is not in this core dump" "$log" ||
                fail "$what, gcore of slab stacks: neither a backtrace nor the reason" "$log"
            rm -f "$dir/slabs.core"

            # A mapping per stack: live, then the core.
            log=$dir/mapped.log
            COSTACK_NO_MADV_GUARD=1 run_live "$prog" "$script" "$log" \
                "source $check" "gcore $dir/mapped.core"
            expect_ok "$log" "$what, live, a mapping per stack"
            [ -s "$dir/mapped.core" ] || fail "$what: gcore made no core" "$log"
            log=$dir/core.log
            timeout 300 gdb -q -batch -ex "set debuginfod enabled off" -x "$script" \
                -x "$check" "$prog" "$dir/mapped.core" >"$log" 2>&1 || true
            expect_ok "$log" "$what, core dump"
            rm -f "$dir/mapped.core"
        fi

        # A broken script must fail the check.
        mutate "$backend" "$dir/costack-gdb-mutant.py"
        log=$dir/mutant.log
        COSTACK_NO_MADV_GUARD=1 run_live "$prog" "$dir/costack-gdb-mutant.py" "$log" "source $check"
        grep -q '^gdb-coroutines check: FAILED' "$log" ||
            fail "$what: the check passed a broken costack-gdb.py" "$log"
        echo "gdb-coroutines: $what, broken script: caught"
    done
done
echo "gdb-coroutines: ok"
