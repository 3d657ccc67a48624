# CostackSanitize.cmake - COSTACK_SANITIZE: build the C core and the tests
# with sanitizers (included by CMakeLists.txt after the library target is
# defined).
#
#   cmake -S . -B build-asan -DCOSTACK_SANITIZE=address,undefined
#   cmake -S . -B build-tsan -DCOSTACK_SANITIZE=thread
#
# The value is what -fsanitize= takes, a comma-separated list of address,
# undefined, thread and leak (address and thread exclude each other).  Every
# C file of the core and of the tests is compiled with -fsanitize=...,
# -fno-omit-frame-pointer and -g, and whatever links costack::costack links
# the sanitizers' runtimes.  The core sees the sanitizer it is compiled with
# (__SANITIZE_ADDRESS__, __has_feature(...)) and tells it about coroutine
# stacks by itself (csrc/sanitizer.h): no other option is needed.
#
# Results, for CMakeLists.txt and CostackTests.cmake:
#   COSTACK_SANITIZERS        the list of sanitizers (empty: none)
#   COSTACK_SANITIZE_COMPILE  compile options for the tests' sources
#
# Runtime options for the suite under ctest: the environment's
# (ASAN_OPTIONS, UBSAN_OPTIONS, TSAN_OPTIONS) over defaults, and what a
# sanitizer needs to follow the suite after them (cmake/CostackTests.cmake);
# scripts/sanitizers.sh has the ones CI uses.

set(COSTACK_SANITIZE "" CACHE STRING
    "Sanitizers for the core and the tests, as -fsanitize= takes them: address,undefined or thread (empty: none)")

set(COSTACK_SANITIZERS "")
set(COSTACK_SANITIZE_COMPILE "")
if(COSTACK_SANITIZE)
    if(MSVC OR NOT CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
        message(FATAL_ERROR "costack: COSTACK_SANITIZE needs gcc or clang "
                            "(${CMAKE_C_COMPILER_ID} here)")
    endif()
    string(REPLACE "," ";" COSTACK_SANITIZERS "${COSTACK_SANITIZE}")
    foreach(s IN LISTS COSTACK_SANITIZERS)
        if(NOT s MATCHES "^(address|undefined|thread|leak)$")
            message(FATAL_ERROR "costack: COSTACK_SANITIZE: unknown sanitizer "
                "\"${s}\" (known: address, undefined, thread, leak)")
        endif()
    endforeach()
    if("address" IN_LIST COSTACK_SANITIZERS AND "thread" IN_LIST COSTACK_SANITIZERS)
        message(FATAL_ERROR "costack: COSTACK_SANITIZE: address and thread "
                            "cannot be combined (build twice)")
    endif()
    # TSan runs signal handlers late, on the interrupted stack, which the
    # sigaltstack backend's start of a stack depends on (csrc/backend_sigaltstack.c).
    if("thread" IN_LIST COSTACK_SANITIZERS AND COSTACK_RESOLVED_BACKEND STREQUAL "sigaltstack")
        message(FATAL_ERROR "costack: the sigaltstack backend cannot run "
            "under ThreadSanitizer, which runs signal handlers on the "
            "interrupted stack instead of the alternate one; use asm or ucontext")
    endif()
    set(COSTACK_SANITIZE_COMPILE
        -fsanitize=${COSTACK_SANITIZE} -fno-omit-frame-pointer -g)
    # C only: the assembler files have nothing to instrument.
    target_compile_options(costack PRIVATE
        $<$<COMPILE_LANGUAGE:C>:${COSTACK_SANITIZE_COMPILE}>)
    # An instrumented library needs the runtimes in the program that links
    # it, installed or not.
    target_link_options(costack INTERFACE -fsanitize=${COSTACK_SANITIZE})
    string(APPEND COSTACK_PC_LIBS " -fsanitize=${COSTACK_SANITIZE}")
    message(STATUS "costack: sanitizers ${COSTACK_SANITIZE}")
endif()
