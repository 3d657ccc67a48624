# CostackRunSuite.cmake - run one build of the C suite (tests/c) for ctest
# and judge its output (cmake/CostackTests.cmake adds the tests):
#
#   cmake -DSUITE=<program> -DBACKEND=<name> [-DEMULATOR=<a|b|...>]
#         [-DCHILD_RUNNER=ON] [-DNO_SKIPS=ON] -P CostackRunSuite.cmake
#
# The test fails when the suite exits non-zero, prints a line starting with
# FAIL, does not print "costack C suite, backend <BACKEND>" (a library of
# another backend linked), has no summary "N passed, M failed, K skipped"
# with N > 0 and M = 0, or (NO_SKIPS) skipped a case.
#
# EMULATOR ('|' between words) runs the program; with CHILD_RUNNER its
# first word also runs the suite's child processes (COSTACK_TEST_RUNNER,
# unless the environment sets it).  COSTACK_TEST_CASES in the environment
# names the cases to run (all when unset).
cmake_minimum_required(VERSION 3.13)

foreach(var SUITE BACKEND)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "CostackRunSuite: -D${var}=... is required")
    endif()
endforeach()

string(REPLACE "|" ";" emulator "${EMULATOR}")
if(emulator AND CHILD_RUNNER AND NOT DEFINED ENV{COSTACK_TEST_RUNNER})
    list(GET emulator 0 runner)
    set(ENV{COSTACK_TEST_RUNNER} "${runner}")
endif()
set(cases "")
if(DEFINED ENV{COSTACK_TEST_CASES})
    separate_arguments(cases UNIX_COMMAND "$ENV{COSTACK_TEST_CASES}")
endif()

execute_process(COMMAND ${emulator} "${SUITE}" ${cases}
    RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
# Windows programs end their lines with CR LF.
string(REPLACE "\r" "" out "${out}")
string(REPLACE "\r" "" err "${err}")
message("--- stdout ---\n${out}--- stderr ---\n${err}--- status: ${status}")

set(problems "")
if(NOT status STREQUAL "0")
    list(APPEND problems "exit status ${status}")
endif()
if(out MATCHES "(^|\n)FAIL")
    list(APPEND problems "a case failed (a line starting with FAIL)")
endif()
if(NOT out MATCHES "(^|\n)costack C suite, backend ${BACKEND}\n")
    list(APPEND problems
        "no line \"costack C suite, backend ${BACKEND}\" (another library linked?)")
endif()
if(out MATCHES "(^|\n)([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped")
    set(passed ${CMAKE_MATCH_2})
    set(failed ${CMAKE_MATCH_3})
    set(skipped ${CMAKE_MATCH_4})
    if(passed EQUAL 0 OR NOT failed EQUAL 0)
        list(APPEND problems "summary: ${passed} passed, ${failed} failed")
    endif()
    if(NO_SKIPS AND NOT skipped EQUAL 0)
        list(APPEND problems
            "${skipped} skipped (natively on Linux with glibc every case runs)")
    endif()
else()
    list(APPEND problems "no summary line \"N passed, M failed, K skipped\"")
endif()

if(problems)
    string(REPLACE ";" "; " problems "${problems}")
    message(FATAL_ERROR "${SUITE}: ${problems}")
endif()
