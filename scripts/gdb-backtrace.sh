#!/usr/bin/env bash
# gdb walks a coroutine's stack to its bottom and stops there cleanly (the
# asm backend's CFI: costack__asm_trampoline marks its return address
# undefined).  Builds the C suite with the asm backend, stops in gdb at
# every backtrace() call of the suite's backtrace_ends case (inside
# coroutines entered by the leader, by another coroutine, by another thread,
# and reused from the pool) and checks each `bt`: it reaches
# costack__coroutine_main, ends at costack__asm_trampoline, and shows no
# unknown frame or unwinder complaint.  x86-64 or aarch64 hosts; installs
# gdb with apt when missing (CI runs as root).
#
#   scripts/gdb-backtrace.sh
#
# Environment: CC (default gcc), OUT (build directory, default target/gdb).
set -euo pipefail
cd "$(dirname "$0")/.."

CC=${CC:-gcc}
OUT=${OUT:-target/gdb}
arch=$(uname -m)
case "$arch" in x86_64|aarch64) ;; *) echo "gdb-backtrace: no asm backend on $arch" >&2; exit 1 ;; esac

if ! command -v gdb >/dev/null; then
    echo "gdb-backtrace: installing gdb"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gdb
fi

mkdir -p "$OUT"
"$CC" -std=c99 -O2 -g -Wall -Wextra -Werror -DCOSTACK_BACKEND_ASM \
    -Iinclude -Icsrc -Itests/c \
    csrc/coroutine.c csrc/qemu_compat.c csrc/platform_unix.c csrc/stack_unix.c \
    csrc/backend_asm.c "csrc/switch_asm_$arch.S" tests/c/*.c \
    -o "$OUT/suite-asm" -lpthread -lm

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
timeout 300 gdb -q -batch -x "$OUT/bt.gdb" "$OUT/suite-asm" >"$log" 2>&1 || true

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
