#!/usr/bin/env bash
# gdb walks a coroutine's stack to its bottom and stops there cleanly (the
# asm backend's CFI: costack__asm_trampoline marks its return address
# undefined).  Builds the C core with CMake (COSTACK_BACKEND=asm,
# RelWithDebInfo: -O2 -g) and the C suite against it, stops in gdb at
# every backtrace() call of the suite's backtrace_ends case (inside
# coroutines entered by the leader, by another coroutine, by another thread,
# and reused from the pool) and checks each `bt`: it reaches
# costack__coroutine_main, ends at costack__asm_trampoline, and shows no
# unknown frame or unwinder complaint.  x86-64 or aarch64 hosts; installs
# gdb and cmake with apt when missing (CI runs as root).
#
#   scripts/gdb-backtrace.sh
#
# Environment: CC (default gcc), OUT (build directory, default target/gdb).
set -euo pipefail
cd "$(dirname "$0")/.."

CC=${CC:-gcc}
OUT=${OUT:-target/gdb}

need=()
command -v gdb >/dev/null || need+=(gdb)
command -v cmake >/dev/null || need+=(cmake)
if [ ${#need[@]} -gt 0 ]; then
    echo "gdb-backtrace: installing ${need[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi

# The suite alone (target costack_suite, the C build): gdb runs it below.
cmake -S . -B "$OUT" -DCOSTACK_BACKEND=asm -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCOSTACK_WERROR=ON -DCMAKE_C_COMPILER="$CC" >/dev/null
cmake --build "$OUT" --parallel "$(nproc)" --target costack_suite >/dev/null
suite="$OUT/tests/suite"

cat >"$OUT/bt.gdb" <<'EOF'
set pagination off
set confirm off
set print frame-arguments none
break backtrace
commands
silent
echo ==== stop\n
bt
continue
end
run backtrace_ends
EOF

log="$OUT/bt.log"
timeout 300 gdb -q -batch -x "$OUT/bt.gdb" "$suite" >"$log" 2>&1 || true

# One block per stop; the ones inside a coroutine pass through bt_entry.
if ! awk '
    function check() {
        if (!in_co) return
        checked++
        if (!saw_main) { print "no costack__coroutine_main in:"; print block; bad++ }
        else if (last !~ /costack__asm_trampoline/) { print "does not end at the trampoline:"; print block; bad++ }
        if (junk) { print "unknown frame or unwinder complaint in:"; print block; bad++ }
    }
    /^==== stop/ { check(); block = ""; in_co = saw_main = junk = 0; last = ""; next }
    /^#[0-9]/ {
        block = block $0 "\n"; last = $0
        if ($0 ~ /bt_entry/) in_co = 1
        if ($0 ~ /costack__coroutine_main/) saw_main = 1
        if ($0 ~ / in \?\? /) junk = 1
        next
    }
    /Backtrace stopped|corrupt stack|previous frame/ { block = block $0 "\n"; junk = 1 }
    END {
        check()
        printf "gdb-backtrace: %d backtraces inside coroutines checked, %d bad\n", checked, bad
        exit (bad > 0 || checked < 6)
    }' "$log"; then
    echo "gdb-backtrace: FAILED; gdb's output:" >&2
    cat "$log" >&2
    exit 1
fi
grep -q "^PASS backtrace_ends" "$log" || { echo "gdb-backtrace: the case itself failed:" >&2; cat "$log" >&2; exit 1; }
echo "gdb-backtrace: ok"
