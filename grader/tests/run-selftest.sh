#!/usr/bin/env bash
# Self-test of the grader: grades the fake exercises of fixtures/ (a fake
# workbook root with its own Makefile, harness/ and a submission in sub/)
# and checks every score, status line, report file and exit status.
#
# Usage: run-selftest.sh PATH/TO/grader
# Needs: make, gcc, pkg-config and Criterion. Exits non-zero on any mismatch.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 PATH/TO/grader" >&2
    exit 2
fi
grader=$(realpath "$1")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/grader-selftest.XXXXXX")
# On exit, kill any fixture grandchild that survived a broken grader (only
# a process whose working directory is inside $work), then clean up.
cleanup() {
    local f pid
    for f in "$work"/out-*/scratch-ex02/gc.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        case $(readlink "/proc/$pid/cwd" 2>/dev/null) in
        "$work"/*) kill -KILL "$pid" 2>/dev/null || true ;;
        esac
    done
    rm -rf "$work"
}
trap cleanup EXIT
root=$work/root
cp -R "$here/fixtures" "$root"

# Plain, reproducible output whatever calls us (make check, CI, a terminal).
export NO_COLOR=1
unset GITHUB_STEP_SUMMARY MAKEFLAGS MFLAGS MAKELEVEL

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok:   $*"; }

# grade NAME STATUS [ARGS...]: runs the grader in the fake root with
# --submission sub --out $work/out-NAME ARGS; stdout and stderr go to
# $work/NAME.out and $work/NAME.err, the duration in seconds to
# $work/NAME.time. Checks the exit status.
grade() {
    local name=$1 want=$2 rc=0 start=$SECONDS
    shift 2
    (cd "$root" && "$grader" --submission sub --out "$work/out-$name" "$@") \
        >"$work/$name.out" 2>"$work/$name.err" || rc=$?
    echo $((SECONDS - start)) >"$work/$name.time"
    if [ "$rc" -eq "$want" ]; then
        pass "$name: exit status $rc"
    else
        fail "$name: exit status $rc, expected $want"
        sed 's/^/    | /' "$work/$name.err" >&2
    fi
}

# has NAME out|err REGEX: a line of the grader's stdout/stderr matches.
has() {
    if grep -Eq -- "$3" "$work/$1.$2"; then
        pass "$1: $2 has /$3/"
    else
        fail "$1: $2 lacks /$3/"
        sed 's/^/    | /' "$work/$1.$2" >&2
    fi
}

# lacks NAME out|err REGEX: no line matches.
lacks() {
    if grep -Eq -- "$3" "$work/$1.$2"; then
        fail "$1: $2 unexpectedly has /$3/"
    else
        pass "$1: $2 lacks /$3/"
    fi
}

# faster NAME SECONDS: the run took less than SECONDS.
faster() {
    local took
    took=$(cat "$work/$1.time")
    if [ "$took" -lt "$2" ]; then
        pass "$1: took ${took}s (< $2 s)"
    else
        fail "$1: took ${took}s, expected < $2 s"
    fi
}

# file_has FILE REGEX
file_has() {
    if grep -Eq -- "$2" "$1"; then
        pass "${1#"$work"/}: has /$2/"
    else
        fail "${1#"$work"/}: lacks /$2/"
    fi
}

# ---------------------------------------------------------------- scoring
grade ex01 0 --exercise ex01 --expect-score 5
has ex01 out '^== ex01_pass: Everything passes ==$'
has ex01 out '^  OK        2/2  answer\(\) returns 42$'
has ex01 out '^  OK        3/3  answer\(\) is positive$'
has ex01 out '^  Exercise score: 5/5$'
has ex01 out '^Score: 5/5$'
lacks ex01 out $'\033'

grade ex02 0 --exercise ex02_mixed --expect-score 3
has ex02 out '^  OK        2/2  A passing test$'
has ex02 out '^  FAIL      0/3  A failing assertion$'
has ex02 out '^            harness/ex02_mixed/test.c:[0-9]+: answer\(\) returned 41, expected "42" \\ tab'
has ex02 out '^              second line \?\? bad bytes$'
has ex02 out '^            \.\.\. \(1 more line\)$'
has ex02 out '^            hint: docs/en/ex02_mixed.md#fails$'
has ex02 out '^  FAIL      0/1  The code calls exit\(0\)$'
has ex02 out '^            passed without running any assertion \(did the code exit early\?\)$'
has ex02 out '^  CRASH     0/2  The code writes through NULL$'
has ex02 out '^  TIMEOUT   0/2  The code never returns \(Criterion timeout\)$'
has ex02 out '^  OK        1/1  The code leaves a sleeping grandchild$'
has ex02 out '^  FAIL      0/1  A skipped test$'
has ex02 out '^            skipped$'
has ex02 out '^            not ready$'
has ex02 out '^  FAIL      0/2  A test that the harness lacks$'
has ex02 out '^            missing from the test report$'
# timeout_s is 30 and the grandchild sleeps 1000 s: nothing may wait for it.
faster ex02 15
gc_pid=$(cat "$work/out-ex02/scratch-ex02/gc.pid" 2>/dev/null || echo 0)
if [ "$gc_pid" -gt 1 ] && kill -0 "$gc_pid" 2>/dev/null; then
    fail "ex02: the grandchild $gc_pid is still running"
    kill -KILL "$gc_pid" 2>/dev/null || true
elif [ "$gc_pid" -gt 1 ]; then
    pass "ex02: the grandchild $gc_pid was killed"
else
    fail "ex02: the grandchild did not record its pid"
fi

grade ex03 0 --exercise ex03 --expect-score 0
has ex03 out '^  does not compile: fix the errors below \(your files: /.*/sub/ex03_broken/\)$'
has ex03 out '^    \| .*sub/ex03_broken/answer.c:2:[0-9]+: error: '
has ex03 out '^  UNGRADABLE 0/1  First$'
has ex03 out '^  UNGRADABLE 0/3  Second$'
lacks ex03 out 'hint:'

grade ex04 0 --exercise ex04 --expect-score 0
has ex04 out '^  the test run exceeded 2 s and was stopped$'
has ex04 out '^  TIMEOUT   0/2  Forever$'
has ex04 out '^  TIMEOUT   0/1  Quick$'
faster ex04 10

grade ex05 2 --exercise ex05 --expect-score 2
has ex05 out '^  rubric error: test ex05_extra::not_in_rubric is not in rubric.json$'
has ex05 out '^  OK        2/2  Listed$'
has ex05 out '^  test report error: test ex05_extra::param is reported twice'
has ex05 out '^  FAIL      0/1  A parameterized test \(reported once per parameter\)$'
has ex05 out '^            reported twice$'
has ex05 out '^Score: 2/3$'
has ex05 err 'rubric error: test ex05_extra::not_in_rubric'
lacks ex05 err 'expected score'

grade ex06 0 --exercise ex06 --expect-score 0
has ex06 out '^  the test program ended without a usable report \(.*ex06.criterion.json was not written\)$'
has ex06 out '^  CRASH     0/1  Never run$'

grade ex07 0 --exercise ex07 --expect-score 0
has ex07 out '^  the test program was killed by signal 6 '
has ex07 out '^  CRASH     0/1  Never run$'

# A report left by an earlier run must not be read again.
mkdir -p "$work/out-stale"
cp "$work/out-ex01/ex01.criterion.json" "$work/out-stale/ex06.criterion.json"
grade stale 0 --exercise ex06 --expect-score 0 --out "$work/out-stale"
has stale out '^  CRASH     0/1  Never run$'

# Grading again into the same directory works.
grade rerun 0 --exercise ex01 --expect-score 5 --out "$work/out-ex01"

# A child the grader already had when it started ("cmd & exec grader") is
# not one of its stragglers: it must survive the grading.
(cd "$root" || exit 1
 sleep 60 &
 echo $! >"$work/foreign.pid"
 exec "$grader" --submission sub --out "$work/out-foreign" --exercise ex01 \
     --quiet >"$work/foreign.out" 2>&1) || fail "foreign: the grader failed"
foreign_pid=$(cat "$work/foreign.pid")
if kill -0 "$foreign_pid" 2>/dev/null; then
    pass "foreign: the grader left its pre-existing child alone"
    kill "$foreign_pid" 2>/dev/null || true
else
    fail "foreign: the grader killed a child it did not start"
fi

# ------------------------------------------------------- all, report files
GITHUB_STEP_SUMMARY=$work/step-summary.md grade all 2 --expect-score 10
has all out '^Score: 10/31$'
has all out '^Reports: .*/results.json .*/summary.md$'
json=$work/out-all/results.json
file_has "$json" '^  "score": 10,$'
file_has "$json" '^  "max_score": 31,$'
file_has "$json" '"execution_time": [0-9]'
file_has "$json" '"name": "ex03 · Second",'
file_has "$json" '"number": "7.1",'
file_has "$json" '"result": "UNGRADABLE",'
file_has "$json" '"status": "failed",'
file_has "$json" '"status": "ungradable",'
file_has "$json" '"status": "error",'
file_has "$json" '"tags": \[$'
file_has "$json" '"stdout_visibility": "visible",'
file_has "$work/out-all/summary.md" '^\| ex03 \| Second \| UNGRADABLE \| 0/3 \|$'
file_has "$work/out-all/summary.md" '^\*\*Score: 10/31\*\*$'
file_has "$work/step-summary.md" '^\*\*Score: 10/31\*\*$'
if command -v jq >/dev/null 2>&1; then
    if jq -e '(.tests | length) == 18 and (.exercises | length) == 7
              and ([.tests[].score] | add) == 10
              and .tests[3].result == "FAIL" and .tests[3].status == "failed" and .tests[3].number == "2.2"
              and (.tests[3].output | test("expected \"42\""))' \
            "$json" >/dev/null; then
        pass "results.json: structure checked with jq"
    else
        fail "results.json: structure check with jq failed"
    fi
fi

# ------------------------------------------------------ options and errors
grade quiet 0 --exercise ex01 --quiet
if [ "$(cat "$work/quiet.out")" = "Score: 5/5" ]; then
    pass "quiet: only the score line"
else
    fail "quiet: printed more than the score line"
fi

grade mismatch 1 --exercise ex01 --expect-score 4
has mismatch err '^expected score 4, got 5$'
grade min-fail 1 --exercise ex01 --min-score 6
grade min-ok 0 --exercise ex01 --min-score 5
grade unknown 2 --exercise ex99
has unknown err "unknown exercise 'ex99'"
has unknown err 'known exercises: ex01_pass ex02_mixed'
grade usage 2 --bogus
has usage err "unknown option '--bogus'"
grade badnum 2 --expect-score ten
grade nosub 2 --exercise ex01 --submission "$work/no-such-dir"

# bad_rubric CASE REGEX JSON: a root whose only rubric is JSON must be
# rejected (exit status 2) with a message matching REGEX.
bad_rubric() {
    local name=rubric-$1
    mkdir -p "$work/$name/harness/ex01_pass"
    printf '%s\n' "$3" >"$work/$name/harness/ex01_pass/rubric.json"
    grade "$name" 2 --root "$work/$name" --submission "$root/sub"
    has "$name" err "$2"
}
ok_test='{ "suite": "s", "test": "t", "points": 1, "title": "T" }'
bad_rubric unknown-key 'harness/ex01_pass/rubric.json: top level: unknown key "tets"' \
    '{ "exercise": "ex01_pass", "title": "X", "tets": [] }'
bad_rubric test-key 'rubric.json: tests\[0\]: unknown key "point"' \
    '{ "exercise": "ex01_pass", "title": "X", "tests": [ { "suite": "s", "test": "t", "point": 1, "title": "T" } ] }'
bad_rubric missing-points 'rubric.json: tests\[1\]: missing key "points"' \
    "{ \"exercise\": \"ex01_pass\", \"title\": \"X\", \"tests\": [ $ok_test, { \"suite\": \"s\", \"test\": \"u\", \"title\": \"U\" } ] }"
bad_rubric negative-points '"points" must be between 0 and [0-9]+, got -1' \
    '{ "exercise": "ex01_pass", "title": "X", "tests": [ { "suite": "s", "test": "t", "points": -1, "title": "T" } ] }'
bad_rubric real-points 'expected an integer for "points"' \
    '{ "exercise": "ex01_pass", "title": "X", "tests": [ { "suite": "s", "test": "t", "points": 1.5, "title": "T" } ] }'
bad_rubric missing-title 'top level: missing key "title"' \
    "{ \"exercise\": \"ex01_pass\", \"tests\": [ $ok_test ] }"
bad_rubric no-tests 'expected a non-empty array for "tests"' \
    '{ "exercise": "ex01_pass", "title": "X", "tests": [] }'
bad_rubric duplicate 'tests\[1\]: duplicate test "t"' \
    "{ \"exercise\": \"ex01_pass\", \"title\": \"X\", \"tests\": [ $ok_test, $ok_test ] }"
bad_rubric wrong-dir '"exercise" is "ex02_other" but the directory is "ex01_pass"' \
    "{ \"exercise\": \"ex02_other\", \"title\": \"X\", \"tests\": [ $ok_test ] }"
bad_rubric timeout '"timeout_s" must be between 1 and' \
    "{ \"exercise\": \"ex01_pass\", \"title\": \"X\", \"timeout_s\": 0, \"tests\": [ $ok_test ] }"
bad_rubric syntax 'rubric.json:[0-9]+:[0-9]+: .*expected' \
    '{ "exercise": "ex01_pass", '

# Two exercises with one short id would share make targets and logs.
mkdir -p "$work/rubric-same-id/harness/ex01_a" "$work/rubric-same-id/harness/ex01_b"
for d in ex01_a ex01_b; do
    printf '{ "exercise": "%s", "title": "X", "tests": [ %s ] }\n' "$d" "$ok_test" \
        >"$work/rubric-same-id/harness/$d/rubric.json"
done
grade rubric-same-id 2 --root "$work/rubric-same-id" --submission "$root/sub"
has rubric-same-id err 'exercises ex01_a and ex01_b share the short id ex01'

echo
if [ "$failures" -ne 0 ]; then
    echo "grader self-test: $failures check(s) failed" >&2
    exit 1
fi
echo "grader self-test: all checks passed"
