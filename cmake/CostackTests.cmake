# CostackTests.cmake - costack's tests under ctest (included by
# CMakeLists.txt when testing is on):
#
#   costack-suite-c                the C suite (tests/c) built as C99
#   costack-suite-cxx              the same sources built as C++11, when
#                                  there is a C++ compiler
#   costack-suite-c-no-madv-guard  the C build with COSTACK_NO_MADV_GUARD=1
#                                  (the stacks of kernels before 6.13: a
#                                  mapping and an mprotect guard each);
#                                  Unix only
#   costack-windows-fibers         tests/windows/fibers.c, with
#                                  tests/windows/in_dll.c as a DLL beside
#                                  it; Windows only
#   costack-suite-c-asan-real-stack
#                                  with COSTACK_SANITIZE=address: the cases
#                                  that measure the coroutine's stack
#                                  through its locals, again without
#                                  detect_stack_use_after_return (whose
#                                  fake stack holds those locals)
#   costack-libuv-nest             tests/libuv/nest.c: a libuv loop drives
#                                  the costack loop; Linux, when
#                                  pkg-config finds libuv
#
# The suite runs through cmake/CostackRunSuite.cmake, which fails the test
# on a non-zero exit status, a line starting with FAIL, a backend line that
# is not this build's backend, a summary with failures, a skipped case
# where every case must run (natively on Linux with glibc) unless a
# sanitizer cannot follow it (below), or a sanitizer's report.  Environment
# at test time: COSTACK_TEST_CASES="a b" runs only those cases;
# ASAN_OPTIONS, UBSAN_OPTIONS and TSAN_OPTIONS override the defaults below.
# When
# cross-compiling, CMAKE_CROSSCOMPILING_EMULATOR (qemu-aarch64, wine) runs
# the programs; on Unix the suite's child processes are started through it
# too (COSTACK_TEST_RUNNER), unless the environment sets that already.

include(CheckCSourceCompiles)
include(CheckLanguage)
include(CheckSymbolExists)

set(COSTACK_TEST_DIR "${PROJECT_BINARY_DIR}/tests")
file(GLOB COSTACK_SUITE_SOURCES CONFIGURE_DEPENDS
     "${PROJECT_SOURCE_DIR}/tests/c/*.c")
list(SORT COSTACK_SUITE_SOURCES)

# The suite's threads are POSIX threads (winpthreads on mingw-w64); without
# them (MSVC) only the Windows-only cases are built.
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads)
if(CMAKE_USE_PTHREADS_INIT)
    set(COSTACK_BUILD_SUITE ON)
else()
    set(COSTACK_BUILD_SUITE OFF)
    message(STATUS "costack: no POSIX threads: the C suite (tests/c) is not built")
endif()

# fegetround/fesetround (the floating-point control case) are in libm on
# glibc.
set(costack_fenv_check "#include <fenv.h>
int main(void) { return fesetround(FE_TONEAREST); }
")
check_c_source_compiles("${costack_fenv_check}" COSTACK_FENV_IN_LIBC)
set(COSTACK_TEST_LIBS "")
if(TARGET Threads::Threads)
    list(APPEND COSTACK_TEST_LIBS Threads::Threads)
endif()
if(NOT COSTACK_FENV_IN_LIBC)
    set(CMAKE_REQUIRED_LIBRARIES m)
    check_c_source_compiles("${costack_fenv_check}" COSTACK_FENV_IN_LIBM)
    unset(CMAKE_REQUIRED_LIBRARIES)
    if(COSTACK_FENV_IN_LIBM)
        list(APPEND COSTACK_TEST_LIBS m)
    endif()
endif()

# Natively on Linux with glibc every case runs: a skip there is a failure.
# Elsewhere some cases cannot run (Windows, qemu-user, other libcs) and say
# why.
check_symbol_exists(__GLIBC__ stdlib.h COSTACK_HAVE_GLIBC)
if(CMAKE_SYSTEM_NAME STREQUAL "Linux" AND NOT CMAKE_CROSSCOMPILING
   AND COSTACK_HAVE_GLIBC)
    set(COSTACK_SUITE_NO_SKIPS ON)
else()
    set(COSTACK_SUITE_NO_SKIPS OFF)
endif()

# Settings every test program shares.
function(costack_test_program target)
    target_link_libraries(${target} PRIVATE costack ${COSTACK_TEST_LIBS})
    target_compile_options(${target} PRIVATE ${COSTACK_WARNINGS}
        ${COSTACK_SANITIZE_COMPILE})
    set_target_properties(${target} PROPERTIES
        RUNTIME_OUTPUT_DIRECTORY "${COSTACK_TEST_DIR}"
        LIBRARY_OUTPUT_DIRECTORY "${COSTACK_TEST_DIR}")
    if(MINGW)
        # mingw's own printf (C99 formats such as %zu); linked statically,
        # so the programs run without the mingw runtime DLLs (under Wine,
        # or on a Windows machine without mingw-w64).
        target_compile_definitions(${target} PRIVATE __USE_MINGW_ANSI_STDIO=1)
        target_link_options(${target} PRIVATE -static)
    endif()
endfunction()

# ---- the C suite -------------------------------------------------------------
set(costack_emulator "${CMAKE_CROSSCOMPILING_EMULATOR}")
string(REPLACE ";" "|" costack_emulator "${costack_emulator}")
if(WIN32)
    set(costack_child_runner OFF) # children start by CreateProcess
else()
    set(costack_child_runner ON)
endif()

# ---- under sanitizers (COSTACK_SANITIZE) ------------------------------------
# Runtime options every suite run gets, which the environment's own
# settings follow (and override): reports stop the program, and ASan puts
# frames whose locals have their address taken on fake stacks, to catch
# uses after return, also across coroutine switches and threads.
#
# What a sanitizer cannot follow.  Forced (after the environment's):
#   TSan detect_deadlocks=0: costack's fork() handler holds the lock of
#     every slab class at once (one per stack size and guard in use), and
#     TSan's deadlock detector follows at most 64 mutexes held by a thread
#     ("CHECK failed: sanitizer_deadlock_detector.h"), which the cases pass
#     once they have used that many sizes; every case that forks a child
#     would die.
# Cases allowed to skip, per sanitizer (each prints why; the suite
# itself runs its child processes without the sanitizers' SIGSEGV handlers
# and, under ASan, without fake stacks: tests/c/suite.c):
#   address: deep_stack_default_size measures how deep the coroutine's stack
#     is used through its locals' addresses, which are on the fake stack
#     with detect_stack_use_after_return (costack-suite-c-asan-real-stack
#     runs it without); enomem_rlimit_as (ASan dies when the address-space
#     limit hits a mapping of its own before a stack);
#   thread: suspended_10000 (a fiber per coroutine: gcc 12's runtime allows
#     8128 threads and fibers at once, and with clang's the fibers' own
#     mappings pass vm.max_map_count where each stack has mappings of its
#     own), pool_reuse_no_growth (its RSS comparison: TSan's own memory
#     grows with switches), destroy_suspended_many (its mapping and address
#     space comparisons: TSan keeps memory of destroyed fibers), stacks_come_back (its memory
#     comparisons, with gcc 12's runtime, which keeps more),
#     enomem_rlimit_as and enomem_mappings (TSan dies when it
#     cannot map memory of its own, for a new fiber or at all, once the
#     address space or the mappings run out), death_overflow_slab (its
#     overflow inside a signal handler: TSan runs handlers with every
#     signal blocked, so the SIGSEGV kills before costack's handler runs).
#     Those with more to check (the RSS, memory and overflow cases) check
#     the rest before they skip.
set(costack_san_defaults "")
set(costack_san_force "")
set(costack_allowed_skips "")
if("address" IN_LIST COSTACK_SANITIZERS)
    list(APPEND costack_san_defaults
        "ASAN_OPTIONS=detect_stack_use_after_return=1:detect_leaks=1:halt_on_error=1")
    list(APPEND costack_allowed_skips deep_stack_default_size enomem_rlimit_as)
endif()
if("undefined" IN_LIST COSTACK_SANITIZERS)
    list(APPEND costack_san_defaults
        "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
endif()
if("thread" IN_LIST COSTACK_SANITIZERS)
    list(APPEND costack_san_defaults "TSAN_OPTIONS=halt_on_error=1")
    list(APPEND costack_san_force "TSAN_OPTIONS=detect_deadlocks=0")
    list(APPEND costack_allowed_skips suspended_10000 pool_reuse_no_growth
        stacks_come_back destroy_suspended_many enomem_rlimit_as
        enomem_mappings death_overflow_slab)
endif()
string(REPLACE ";" "|" costack_san_defaults "${costack_san_defaults}")
string(REPLACE ";" "|" costack_allowed_skips "${costack_allowed_skips}")

# costack_add_suite_test(<name> <target> [CASES "<a b>"] [FORCE <VAR=opts>]
#                        [STRICT] [<test property> <value>...]):
# CASES runs only those cases, FORCE adds sanitizer options after the
# environment's, STRICT allows no skip at all.
function(costack_add_suite_test name target)
    cmake_parse_arguments(arg "STRICT" "CASES;FORCE" "" ${ARGN})
    set(allowed "${costack_allowed_skips}")
    if(arg_STRICT)
        set(allowed "")
    endif()
    set(force "${costack_san_force}")
    if(arg_FORCE)
        list(APPEND force "${arg_FORCE}")
    endif()
    string(REPLACE ";" "|" force "${force}")
    add_test(NAME ${name} COMMAND "${CMAKE_COMMAND}"
        "-DSUITE=$<TARGET_FILE:${target}>"
        "-DBACKEND=${COSTACK_RESOLVED_BACKEND}"
        "-DEMULATOR=${costack_emulator}"
        "-DCHILD_RUNNER=${costack_child_runner}"
        "-DNO_SKIPS=${COSTACK_SUITE_NO_SKIPS}"
        "-DALLOWED_SKIPS=${allowed}"
        "-DSANITIZER_DEFAULTS=${costack_san_defaults}"
        "-DSANITIZER_FORCE=${force}"
        "-DCASES=${arg_CASES}"
        -P "${PROJECT_SOURCE_DIR}/cmake/CostackRunSuite.cmake")
    set_tests_properties(${name} PROPERTIES TIMEOUT 1800
        ${arg_UNPARSED_ARGUMENTS})
endfunction()

if(COSTACK_BUILD_SUITE)
    add_executable(costack_suite ${COSTACK_SUITE_SOURCES})
    set_target_properties(costack_suite PROPERTIES OUTPUT_NAME suite
        C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
    costack_test_program(costack_suite)
    costack_add_suite_test(costack-suite-c costack_suite)
    if(NOT WIN32)
        costack_add_suite_test(costack-suite-c-no-madv-guard costack_suite
            ENVIRONMENT COSTACK_NO_MADV_GUARD=1)
    endif()
    if("address" IN_LIST COSTACK_SANITIZERS)
        costack_add_suite_test(costack-suite-c-asan-real-stack costack_suite
            CASES "deep_stack_default_size" STRICT
            FORCE "ASAN_OPTIONS=detect_stack_use_after_return=0")
    endif()
    check_language(CXX)
    if(NOT CMAKE_CXX_COMPILER)
        message(STATUS "costack: no C++ compiler; the suite is built as C only")
    endif()
endif()

# The same sources as C++: one file per source that includes it, so the .c
# files stay C for the C build.
if(COSTACK_BUILD_SUITE AND CMAKE_CXX_COMPILER)
    enable_language(CXX)
    set(cxx_sources "")
    foreach(src IN LISTS COSTACK_SUITE_SOURCES)
        get_filename_component(name "${src}" NAME_WE)
        set(cxx "${COSTACK_TEST_DIR}/cxx/${name}.cpp")
        file(WRITE "${cxx}.new" "#include \"${src}\"\n")
        # Rewritten only when it changes, so it is not recompiled each time.
        configure_file("${cxx}.new" "${cxx}" COPYONLY)
        list(APPEND cxx_sources "${cxx}")
    endforeach()
    add_executable(costack_suite_cxx ${cxx_sources})
    target_include_directories(costack_suite_cxx PRIVATE
        "${PROJECT_SOURCE_DIR}/tests/c")
    set_target_properties(costack_suite_cxx PROPERTIES OUTPUT_NAME suite-cxx
        CXX_STANDARD 11 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
    costack_test_program(costack_suite_cxx)
    costack_add_suite_test(costack-suite-cxx costack_suite_cxx)
endif()

# ---- Windows only: what the Fibers backend alone does -----------------------
if(WIN32)
    # The case thread_exit_hook_in_a_dll loads costack_in_dll.dll from
    # beside the program.
    add_library(costack_in_dll MODULE "${PROJECT_SOURCE_DIR}/tests/windows/in_dll.c")
    set_target_properties(costack_in_dll PROPERTIES PREFIX ""
        C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
    add_executable(costack_fibers "${PROJECT_SOURCE_DIR}/tests/windows/fibers.c")
    set_target_properties(costack_fibers PROPERTIES OUTPUT_NAME fibers
        C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
    add_dependencies(costack_fibers costack_in_dll)
    foreach(t costack_in_dll costack_fibers)
        costack_test_program(${t})
        # windows_sys.h, the core's own Windows header.
        target_include_directories(${t} PRIVATE "${PROJECT_SOURCE_DIR}/csrc")
    endforeach()
    add_test(NAME costack-windows-fibers COMMAND costack_fibers
        WORKING_DIRECTORY "${COSTACK_TEST_DIR}")
    set_tests_properties(costack-windows-fibers PROPERTIES TIMEOUT 1800)
endif()

# ---- the loop nested in libuv (Linux) ---------------------------------------
# tests/libuv/nest.c: a libuv loop drives costack coroutines through
# costack_loop_fd, costack_loop_timeout_ns and costack_loop_run_once.  Built
# when pkg-config finds libuv (Debian: libuv1-dev; .ci/run installs it),
# natively only (a cross build's pkg-config would find the host's);
# exit status 77 (skipped) where the loop has no pollable fd.
if(CMAKE_SYSTEM_NAME STREQUAL "Linux" AND COSTACK_BUILD_SUITE
   AND NOT CMAKE_CROSSCOMPILING)
    find_package(PkgConfig QUIET)
    if(PKG_CONFIG_FOUND)
        pkg_check_modules(COSTACK_LIBUV QUIET IMPORTED_TARGET libuv)
    endif()
    if(COSTACK_LIBUV_FOUND)
        add_executable(costack_libuv_nest
            "${PROJECT_SOURCE_DIR}/tests/libuv/nest.c")
        set_target_properties(costack_libuv_nest PROPERTIES OUTPUT_NAME nest
            C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
        costack_test_program(costack_libuv_nest)
        target_link_libraries(costack_libuv_nest PRIVATE PkgConfig::COSTACK_LIBUV)
        add_test(NAME costack-libuv-nest COMMAND costack_libuv_nest)
        set_tests_properties(costack-libuv-nest PROPERTIES TIMEOUT 300
            SKIP_RETURN_CODE 77)
    else()
        message(STATUS "costack: no libuv (pkg-config libuv): the libuv "
                       "nesting test (tests/libuv/nest.c) is not built")
    endif()
endif()
