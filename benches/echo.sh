#!/usr/bin/env bash
# Build the C core with CMake in Release (honouring COSTACK_BACKEND and
# CC), compile benches/echo.c against its libcostack.a with -O2, and run
# it: a TCP echo server as coroutines on costack's loop against the same
# server as epoll callbacks, same client load, same run (see the top of
# echo.c for the options).  Linux only.  Only echo's output goes to
# stdout.
#
#   benches/echo.sh
#   taskset -c 1 benches/echo.sh --conns=1000 --trips=200000 --reps=5
#
# Environment: COSTACK_BACKEND, CC and CARGO_TARGET_DIR as for
# benches/c-perf.sh, whose build directory it shares.
set -euo pipefail
cd "$(dirname "$0")/.."

cc=${CC:-cc}
backend=${COSTACK_BACKEND:-}
build="${CARGO_TARGET_DIR:-target}/cmake/release-${backend:-default}-$(basename "$cc")"

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    -DCMAKE_C_COMPILER="$cc" -DCOSTACK_BACKEND="$backend" >&2
cmake --build "$build" --parallel "$(nproc)" >&2
"$cc" -std=c99 -O2 -Wall -Wextra -Werror -Iinclude benches/echo.c \
    "$build/libcostack.a" -lpthread -o "$build/echo"
exec "$build/echo" "$@"
