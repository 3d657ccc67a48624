#!/usr/bin/env bash
# A million guarded coroutines (benches/million.c): builds the crate's
# staticlib in release mode, links the benchmark against it as a C program
# would, and runs it twice: with the guards the kernel offers (slabs with
# MADV_GUARD_INSTALL on Linux 6.13+) and with the mprotect fallback forced
# (COSTACK_NO_MADV_GUARD=1: a mapping per stack, so it stops at the mapping
# budget, about 30,000 with the default vm.max_map_count).
#
#   benches/million.sh [N [STACK_KIB]]     defaults: 1000000 16
#
# Needs about 5 GiB of free memory for a million.  COSTACK_BACKEND picks the
# backend as for cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-target}
cargo build --release --lib --quiet
out="$target/release/million"
"${CC:-cc}" -std=c99 -O2 -Wall -Wextra -Iinclude -Icsrc benches/million.c \
    "$target/release/libcostack.a" -lpthread -ldl -lm -lrt -o "$out"

echo "===== guards as the kernel offers them ====="
env -u COSTACK_NO_MADV_GUARD "$out" "$@"
echo
echo "===== mprotect guards forced (COSTACK_NO_MADV_GUARD=1) ====="
COSTACK_NO_MADV_GUARD=1 "$out" "$@"
