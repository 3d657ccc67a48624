#!/usr/bin/env bash
# Build the staticlib in release (honouring COSTACK_BACKEND), compile
# benches/perf.c against it with -O2, and run it.  Arguments go to perf
# (--quick for a tenth of the work; see the top of perf.c).
#
#   benches/c-perf.sh
#   COSTACK_BACKEND=sigaltstack benches/c-perf.sh --quick
set -euo pipefail
cd "$(dirname "$0")/.."

backend=${COSTACK_BACKEND:-default}
target=${CARGO_TARGET_DIR:-target}
cargo build --release --lib >&2
out="$target/c-perf"
mkdir -p "$out"
"${CC:-cc}" -std=c99 -O2 -Wall -Wextra -Werror -Iinclude benches/perf.c \
    "$target/release/libcostack.a" \
    -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o "$out/perf-$backend"
exec "$out/perf-$backend" "$@"
