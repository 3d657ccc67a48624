#!/usr/bin/env bash
# gdb understands costack's coroutines: checks scripts/costack-gdb.py
# (`costack list`, `costack bt`) in gdb -batch, for each backend given
# (default: asm ucontext sigaltstack), live and on a core dump.
#
# Per backend: build the C core with CMake (RelWithDebInfo: -O2 -g;
# -Werror) and tests/gdb/coroutines.c against it, run that under gdb to
# gdbt_checkpoint (suspended coroutines, some nested, active ones, on three
# threads: its header lists them), source the script and tests/gdb/check.py,
# which compares what the commands print (entry functions, states, threads,
# stack sizes, the high-water mark, the functions each backtrace passes
# through down to costack__coroutine_main) with the program's own globals.
# Three gdb runs:
#   live        the default stacks (slabs where the kernel has guard
#               markers); then gcore, and in that core `costack bt` must
#               either work or say that the stack is not in the core (gdb's
#               gcore cannot save slabs: costack-gdb.py explains)
#   live + core COSTACK_NO_MADV_GUARD=1 (a mapping per stack): the check
#               live, gcore, and the check again in a fresh gdb on the core
#   mutant      a copy of costack-gdb.py with its frame layout (asm) or its
#               pointer-guard demangling (ucontext, sigaltstack) broken must
#               FAIL the check: proof that the check looks at the output
# x86-64 Linux with glibc (the mutants are x86-64's).  Installs gdb and
# cmake with apt when missing (CI runs as root).
#
#   scripts/gdb-coroutines.sh [BACKEND...]
#
# Environment: CC (default gcc), OUT (default target/gdb-coroutines).
set -euo pipefail
cd "$(dirname "$0")/.."

CC=${CC:-gcc}
OUT=${OUT:-target/gdb-coroutines}
backends=("$@")
[ ${#backends[@]} -gt 0 ] || backends=(asm ucontext sigaltstack)

need=()
command -v gdb >/dev/null || need+=(gdb)
command -v cmake >/dev/null || need+=(cmake)
command -v "$CC" >/dev/null || need+=("$CC")
if [ ${#need[@]} -gt 0 ]; then
    echo "gdb-coroutines: installing ${need[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi

root=$PWD
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

# gdb -batch on the program, to the checkpoint, then the given commands.
run_live() {
    local prog=$1 script=$2 log=$3
    shift 3
    {
        echo "set pagination off"
        echo "set confirm off"
        echo "set debuginfod enabled off"
        echo "handle SIGUSR2 nostop noprint pass" # the sigaltstack backend's
        echo "break gdbt_checkpoint"
        echo "run"
        echo "source $script"
        printf '%s\n' "$@"
        echo "kill"
    } >"$log.gdb"
    timeout 300 gdb -q -batch -x "$log.gdb" "$prog" >"$log" 2>&1 || true
}

for backend in "${backends[@]}"; do
    dir=$OUT/$backend
    cmake -S . -B "$dir" -DCOSTACK_BACKEND="$backend" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOSTACK_WERROR=ON \
        -DBUILD_TESTING=OFF -DCMAKE_C_COMPILER="$CC" >/dev/null
    cmake --build "$dir" --parallel "$(nproc)" --target costack >/dev/null
    prog=$dir/coroutines
    "$CC" -std=c99 -O2 -g -Wall -Wextra -Werror -Iinclude \
        tests/gdb/coroutines.c "$dir/libcostack.a" -lpthread -o "$prog"
    "$prog" | grep -q "done" || { echo "gdb-coroutines: $prog failed on its own" >&2; exit 1; }
    script=$root/scripts/costack-gdb.py
    check=$root/tests/gdb/check.py
    rm -f "$dir"/*.core

    # Live, default stacks; the core gcore makes of them.
    log=$dir/live.log
    run_live "$prog" "$script" "$log" "source $check" "gcore $dir/slabs.core"
    expect_ok "$log" "$backend, live"
    [ -s "$dir/slabs.core" ] || fail "$backend: gcore made no core" "$log"
    log=$dir/slabs-core.log
    timeout 300 gdb -q -batch -ex "set debuginfod enabled off" -x "$script" \
        -ex "costack bt gdbt_a" "$prog" "$dir/slabs.core" >"$log" 2>&1 || true
    grep -q "gdbt_park_a" "$log" || grep -q "is not in this core dump" "$log" ||
        fail "$backend, gcore of slab stacks: neither a backtrace nor the reason" "$log"
    rm -f "$dir/slabs.core"

    # A mapping per stack: live, then the core.
    log=$dir/mapped.log
    COSTACK_NO_MADV_GUARD=1 run_live "$prog" "$script" "$log" \
        "source $check" "gcore $dir/mapped.core"
    expect_ok "$log" "$backend, live, a mapping per stack"
    [ -s "$dir/mapped.core" ] || fail "$backend: gcore made no core" "$log"
    log=$dir/core.log
    timeout 300 gdb -q -batch -ex "set debuginfod enabled off" -x "$script" \
        -x "$check" "$prog" "$dir/mapped.core" >"$log" 2>&1 || true
    expect_ok "$log" "$backend, core dump"
    rm -f "$dir/mapped.core"

    # A broken script must fail the check.
    mutant=$dir/costack-gdb-mutant.py
    case "$backend" in
    asm) sed 's/"rip": _u64(s + 56)/"rip": _u64(s + 48)/' "$script" >"$mutant" ;;
    *) sed 's/value >> 0x11/value >> 0x10/' "$script" >"$mutant" ;;
    esac
    ! cmp -s "$script" "$mutant" || { echo "gdb-coroutines: the mutation no longer applies to $script" >&2; exit 1; }
    log=$dir/mutant.log
    run_live "$prog" "$mutant" "$log" "source $check"
    grep -q '^gdb-coroutines check: FAILED' "$log" ||
        fail "$backend: the check passed a broken costack-gdb.py" "$log"
    echo "gdb-coroutines: $backend, broken script: caught"
done
echo "gdb-coroutines: ok"
