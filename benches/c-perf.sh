#!/usr/bin/env bash
# Build the C core with CMake in Release (honouring COSTACK_BACKEND and
# CC), compile benches/perf.c against its libcostack.a with -O2, and run
# it.  Arguments go to perf (--quick for a tenth of the work; see the top
# of perf.c).  Only perf's output goes to stdout.  Installs cmake with apt
# when it is missing (CI runs as root).
#
#   benches/c-perf.sh
#   COSTACK_BACKEND=sigaltstack benches/c-perf.sh --quick
#   CC=clang benches/c-perf.sh
#
# Environment: COSTACK_BACKEND (default: the target's default backend), CC
# (default cc), CARGO_TARGET_DIR (where the build goes, default target; the
# core's build directory is cmake/release-<backend>-<compiler> under it,
# shared with benches/million.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

cc=${CC:-cc}
backend=${COSTACK_BACKEND:-}
build="${CARGO_TARGET_DIR:-target}/cmake/release-${backend:-default}-$(basename "$cc")"

if ! command -v cmake >/dev/null; then
    echo "c-perf: installing cmake" >&2
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends cmake >&2
fi

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    -DCMAKE_C_COMPILER="$cc" -DCOSTACK_BACKEND="$backend" >&2
cmake --build "$build" --parallel "$(nproc)" >&2
"$cc" -std=c99 -O2 -Wall -Wextra -Werror -Iinclude benches/perf.c \
    "$build/libcostack.a" -lpthread -o "$build/perf"
exec "$build/perf" "$@"
