#!/usr/bin/env bash
# One command, one table: how fast costack switches and creates, from Rust
# and from C, against corosensei, the bare mechanism and the floor, with the
# ratios and the targets (issue 11), all from one run on this machine.
#
#   benches/compare.sh            the full measurement (a few minutes)
#   benches/compare.sh --quick    a smoke run: tiny counts, numbers not
#                                 meaningful (CI runs it)
#
# What runs:
#   cargo bench --bench switch    criterion, one process: round trip, pooled
#                                 create + run + drop and the deep call
#                                 chain, for the Rust API, the C API over
#                                 FFI and corosensei (benches/switch.rs)
#   benches/c-perf.sh --values    the C program, one process: round trip
#                                 through costack_enter/costack_yield and
#                                 through QEMU's API, pooled lifecycle, a
#                                 bare sigsetjmp/siglongjmp ping-pong (the
#                                 mechanism QEMU's ucontext backend uses),
#                                 an inline-asm ping-pong with call and ret
#                                 paired (the floor) and the deep chains
#                                 (benches/perf.c)
# Ratios are taken within one process only (criterion's to corosensei,
# perf's to the floor), since the machine's speed drifts between processes.
# Pin it for numbers worth keeping: taskset -c 1 benches/compare.sh
#
# Installs what it calls when missing (CI runs as root on a fresh Debian):
# cmake and a C compiler with apt; cargo must be there.
# Environment: COSTACK_BACKEND and CC go to benches/c-perf.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
case "${1:-}" in
"") ;;
--quick) quick=1 ;;
*)
    echo "usage: benches/compare.sh [--quick]" >&2
    exit 2
    ;;
esac

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
    perf_args=(--lifecycle=10000 --fresh=100 --chains=10 --depth=100
        --yield=100000 --deep=10000)
    crit_args=(--warm-up-time 0.05 --measurement-time 0.1 --sample-size 10)
else
    perf_args=()
    crit_args=()
fi

# Each step's stderr goes to a log, shown only when the step fails.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run() {
    if ! "$@" 2>"$log"; then
        cat "$log" >&2
        echo "compare: failed: $*" >&2
        exit 1
    fi
}
echo "compare: criterion (cargo bench --bench switch)..." >&2
crit=$(run cargo bench --bench switch -- "${crit_args[@]}")
crit=$(printf '%s\n' "$crit" | grep '^  median ')
echo "compare: C perf (benches/c-perf.sh)..." >&2
perf=$(run benches/c-perf.sh "${perf_args[@]}" --values)
perf=$(printf '%s\n' "$perf" | grep '^value ')

cpu=$( (grep -m1 'model name' /proc/cpuinfo 2>/dev/null || echo ': unknown') | sed 's/.*: //')
libc=$(ldd --version 2>/dev/null | sed -n '1s/.* //p')
rustc_v=$(rustc --version | cut -d' ' -f2)
cc_v=$("${CC:-cc}" --version | sed -n 1p)
pin=$(taskset -cp $$ 2>/dev/null | sed 's/.*: //' || echo '?')

{
    echo "$crit" | sed 's/^  median /C /; s/ ns$//'
    echo "$perf" | sed 's/^value /P /'
} | awk -v quick=$quick -v cpu="$cpu" -v nproc="$(nproc --all)" -v kernel="$(uname -r)" \
    -v libc="$libc" -v rustc_v="$rustc_v" -v cc_v="$cc_v" -v pin="$pin" \
    -v backend="${COSTACK_BACKEND:-default}" '
$1 == "C" { c[$2] = $3 }
$1 == "P" { p[$2] = $3 }
function ns(v) { return v == "" ? "-" : sprintf("%.2f", v) }
# A row: label, ns, and optionally the ratio to a base with its target.
function row(label, v, base, target,   r, verdict) {
    if (v == "") { printf "| %-54s | %9s | %7s | %-14s |\n", label, "-", "", ""; return }
    if (base == "" || base == 0) { printf "| %-54s | %9.2f | %7s | %-14s |\n", label, v, "", target; return }
    r = v / base
    verdict = target
    if (target ~ /^<=/) {
        t = substr(target, 3) + 0
        verdict = sprintf("%s %s", target, (r <= t) ? "met" : "MISSED")
    }
    printf "| %-54s | %9.2f | %6.2fx | %-14s |\n", label, v, r, verdict
}
END {
    printf "costack compare%s: %s, %s CPUs, Linux %s, glibc %s, rustc %s, %s; backend %s; on CPUs %s\n",
        quick ? " (--quick: smoke run, numbers not meaningful)" : "",
        cpu, nproc, kernel, libc, rustc_v, cc_v, backend, pin
    print ""
    printf "| %-54s | %9s | %7s | %-14s |\n", "", "ns", "ratio", "target"
    print "|--------------------------------------------------------|-----------|---------|----------------|"
    coro = c["round_trip/corosensei"]
    print "| **round trip** (criterion; ratio to corosensei)        |           |         |                |"
    row("costack Rust API (resume + suspend)", c["round_trip/costack_rust"], coro, "<= 2.0")
    row("costack C API over FFI (costack_enter + costack_yield)", c["round_trip/costack_c"], coro, "<= 1.8")
    row("corosensei", coro, coro, "")
    print "| **round trip** (C program; ratio to the floor)         |           |         |                |"
    fl = p["floor"]
    row("costack C API (costack_enter + costack_yield)", p["yield"], fl, "")
    row("QEMU API (qemu_coroutine_enter + yield)", p["qemu"], fl, "")
    row("bare mechanism: sigsetjmp/siglongjmp ping-pong", p["pingpong"], fl, "")
    row("floor: inline-asm ping-pong, call/ret paired", fl, fl, "")
    print "| **create + run + drop, pooled** (criterion)            |           |         |                |"
    cl = c["lifecycle/corosensei_reused_stack"]
    row("costack Rust API", c["lifecycle/costack_rust"], cl, "<= 1.0")
    row("costack C API over FFI", c["lifecycle/costack_c"], cl, "<= 0.8")
    row("corosensei, reused stack", cl, cl, "")
    row("costack C API, C program (create + enter + end)", p["lifecycle"], "", "")
    print "| **deep chain**: 8 calls deep each side (criterion)     |           |         |                |"
    cd = c["deep_chain/corosensei"]
    row("costack Rust API", c["deep_chain/costack_rust"], cd, "report")
    row("costack C API over FFI", c["deep_chain/costack_c"], cd, "report")
    row("corosensei", cd, cd, "")
    row("the same calls, no switch", c["deep_chain/calls_alone"], cd, "")
    print "| **deep chain** (C program; ratio to the floor)         |           |         |                |"
    df = p["deep_floor"]
    row("costack C API", p["deep"], df, "report")
    row("floor", df, df, "")
    row("the same calls, no switch", p["deep_calls"], df, "")
}'
