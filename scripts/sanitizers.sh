#!/usr/bin/env bash
# sanitizers.sh - the C core and the C suite under sanitizers: each build
# below is configured afresh with CMake (COSTACK_SANITIZE,
# cmake/CostackSanitize.cmake; warnings are errors) and its suite run by
# ctest, which fails on a failed case, on a report of the sanitizer, and on
# a skipped case that is not one the sanitizer cannot follow
# (cmake/CostackTests.cmake lists those and why).  The suite includes a
# coroutine that moves between threads (finish_on_other_thread) and
# thousands of suspended coroutines destroyed (destroy_suspended_many).
#
#   scripts/sanitizers.sh                    every build below
#   scripts/sanitizers.sh thread:clang:asm   only these
#                                            (<sanitizers>:<compiler>:<backend>)
#
# The builds: ASan+UBSan with clang for each Unix backend and with gcc for
# asm and ucontext; TSan with clang for asm and ucontext, with gcc for asm.
# TSan cannot run the sigaltstack backend at all: it runs signal handlers
# late, on the interrupted stack instead of the alternate one, and that
# backend starts every stack in a handler on the alternate stack.  gcc
# repeats what clang does with another runtime (gcc 12's libasan and
# libtsan); the ucontext and sigaltstack backends share their switches.
#
# Installs cmake, clang and the compilers' sanitizer runtimes when missing
# (clang's are in libclang-rt-<version>-dev on Debian).
set -euo pipefail
cd "$(dirname "$0")/.."

builds=("$@")
if [ ${#builds[@]} -eq 0 ]; then
    builds=(
        address,undefined:clang:asm
        address,undefined:clang:ucontext
        address,undefined:clang:sigaltstack
        address,undefined:gcc:asm
        address,undefined:gcc:ucontext
        thread:clang:asm
        thread:clang:ucontext
        thread:gcc:asm
    )
fi

# ---- tools ------------------------------------------------------------------
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v gcc >/dev/null || need+=(gcc)
command -v g++ >/dev/null || need+=(g++)
command -v clang >/dev/null || need+=(clang)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -q
    apt-get install -y -q "${need[@]}"
fi
# A sanitizer runtime is there if a program links with it.
links() { # compiler, sanitizers
    printf 'int main(void) { return 0; }\n' |
        "$1" -x c - -fsanitize="$2" -o /dev/null >/dev/null 2>&1
}
need=()
for san in address,undefined thread; do
    if ! links clang "$san"; then
        need+=("libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev")
    fi
    if ! links gcc "$san"; then
        need+=("libgcc-$(gcc -dumpversion | cut -d. -f1)-dev")
    fi
done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -q
    apt-get install -y -q $(printf '%s\n' "${need[@]}" | sort -u)
fi

# ---- runtime options ----------------------------------------------------------
# Every report stops the program.  ASan keeps frames whose locals have
# their address taken on fake stacks (detect_stack_use_after_return), which
# must follow each coroutine through its switches and to other threads;
# leaks are reported at exit.  ctest adds what the suite needs besides
# (TSan's detect_deadlocks=0, and the second run of the cases that measure
# a stack through its locals, without fake stacks: cmake/CostackTests.cmake).
export ASAN_OPTIONS=detect_stack_use_after_return=1:detect_leaks=1:halt_on_error=1:abort_on_error=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1

# ---- builds -------------------------------------------------------------------
for build in "${builds[@]}"; do
    IFS=: read -r san cc backend <<<"$build"
    case "$cc" in
    gcc) cxx=g++ ;;
    clang) cxx=clang++ ;;
    *) echo "sanitizers.sh: unknown compiler $cc" >&2; exit 2 ;;
    esac
    dir=target/ci/sanitize-${san//,/+}-$cc-$backend
    printf '\n--- %s, %s, COSTACK_BACKEND=%s (%s)\n' "$san" "$cc" "$backend" "$dir"
    rm -rf "$dir"
    cmake -S . -B "$dir" -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
        -DCOSTACK_BACKEND="$backend" -DCOSTACK_SANITIZE="$san" \
        -DCOSTACK_WERROR=ON
    cmake --build "$dir" --parallel "$(nproc)"
    (cd "$dir" && ctest --output-on-failure)
done
echo "sanitizers.sh: ${#builds[@]} builds, no reports"
