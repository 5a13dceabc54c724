#!/usr/bin/env bash
# run-tests.sh - runs one exercise's judge against a folder of subjects, as
# `make ex01` (and test-ref, memcheck, watch) do.
#
#   scripts/run-tests.sh EX SUBJECT_DIR [TEST] [criterion options...]
#
# EX           the exercise (ex01 ...): the judge is build/bin/test-EX
# SUBJECT_DIR  the folder of the subjects (build/bin: yours; build/ref/bin:
#              the reference's)
# TEST         "" for every test, or one test as the reports print it
#              (suite::test), or a suite (suite::*); it must name something,
#              else the list of tests is printed and the exit status is 2
# The reference's subjects (build/ref/bin) are given to the judge too, for
# the tests that compare with them.  RUN_TESTS_SUMMARY=FILE writes the
# Criterion JSON report there (make watch reads it).
set -uo pipefail
cd "$(dirname "$0")/.."

ex=$1 subjects=$2 test=${3:-}
shift 2
[[ $# -gt 0 ]] && shift
judge=build/bin/test-$ex

list_tests() {
    "$judge" --list --ascii 2>/dev/null | awk '
        /^[^ |`].*: [0-9]+ tests?$/ { sub(/:.*/, ""); suite = $0; next }
        /^(\|--|`--) / { print "  " suite "::" $2 }'
}

args=(-j1)
if [[ -n $test ]]; then
    names=$(list_tests | sed 's/^  //')
    suite=${test%%::*}
    name=${test#*::}
    [[ $test == *::* ]] || name='*'
    if [[ $name == '*' ]]; then
        found=$(grep -c -- "^$suite::" <<<"$names")
    else
        found=$(grep -cx -- "$suite::$name" <<<"$names")
    fi
    if [[ $found -eq 0 ]]; then
        echo "make $ex: no test named '$test'. The tests of $ex (paste one after TEST=):" >&2
        list_tests >&2
        exit 2
    fi
    args+=(--filter "$suite/$name")
fi
[[ -n ${RUN_TESTS_SUMMARY:-} ]] && args+=(--json="$RUN_TESTS_SUMMARY")

WB_SUBJECT_DIR=$subjects WB_REF_SUBJECT_DIR=${WB_REF_SUBJECT_DIR:-build/ref/bin} \
    "$judge" "${args[@]}" "$@" 2>&1 | tee build/.last-test-run.log
status=${PIPESTATUS[0]}
if grep -q 'Synthesis: Tested: 0 ' build/.last-test-run.log; then
    echo "make $ex: no test ran: check TEST= or TESTARGS. The tests of $ex:" >&2
    list_tests >&2
    exit 2
fi
# How to rerun a failing test alone: Criterion names it on its [FAIL] line.
if [[ $status -ne 0 && -z $test ]]; then
    failed=$(sed -n 's/^\[FAIL\] \([A-Za-z0-9_]*::[A-Za-z0-9_]*\):.*/\1/p' \
                 build/.last-test-run.log | sort -u)
    count=$(grep -c . <<<"$failed")
    if [[ $count -gt 0 ]]; then
        echo "make $ex: $count failing test(s); rerun one alone (under valgrind or gdb:" \
             "docs/en/grading.md#debugging-a-failing-test):"
        head -n 5 <<<"$failed" | sed "s/^/  make $ex TEST=/"
        [[ $count -gt 5 ]] && echo "  ... and $((count - 5)) more (make $ex TEST=? lists them all)"
    fi
fi
exit "$status"
