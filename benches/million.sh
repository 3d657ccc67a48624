#!/usr/bin/env bash
# A million guarded coroutines (benches/million.c): builds the C core with
# CMake in Release (honouring COSTACK_BACKEND and CC), links the benchmark
# against its libcostack.a as a C program would, and runs it twice: with
# the guards the kernel offers (slabs with MADV_GUARD_INSTALL on Linux
# 6.13+) and with the mprotect fallback forced (COSTACK_NO_MADV_GUARD=1: a
# mapping per stack, so it stops at the mapping budget, about 30,000 with
# the default vm.max_map_count).  Installs cmake with apt when it is
# missing.
#
#   benches/million.sh [N [STACK_KIB]]     defaults: 1000000 16
#
# Needs about 5 GiB of free memory for a million.  Environment:
# COSTACK_BACKEND (default: the target's default backend), CC (default cc),
# CARGO_TARGET_DIR (where the build goes, default target; the core's build
# directory is shared with benches/c-perf.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

cc=${CC:-cc}
backend=${COSTACK_BACKEND:-}
build="${CARGO_TARGET_DIR:-target}/cmake/release-${backend:-default}-$(basename "$cc")"

if ! command -v cmake >/dev/null; then
    echo "million: installing cmake"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends cmake
fi

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    -DCMAKE_C_COMPILER="$cc" -DCOSTACK_BACKEND="$backend" >/dev/null
cmake --build "$build" --parallel "$(nproc)" >/dev/null
# million.c reads each coroutine's guard from the core's private header
# (csrc/internal.h).
"$cc" -std=c99 -O2 -Wall -Wextra -Iinclude -Icsrc benches/million.c \
    "$build/libcostack.a" -lpthread -o "$build/million"

echo "===== guards as the kernel offers them ====="
env -u COSTACK_NO_MADV_GUARD "$build/million" "$@"
echo
echo "===== mprotect guards forced (COSTACK_NO_MADV_GUARD=1) ====="
COSTACK_NO_MADV_GUARD=1 "$build/million" "$@"
