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
#
# The suite runs through cmake/CostackRunSuite.cmake, which fails the test
# on a non-zero exit status, a line starting with FAIL, a backend line that
# is not this build's backend, or a summary with failures.  Environment at
# test time: COSTACK_TEST_CASES="a b" runs only those cases.  When
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

function(costack_add_suite_test name target)
    add_test(NAME ${name} COMMAND "${CMAKE_COMMAND}"
        "-DSUITE=$<TARGET_FILE:${target}>"
        "-DBACKEND=${COSTACK_RESOLVED_BACKEND}"
        "-DEMULATOR=${costack_emulator}"
        "-DCHILD_RUNNER=${costack_child_runner}"
        "-DNO_SKIPS=${COSTACK_SUITE_NO_SKIPS}"
        -P "${PROJECT_SOURCE_DIR}/cmake/CostackRunSuite.cmake")
    set_tests_properties(${name} PROPERTIES TIMEOUT 1800 ${ARGN})
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
