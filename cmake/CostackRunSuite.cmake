# CostackRunSuite.cmake - run one build of the C suite (tests/c) for ctest
# and judge its output (cmake/CostackTests.cmake adds the tests):
#
#   cmake -DSUITE=<program> -DBACKEND=<name> [-DEMULATOR=<a|b|...>]
#         [-DCHILD_RUNNER=ON] [-DNO_SKIPS=ON] [-DALLOWED_SKIPS=<a|b|...>]
#         [-DSANITIZER_DEFAULTS=<VAR=opts|...>]
#         [-DSANITIZER_FORCE=<VAR=opts|...>] [-DCASES=<"a b">]
#         -P CostackRunSuite.cmake
#
# The test fails when the suite exits non-zero, prints a line starting with
# FAIL, does not print "costack C suite, backend <BACKEND>" (a library of
# another backend linked), has no summary "N passed, M failed, K skipped"
# with N > 0 and M = 0, (NO_SKIPS) skipped a case that ALLOWED_SKIPS does
# not name, or printed a sanitizer's report or warning to stderr (those do
# not all change the exit status).
#
# Sanitizer builds (cmake/CostackSanitize.cmake): ALLOWED_SKIPS names the
# cases the sanitizer cannot follow (each prints why when it skips);
# SANITIZER_DEFAULTS sets runtime options (ASAN_OPTIONS=...) that the
# environment's own settings of the same variable follow and override;
# SANITIZER_FORCE adds options after the environment's, for a run that
# needs them.  CASES names the cases to run, instead of the environment's
# COSTACK_TEST_CASES.
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
if(CASES)
    separate_arguments(cases UNIX_COMMAND "${CASES}")
elseif(DEFINED ENV{COSTACK_TEST_CASES})
    separate_arguments(cases UNIX_COMMAND "$ENV{COSTACK_TEST_CASES}")
endif()

# VAR=options entries: the sanitizers read options separated by ':', the
# last setting of one winning.  Defaults go before what the environment
# says, forced options after it.
function(costack_merge_options entries where)
    string(REPLACE "|" ";" entries "${entries}")
    foreach(entry IN LISTS entries)
        if(NOT entry MATCHES "^([A-Z_]+)=(.*)$")
            continue()
        endif()
        set(var "${CMAKE_MATCH_1}")
        set(ours "${CMAKE_MATCH_2}")
        if(NOT DEFINED ENV{${var}} OR "$ENV{${var}}" STREQUAL "")
            set(ENV{${var}} "${ours}")
        elseif(where STREQUAL "before")
            set(ENV{${var}} "${ours}:$ENV{${var}}")
        else()
            set(ENV{${var}} "$ENV{${var}}:${ours}")
        endif()
    endforeach()
endfunction()
costack_merge_options("${SANITIZER_DEFAULTS}" before)
costack_merge_options("${SANITIZER_FORCE}" after)
foreach(var ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS LSAN_OPTIONS)
    if(DEFINED ENV{${var}})
        message("${var}=$ENV{${var}}")
    endif()
endforeach()

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
        # Which: "SKIP name: why" lines.
        string(REPLACE "|" ";" allowed "${ALLOWED_SKIPS}")
        string(REGEX MATCHALL "(^|\n)SKIP [^:\n]+" skip_lines "${out}")
        set(not_allowed "")
        foreach(line IN LISTS skip_lines)
            string(REGEX REPLACE "^\n?SKIP " "" name "${line}")
            if(NOT name IN_LIST allowed)
                list(APPEND not_allowed "${name}")
            endif()
        endforeach()
        if(not_allowed OR NOT skip_lines)
            string(REPLACE ";" ", " not_allowed "${not_allowed}")
            list(APPEND problems
                "${skipped} skipped (natively on Linux with glibc every case "
                "runs, but for what a sanitizer cannot follow: ${ALLOWED_SKIPS}); "
                "not allowed: ${not_allowed}")
        endif()
    endif()
else()
    list(APPEND problems "no summary line \"N passed, M failed, K skipped\"")
endif()
# ASan, UBSan and TSan reports and warnings ("==123==ERROR: AddressSanitizer:",
# "runtime error:", "WARNING: ThreadSanitizer:", "==123==WARNING: ASan is
# ignoring ..."); children's stderr is the cases' to judge.
if(err MATCHES "(Sanitizer:|runtime error:|==[0-9]+==WARNING|Sanitizer: CHECK failed)")
    list(APPEND problems "a sanitizer reported (stderr: \"${CMAKE_MATCH_1}\")")
endif()

if(problems)
    string(REPLACE ";" "; " problems "${problems}")
    message(FATAL_ERROR "${SUITE}: ${problems}")
endif()
