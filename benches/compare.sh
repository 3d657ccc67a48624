#!/usr/bin/env bash
# One command, one table: how fast costack switches and creates, from Rust
# and from C, against corosensei, the bare mechanism and the floor, with the
# ratios and the targets (issue 11), on this machine.
#
#   benches/compare.sh              the full measurement: 5 rounds (5 to
#                                   7 minutes)
#   benches/compare.sh --rounds=N   N rounds
#   benches/compare.sh --cpu=N      pinned to CPU N (default 1, or the
#                                   first CPU allowed when 1 is not)
#   benches/compare.sh --quick      a smoke run: one round, tiny counts,
#                                   numbers not meaningful (CI runs it)
#
# One round runs, one after the other:
#   cargo bench --bench switch    criterion, one process: round trip, pooled
#                                 create + run + drop and the deep call
#                                 chain, for the Rust API, the C API over
#                                 FFI and corosensei (benches/switch.rs)
#   benches/c-perf.sh --values    the C program, one process: round trip
#                                 through costack_enter/costack_yield and
#                                 through QEMU's API, pooled lifecycle, a
#                                 bare sigsetjmp/siglongjmp ping-pong (the
#                                 mechanism QEMU's ucontext backend uses),
#                                 the asm backend's switch alone (an
#                                 out-of-line function, no bookkeeping),
#                                 an inline-asm ping-pong with call and ret
#                                 paired (the floor) and the deep chains
#                                 (benches/perf.c)
# A ratio is taken within one process of one round (criterion's to
# corosensei, perf's to the floor): the machine's speed drifts between
# processes, and even between the benchmarks of one process.  The rounds
# repeat every pair; the table gives, per row, the median over the rounds
# of the time and of the ratio, the smallest and largest ratio, and judges
# the target on the median ratio.  Both programs time the thread's CPU
# time, so that other processes on the shared CPU do not count.
#
# The whole run is pinned to one CPU with taskset (the script re-runs
# itself under it unless it already runs on one CPU only).  Installs what
# it calls when missing (CI runs as root on a fresh Debian): cmake and a C
# compiler with apt; cargo must be there.
# Environment: COSTACK_BACKEND (both the Rust build and benches/c-perf.sh),
# CC (benches/c-perf.sh), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    echo "usage: benches/compare.sh [--quick] [--rounds=N] [--cpu=N]" >&2
    exit 2
}
quick=0
rounds=5
cpu=
for arg in "$@"; do
    case "$arg" in
    --quick) quick=1 rounds=1 ;;
    --rounds=*) rounds=${arg#--rounds=} ;;
    --cpu=*) cpu=${arg#--cpu=} ;;
    *) usage ;;
    esac
done
case "$rounds" in '' | *[!0-9]* | 0) usage ;; esac
case "$cpu" in *[!0-9]*) usage ;; esac

# Pinned to one CPU: the kernel then never moves the run between CPUs
# whose speeds differ.
if command -v taskset >/dev/null; then
    allowed=$(taskset -cp $$ | sed 's/.*: //')
    case "$allowed" in
    *[!0-9]*)
        if [ -z "$cpu" ]; then
            # CPU 1, or the first one this run may use.
            cpu=1
            taskset -c "$cpu" true 2>/dev/null || cpu=${allowed%%[,-]*}
        fi
        ;;
    *) # already on one CPU; --cpu asks for another one
        if [ -z "$cpu" ] || [ "$cpu" = "$allowed" ]; then cpu=; fi
        ;;
    esac
    if [ -n "$cpu" ]; then
        exec taskset -c "$cpu" benches/compare.sh "$@"
    fi
else
    echo "compare: taskset (util-linux) is missing: the run is not pinned" >&2
fi

need=()
command -v cmake >/dev/null || need+=(cmake)
command -v "${CC:-cc}" >/dev/null || need+=(gcc)
command -v awk >/dev/null || need+=(gawk)
if [ ${#need[@]} -gt 0 ]; then
    echo "compare: installing ${need[*]}" >&2
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2
fi
command -v cargo >/dev/null || { echo "compare: cargo is needed" >&2; exit 1; }

if [ $quick = 1 ]; then
    # (perf ignores a count it does not know.)
    perf_args=(--lifecycle=10000 --fresh=100 --chains=10 --depth=100
        --yield=100000 --deep=10000 --mutex=100000 --handoff=10000)
    crit_args=(--warm-up-time 0.05 --measurement-time 0.1 --sample-size 10)
else
    # Short measurements: each pair is then measured seconds apart, and the
    # rounds, not the length of one measurement, smooth out the drift.
    perf_args=()
    crit_args=(--warm-up-time 1 --measurement-time 3)
fi

# Each step's stderr goes to a log, shown only when the step fails.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() {
    if ! "$@" 2>"$tmp/log"; then
        cat "$tmp/log" >&2
        echo "compare: failed: $*" >&2
        exit 1
    fi
}
echo "compare: building..." >&2
run cargo bench --bench switch --no-run
# One line per measurement: "C <round> <group/name> <ns>" from criterion,
# "P <round> <name> <ns>" from the C program.
: >"$tmp/values"
for r in $(seq 1 "$rounds"); do
    echo "compare: round $r/$rounds: criterion (cargo bench --bench switch)..." >&2
    run cargo bench --bench switch -- "${crit_args[@]}" >"$tmp/out"
    grep '^  median ' "$tmp/out" | sed "s/^  median /C $r /; s/ ns\$//" >>"$tmp/values"
    echo "compare: round $r/$rounds: C perf (benches/c-perf.sh)..." >&2
    run benches/c-perf.sh "${perf_args[@]}" --values >"$tmp/out"
    grep '^value ' "$tmp/out" | sed "s/^value /P $r /" >>"$tmp/values"
done

cpu_model=$( (grep -m1 'model name' /proc/cpuinfo 2>/dev/null || echo ': unknown') | sed 's/.*: //')
libc=$(ldd --version 2>/dev/null | sed -n '1s/.* //p')
rustc_v=$(rustc --version | cut -d' ' -f2)
cc_v=$("${CC:-cc}" --version | sed -n 1p)
pin=$(taskset -cp $$ 2>/dev/null | sed 's/.*: //' || echo '?')

awk -v quick=$quick -v rounds="$rounds" -v cpu="$cpu_model" -v nproc="$(nproc --all)" \
    -v kernel="$(uname -r)" -v libc="$libc" -v rustc_v="$rustc_v" -v cc_v="$cc_v" \
    -v pin="$pin" -v backend="${COSTACK_BACKEND:-default}" '
{ v[$1, $2, $3] = $4 }
# The median of a[1..n] (sorts a).
function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++)
        for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
# A row: label, then the source ("C" or "P") of its value and of its base
# (its name, or "" for none), and the target ("<= X" is judged).
function row(label, src, name, base, target,   r, n, m, x, y, t, ns, rat, lo, hi, verdict) {
    n = 0; m = 0
    for (r = 1; r <= rounds; r++) {
        if ((src, r, name) in v) {
            x = v[src, r, name]; ns[++n] = x
            if (base != "" && (src, r, base) in v && (y = v[src, r, base]) > 0)
                rat[++m] = x / y
        }
    }
    if (n == 0) { printf "| %-54s | %9s | %7s | %-11s | %-14s |\n", label, "-", "", "", ""; return }
    if (m == 0) { printf "| %-54s | %9.2f | %7s | %-11s | %-14s |\n", label, median(ns, n), "", "", target; return }
    lo = hi = rat[1]
    for (r = 2; r <= m; r++) { if (rat[r] < lo) lo = rat[r]; if (rat[r] > hi) hi = rat[r] }
    x = median(rat, m)
    verdict = target
    if (target ~ /^<=/) {
        t = substr(target, 3) + 0
        verdict = sprintf("%s %s", target, (x <= t) ? "met" : "MISSED")
    }
    printf "| %-54s | %9.2f | %6.2fx | %11s | %-14s |\n", label, median(ns, n), x,
        sprintf("%.2f-%.2f", lo, hi), verdict
}
END {
    printf "costack compare%s: %s, %s CPUs, Linux %s, glibc %s, rustc %s, %s; backend %s; on CPUs %s; %d round%s\n",
        quick ? " (--quick: smoke run, numbers not meaningful)" : "",
        cpu, nproc, kernel, libc, rustc_v, cc_v, backend, pin, rounds, rounds == 1 ? "" : "s"
    print ""
    printf "| %-54s | %9s | %7s | %-11s | %-14s |\n", "median of the rounds", "ns", "ratio", "ratio range", "target"
    print "|--------------------------------------------------------|-----------|---------|-------------|----------------|"
    print "| **round trip** (criterion; ratio to corosensei)        |           |         |             |                |"
    row("costack Rust API (resume + suspend)", "C", "round_trip/costack_rust", "round_trip/corosensei", "<= 2.0")
    row("costack C API over FFI (costack_enter + costack_yield)", "C", "round_trip/costack_c", "round_trip/corosensei", "<= 1.8")
    row("corosensei", "C", "round_trip/corosensei", "round_trip/corosensei", "")
    print "| **round trip** (C program; ratio to the floor)         |           |         |             |                |"
    row("costack C API (costack_enter + costack_yield)", "P", "yield", "floor", "")
    row("QEMU API (qemu_coroutine_enter + yield)", "P", "qemu", "floor", "")
    row("bare mechanism: sigsetjmp/siglongjmp ping-pong", "P", "pingpong", "floor", "")
    row("out-of-line switch function alone, no bookkeeping", "P", "alone", "floor", "")
    row("floor: inline-asm ping-pong, call/ret paired", "P", "floor", "floor", "")
    print "| **create + run + drop, pooled** (criterion)            |           |         |             |                |"
    row("costack Rust API", "C", "lifecycle/costack_rust", "lifecycle/corosensei_reused_stack", "<= 1.0")
    row("costack C API over FFI", "C", "lifecycle/costack_c", "lifecycle/corosensei_reused_stack", "<= 0.8")
    row("corosensei, reused stack", "C", "lifecycle/corosensei_reused_stack", "lifecycle/corosensei_reused_stack", "")
    row("costack C API, C program (create + enter + end)", "P", "lifecycle", "", "")
    print "| **deep chain**: 8 calls deep each side (criterion)     |           |         |             |                |"
    row("costack Rust API", "C", "deep_chain/costack_rust", "deep_chain/corosensei", "report")
    row("costack C API over FFI", "C", "deep_chain/costack_c", "deep_chain/corosensei", "report")
    row("corosensei", "C", "deep_chain/corosensei", "deep_chain/corosensei", "")
    row("the same calls, no switch", "C", "deep_chain/calls_alone", "deep_chain/corosensei", "")
    print "| **deep chain** (C program; ratio to the floor)         |           |         |             |                |"
    row("costack C API", "P", "deep", "deep_floor", "report")
    row("floor", "P", "deep_floor", "deep_floor", "")
    row("the same calls, no switch", "P", "deep_calls", "deep_floor", "")
}' "$tmp/values"
