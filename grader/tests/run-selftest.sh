#!/usr/bin/env bash
# Self-test of the grader, in two parts.
#
#  1. Fake exercises (fixtures/: a fake workbook root with its own Makefile,
#     harness/, a submission in sub/ and a reference in ref/): every score,
#     status line, report file and exit status; groups, timing bands, the
#     manifest and batch grading.
#  2. The real exercise 1, graded with the real root: deliberately bad
#     submissions (submissions/*.c, each a few lines around the reference
#     solution, see submissions/wrap-begin.c), the pristine skeletons and
#     the solutions, each with its exact expected score (computed from the
#     rubric's points) and the reason in the report. Skipped, with a notice,
#     while harness/ex01_comparison/rubric.json lacks "todo", "symbols" or
#     "timing".
#
# Usage: run-selftest.sh PATH/TO/grader [REAL-ROOT]
#   REAL-ROOT defaults to the workbook this script belongs to.
# Needs: make, gcc, pkg-config, Criterion, git, python3. Exits non-zero on
# any mismatch. Takes about a minute (the slow real cases run in parallel).
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 PATH/TO/grader [REAL-ROOT]" >&2
    exit 2
fi
grader=$(realpath "$1")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
real_root=$(realpath "${2:-$here/../..}")
work=$(mktemp -d "${TMPDIR:-/tmp}/grader-selftest.XXXXXX")
bg_pids=()
# On exit, stop background cases, kill any fixture grandchild that survived
# a broken grader (only a process whose working directory is inside
# $work), then clean up.
cleanup() {
    local f pid
    for pid in "${bg_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for f in "$work"/out-*/gc.pid; do
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

# run_grader NAME WANT DIR ARGS...: runs the grader in DIR; stdout and
# stderr go to $work/NAME.out and $work/NAME.err, the duration in seconds
# to $work/NAME.time. Checks the exit status.
run_grader() {
    local name=$1 want=$2 dir=$3 rc=0 start=$SECONDS
    shift 3
    (cd "$dir" && "$grader" "$@") >"$work/$name.out" 2>"$work/$name.err" ||
        rc=$?
    echo $((SECONDS - start)) >"$work/$name.time"
    if [ "$rc" -eq "$want" ]; then
        pass "$name: exit status $rc"
    else
        fail "$name: exit status $rc, expected $want"
        sed 's/^/    | /' "$work/$name.err" >&2
    fi
}

# grade NAME STATUS [ARGS...]: the grader in the fake root with
# --submission sub --out $work/out-NAME ARGS.
grade() {
    local name=$1 want=$2
    shift 2
    run_grader "$name" "$want" "$root" --submission sub --out "$work/out-$name" "$@"
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

# file_has FILE REGEX / file_lacks FILE REGEX
file_has() {
    if grep -Eq -- "$2" "$1"; then
        pass "${1#"$work"/}: has /$2/"
    else
        fail "${1#"$work"/}: lacks /$2/"
    fi
}
file_lacks() {
    if grep -Eq -- "$2" "$1"; then
        fail "${1#"$work"/}: unexpectedly has /$2/"
    else
        pass "${1#"$work"/}: lacks /$2/"
    fi
}

# check_reports DIR: results.json has Gradescope's documented fields with
# their types, junit.xml is well-formed XML, summary.md has a table.
check_reports() {
    if /usr/bin/python3 - "$1" <<'PY'
import json, sys, xml.etree.ElementTree as ET
d = sys.argv[1]
r = json.load(open(d + "/results.json"))
vis = {"hidden", "after_due_date", "after_published", "visible"}
num = (int, float)
assert isinstance(r["score"], num) and isinstance(r["execution_time"], num)
assert isinstance(r["output"], str) and r["visibility"] in vis
assert r["stdout_visibility"] in vis and isinstance(r["tests"], list)
for t in r["tests"]:
    assert isinstance(t["score"], num) and isinstance(t["max_score"], num)
    assert t["status"] in ("passed", "failed"), t["status"]
    for k in ("name", "number", "output"):
        assert isinstance(t[k], str), k
    assert t["visibility"] in vis
    assert all(isinstance(x, str) for x in t["tags"])
assert sum(t["score"] for t in r["tests"]) == r["score"]
assert sum(t["max_score"] for t in r["tests"]) == r["max_score"]
x = ET.parse(d + "/junit.xml").getroot()
assert x.tag == "testsuites"
n = sum(int(s.get("tests")) for s in x.findall("testsuite"))
assert n == len(r["tests"]) == len(x.findall(".//testcase")), n
md = open(d + "/summary.md").read()
assert "| Exercise | Test | Status | Points |\n| --- | --- | --- | --- |\n" in md
PY
    then
        pass "${1#"$work"/}: results.json, junit.xml and summary.md are valid"
    else
        fail "${1#"$work"/}: invalid report files"
    fi
}

# ======================================================================
# Part 2: the real exercise 1 (its two slow cases start first, in the
# background, and are checked at the end)
# ======================================================================
rubric=$real_root/harness/ex01_comparison/rubric.json
if ! /usr/bin/python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(0 if all(k in r for k in ("todo", "symbols", "timing")) else 1)' "$rubric"; then
    real_cases=0
else
    real_cases=1
    # points [SUITE::TEST...]: the rubric's test points minus those tests'.
    points() {
        /usr/bin/python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
drop = set(sys.argv[2:])
print(sum(t["points"] for t in r["tests"]
          if t["suite"] + "::" + t["test"] not in drop))' "$rubric" "$@"
    }
    tests_total=$(points)
    timing_total=$(/usr/bin/python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["timing"]["points"])' "$rubric")
    max=$((tests_total + timing_total))
    subs=$here/submissions
    seed=$work/real-out-skeletons/build

    # make_case NAME: DIR $work/real/NAME with the case around the solution.
    make_case() {
        local d=$work/real/$1/ex01_comparison
        mkdir -p "$d"
        { cat "$subs/wrap-begin.c"
          echo '#line 1 "solutions/ex01_comparison/ex01.c"'
          cat "$real_root/solutions/ex01_comparison/ex01.c"
          cat "$subs/wrap-end.c"
          echo "#line 1 \"$1.c\""
          cat "$subs/$1.c"; } >"$d/ex01.c"
    }

    # rstart NAME SUBMISSION EXPECT ARGS...: grades exercise 1 of
    # SUBMISSION with the real root and --expect-score EXPECT; the exit
    # status goes to $work/NAME.rc. The build folder starts as a copy of
    # the skeletons' without what comes from the TODO file (src/, obj/todo/,
    # bin/), so only ex01.c is compiled again.
    rstart() {
        local name=$1 sub=$2 expect=$3 out=$work/real-out-$1 rc=0 start=$SECONDS
        shift 3
        if [ -d "$seed" ] && [ ! -e "$out" ]; then
            mkdir -p "$out"
            cp -a "$seed" "$out/build"
            rm -rf "$out/build/src" "$out/build/obj/todo" "$out/build/bin"
        fi
        # Coverage (an extra run of every test) only where it is checked.
        local cov=--no-coverage
        case $name in solutions|skeletons) cov= ;; esac
        "$grader" --root "$real_root" --submission "$sub" --out "$out" \
            --exercise ex01 --expect-score "$expect" ${cov:+"$cov"} "$@" \
            >"$work/$name.out" 2>"$work/$name.err" || rc=$?
        echo "$rc" >"$work/$name.rc"
        echo $((SECONDS - start)) >"$work/$name.time"
    }

    # rcheck NAME EXPECT: the run of NAME exited 0 with the score EXPECT.
    rcheck() {
        local rc
        rc=$(cat "$work/$1.rc")
        if [ "$rc" -eq 0 ]; then
            pass "$1: exit status 0 ($(cat "$work/$1.time") s)"
        else
            fail "$1: exit status $rc, expected 0"
            sed 's/^/    | /' "$work/$1.err" >&2
        fi
        has "$1" out "^Score: $2/$max$"
    }

    # rgrade NAME SUBMISSION EXPECT ARGS...: rstart, then rcheck.
    rgrade() {
        rstart "$@"
        rcheck "$1" "$3"
    }

    # Reasons shown for a rejected submission, and nothing of it ran.
    rejected() {
        has "$1" out '^  rejected by the static check \(nothing of your code was run\):$'
        has "$1" out '^  REJECTED  0/3  Sequential: one request in flight at a time$'
        has "$1" out "$2"
        if [ -e "$work/real-out-$1/ex01/list.log" ]; then
            fail "$1: the test binary ran although the submission was rejected"
        else
            pass "$1: nothing ran"
        fi
    }

    rgrade skeletons "$real_root/skeletons" 0 --no-timing
    has skeletons out '^  FAIL      0/3  Sequential: one request in flight at a time$'
    has skeletons out '^            hint: docs/en/ex01_comparison.md#'
    has skeletons out '^  COVERAGE +[0-9]+\.[0-9]% of the lines of your TODO files ran during the tests \([0-9]+ of [0-9]+\)$'

    # The slow ones in the background: a fork bomb spins until Criterion's
    # 20 s timeout; the half-passing one waits 30 s for 200 sequential URLs.
    for c in fork_bomb half_passing; do make_case $c; done
    bomb_expect=$(points ex01_sequential::one_request_at_a_time)
    half_expect=$(points ex01_concurrent::results_follow_url_order \
                         ex01_concurrent::all_requests_in_flight_at_once \
                         ex01_concurrent::two_hundred_urls_at_once)
    rstart fork_bomb "$work/real/fork_bomb" "$bomb_expect" \
        --no-timing --no-static-check &
    bg_pids+=($!)
    rstart half_passing "$work/real/half_passing" "$half_expect" --no-timing &
    bg_pids+=($!)
fi

# ======================================================================
# Part 1: fake exercises
# ======================================================================

# --------------------------------------------------------------- scoring
grade ex01 0 --exercise ex01 --expect-score 5
has ex01 out '^== ex01_pass: Everything passes ==$'
has ex01 out '^  OK        2/2  answer\(\) returns 42$'
has ex01 out '^  OK        3/3  answer\(\) is positive$'
has ex01 out '^  Exercise score: 5/5$'
has ex01 out '^Score: 5/5$'
has ex01 out '^!! INTEGRITY: grader/manifest.sha256 is missing'
lacks ex01 out $'\033'

# Each test runs alone: a rubric test the binary lacks is a rubric error.
grade ex02 2 --exercise ex02_mixed --expect-score 3
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
has ex02 out '^            missing from the test program$'
has ex02 out '^  rubric error: test ex02_mixed::not_written is in rubric.json but not in the test program$'
has ex02 err 'not_written is in rubric.json but not in the test program'
# timeout_s is 30 and the grandchild sleeps 1000 s: nothing may wait for it.
faster ex02 15
gc_pid=$(cat "$work/out-ex02/gc.pid" 2>/dev/null || echo 0)
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

# A hang costs only the test it happens in.
grade ex04 0 --exercise ex04 --expect-score 1
has ex04 out '^  TIMEOUT   0/2  Forever$'
has ex04 out '^            the test program did not finish within 2 s and was stopped \(its output: .*/ex04/ex04_hang.forever.log\)$'
has ex04 out '^  OK        1/1  Quick$'
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
has ex06 out '^  the test program listed no tests$'
has ex06 out '^  CRASH     0/1  Never run$'

grade ex07 0 --exercise ex07 --expect-score 0
has ex07 out '^  the test program was killed by signal 6 \(.*\) before any test ran$'
has ex07 out '^  CRASH     0/1  Never run$'

# A report left by an earlier run must not be read again.
mkdir -p "$work/out-stale/ex06"
cp "$work/out-ex01/ex01/ex01_basic.answer_is_42.json" \
    "$work/out-stale/ex06/ex06_noreport.never_run.json"
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

# A test the binary lists but its run does not report.
grade ex10 0 --exercise ex10 --expect-score 1
has ex10 out '^  OK        1/1  Present$'
has ex10 out '^  FAIL      0/1  Listed, never reported$'
has ex10 out '^            missing from the test report$'

# ---------------------------------------------------------------- groups
grade ex08 0 --exercise ex08 --expect-score 3
has ex08 out '^  FAIL      0/2  Advanced \(needs the basics\)$'
has ex08 out "^            not scored: needs every test of group 'basic' to pass first$"
has ex08 out '^  OK        1/1  Basic, passes$'
has ex08 out '^  FAIL      0/1  Basic, fails$'
has ex08 out '^  OK        1/1  Extra, passes$'
has ex08 out '^  OK        1/1  In no group, passes$'
if [ -e "$work/out-ex08/ex08/ex08.advanced.log" ]; then
    fail "ex08: a test whose group may not be scored was run"
else
    pass "ex08: a test whose group may not be scored was not run"
fi

# ---------------------------------------------------------------- timing
# The fake benchmark's time is 10 ms x cost(): 2.0 here, 1.0 in ref/.
grade ex09 0 --exercise ex09 --reference ref --expect-score 3
has ex09 out '^  OK        1/1  It works$'
has ex09 out '^  TIMING    2/4  Speed against the reference: yours 20.0 ms, reference 10.0 ms \(median of 3\), ratio 2.00: all 4 points need a ratio of at most 1.50$'
has ex09 out '^  Exercise score: 3/5$'
file_has "$work/out-ex09/results.json" '"submission_ms": 20\.0'
file_has "$work/out-ex09/summary.md" '^\| ex09 \| Speed against the reference: yours 20\.0 ms, reference 10\.0 ms \(median of 3\), ratio 2\.00: all 4 points need a ratio of at most 1\.50 \| TIMING \| 2/4 \|$'
grade ex09-noref 0 --exercise ex09 --expect-score 1
has ex09-noref out '^  TIMING    0/4  Speed against the reference: not measured: no reference to time against \(.*/solutions/ex09_timing does not exist; see --reference\)$'
grade ex09-off 0 --exercise ex09 --reference ref --no-timing --expect-score 1
has ex09-off out '^  TIMING    0/4  Speed against the reference: not measured \(--no-timing\)$'

# ------------------------------------------------------ all, report files
GITHUB_STEP_SUMMARY=$work/step-summary.md grade all 2 --reference ref --expect-score 18
has all out '^Score: 18/44$'
has all out '^Reports: .*/results.json .*/summary.md .*/junit.xml$'
json=$work/out-all/results.json
file_has "$json" '^  "score": 18,$'
file_has "$json" '^  "max_score": 44,$'
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
file_has "$work/out-all/summary.md" '^\*\*Score: 18/44\*\*$'
file_has "$work/step-summary.md" '^\*\*Score: 18/44\*\*$'
file_has "$work/out-all/junit.xml" '<testcase classname="ex02_mixed.ex02_mixed" name="A failing assertion">'
file_has "$work/out-all/junit.xml" '<failure type="FAIL" message="harness/ex02_mixed/test.c:[0-9]+: answer\(\) returned 41, expected &quot;42&quot;'
check_reports "$work/out-all"

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
grade badjobs 2 --jobs 0
grade ci-nostatic 2 --exercise ex01 --ci --no-static-check
has ci-nostatic err 'no-static-check is for maintainers'
grade nosub 2 --exercise ex01 --submission "$work/no-such-dir"

# A TODO file must be a regular file of the submission.
mkdir -p "$work/sub-link/ex01_pass"
ln -s "$root/sub/ex01_pass/answer.c" "$work/sub-link/ex01_pass/answer.c"
mkdir -p "$work/root-todo/harness"
cp -R "$root/harness/ex01_pass" "$root/Makefile" "$work/root-todo/" 2>/dev/null || true
mv "$work/root-todo/ex01_pass" "$work/root-todo/harness/"
sed -i 's/"title": "Everything passes",/"title": "Everything passes", "todo": ["answer.c"],/' \
    "$work/root-todo/harness/ex01_pass/rubric.json"
run_grader todo-link 0 "$work/root-todo" --submission "$work/sub-link" \
    --out "$work/out-todo-link" --expect-score 0
has todo-link out '^  .*/sub-link/ex01_pass/answer.c is a symbolic link: submit the file itself$'
rm -f "$work/sub-link/ex01_pass/answer.c"
run_grader todo-missing 0 "$work/root-todo" --submission "$work/sub-link" \
    --out "$work/out-todo-missing" --expect-score 0
has todo-missing out '^  missing file .*/sub-link/ex01_pass/answer.c: it is the file you edit in this exercise$'

# bad_rubric CASE REGEX JSON: a root whose only rubric is JSON must be
# rejected (exit status 2) with a message matching REGEX.
bad_rubric() {
    local name=rubric-$1
    mkdir -p "$work/$name/harness/ex01_pass"
    printf '%s\n' "$3" >"$work/$name/harness/ex01_pass/rubric.json"
    run_grader "$name" 2 "$root" --root "$work/$name" --submission "$root/sub" \
        --out "$work/out-$name"
    has "$name" err "$2"
}
ok_test='{ "suite": "s", "test": "t", "points": 1, "title": "T" }'
top='"exercise": "ex01_pass", "title": "X"'
bad_rubric unknown-key 'harness/ex01_pass/rubric.json: top level: unknown key "tets"' \
    "{ $top, \"tets\": [] }"
bad_rubric test-key 'rubric.json: tests\[0\]: unknown key "point"' \
    "{ $top, \"tests\": [ { \"suite\": \"s\", \"test\": \"t\", \"point\": 1, \"title\": \"T\" } ] }"
bad_rubric missing-points 'rubric.json: tests\[1\]: missing key "points"' \
    "{ $top, \"tests\": [ $ok_test, { \"suite\": \"s\", \"test\": \"u\", \"title\": \"U\" } ] }"
bad_rubric negative-points '"points" must be between 0 and [0-9]+, got -1' \
    "{ $top, \"tests\": [ { \"suite\": \"s\", \"test\": \"t\", \"points\": -1, \"title\": \"T\" } ] }"
bad_rubric real-points 'expected an integer for "points"' \
    "{ $top, \"tests\": [ { \"suite\": \"s\", \"test\": \"t\", \"points\": 1.5, \"title\": \"T\" } ] }"
bad_rubric missing-title 'top level: missing key "title"' \
    "{ \"exercise\": \"ex01_pass\", \"tests\": [ $ok_test ] }"
bad_rubric no-tests 'expected a non-empty array for "tests"' \
    "{ $top, \"tests\": [] }"
bad_rubric duplicate 'tests\[1\]: duplicate test "t"' \
    "{ $top, \"tests\": [ $ok_test, $ok_test ] }"
bad_rubric wrong-dir '"exercise" is "ex02_other" but the directory is "ex01_pass"' \
    "{ \"exercise\": \"ex02_other\", \"title\": \"X\", \"tests\": [ $ok_test ] }"
bad_rubric timeout '"timeout_s" must be between 1 and' \
    "{ $top, \"timeout_s\": 0, \"tests\": [ $ok_test ] }"
bad_rubric test-timeout 'tests\[0\]: "timeout_s" must be between 1 and' \
    "{ $top, \"tests\": [ { \"suite\": \"s\", \"test\": \"t\", \"points\": 1, \"title\": \"T\", \"timeout_s\": 0 } ] }"
bad_rubric memory '"memory_mb" must be between 64 and' \
    "{ $top, \"memory_mb\": 1, \"tests\": [ $ok_test ] }"
bad_rubric syntax 'rubric.json:[0-9]+:[0-9]+: .*expected' \
    '{ "exercise": "ex01_pass", '
bad_rubric todo-abs '"/etc/passwd" in "todo" is not a relative path' \
    "{ $top, \"todo\": [\"/etc/passwd\"], \"tests\": [ $ok_test ] }"
bad_rubric todo-dotdot '"../x.c" in "todo" is not a relative path' \
    "{ $top, \"todo\": [\"../x.c\"], \"tests\": [ $ok_test ] }"
bad_rubric symbols-star '"\*" in "allow" is not a symbol name or a prefix followed by' \
    "{ $top, \"symbols\": { \"exports\": [\"f\"], \"allow\": [\"*\"] }, \"tests\": [ $ok_test ] }"
bad_rubric symbols-mid-star '"ev\*x" in "allow" is not a symbol name' \
    "{ $top, \"symbols\": { \"exports\": [\"f\"], \"allow\": [\"ev*x\"] }, \"tests\": [ $ok_test ] }"
bad_rubric symbols-exports 'symbols: expected a non-empty array for "exports"' \
    "{ $top, \"symbols\": { \"exports\": [], \"allow\": [] }, \"tests\": [ $ok_test ] }"
bad_rubric symbols-key 'symbols: unknown key "alow"' \
    "{ $top, \"symbols\": { \"exports\": [\"f\"], \"alow\": [] }, \"tests\": [ $ok_test ] }"
bad_rubric group-unknown 'tests\[0\]: "group" names no group: "nope"' \
    "{ $top, \"tests\": [ { \"suite\": \"s\", \"test\": \"t\", \"points\": 1, \"title\": \"T\", \"group\": \"nope\" } ] }"
bad_rubric group-forward 'groups\[0\]: "requires" names no group listed before this one: "b"' \
    "{ $top, \"groups\": [ { \"name\": \"a\", \"title\": \"A\", \"requires\": [\"b\"] }, { \"name\": \"b\", \"title\": \"B\" } ], \"tests\": [ $ok_test ] }"
bad_rubric group-self 'groups\[0\]: "requires" names no group listed before this one: "a"' \
    "{ $top, \"groups\": [ { \"name\": \"a\", \"title\": \"A\", \"requires\": [\"a\"] } ], \"tests\": [ $ok_test ] }"
bad_rubric group-dup 'groups\[1\]: duplicate group "a"' \
    "{ $top, \"groups\": [ { \"name\": \"a\", \"title\": \"A\" }, { \"name\": \"a\", \"title\": \"B\" } ], \"tests\": [ $ok_test ] }"
timing_head='"title": "T", "bench": "bench-ex01", "points": 4'
bad_rubric band-first 'timing.bands\[0\]: the first band must give all the timing points: "points"' \
    "{ $top, \"tests\": [ $ok_test ], \"timing\": { $timing_head, \"bands\": [ { \"max_ratio\": 1.5, \"points\": 2 } ] } }"
bad_rubric band-order 'timing.bands\[1\]: must be larger than the previous band' \
    "{ $top, \"tests\": [ $ok_test ], \"timing\": { $timing_head, \"bands\": [ { \"max_ratio\": 2, \"points\": 4 }, { \"max_ratio\": 1.5, \"points\": 2 } ] } }"
bad_rubric band-points 'timing.bands\[1\]: "points" must be between 0 and 4, got 5' \
    "{ $top, \"tests\": [ $ok_test ], \"timing\": { $timing_head, \"bands\": [ { \"max_ratio\": 1, \"points\": 4 }, { \"max_ratio\": 2, \"points\": 5 } ] } }"
bad_rubric band-ratio 'timing.bands\[0\]: expected a positive number for "max_ratio"' \
    "{ $top, \"tests\": [ $ok_test ], \"timing\": { $timing_head, \"bands\": [ { \"max_ratio\": 0, \"points\": 4 } ] } }"
bad_rubric bench-name 'timing: expected letters, digits, .* in "bench"' \
    "{ $top, \"tests\": [ $ok_test ], \"timing\": { \"title\": \"T\", \"bench\": \"../x\", \"points\": 4, \"bands\": [ { \"max_ratio\": 1, \"points\": 4 } ] } }"
bad_rubric rounds 'timing: "rounds" must be between 1 and' \
    "{ $top, \"tests\": [ $ok_test ], \"timing\": { $timing_head, \"rounds\": 0, \"bands\": [ { \"max_ratio\": 1, \"points\": 4 } ] } }"

# Two exercises with one short id would share make targets and logs.
mkdir -p "$work/rubric-same-id/harness/ex01_a" "$work/rubric-same-id/harness/ex01_b"
for d in ex01_a ex01_b; do
    printf '{ "exercise": "%s", "title": "X", "tests": [ %s ] }\n' "$d" "$ok_test" \
        >"$work/rubric-same-id/harness/$d/rubric.json"
done
run_grader rubric-same-id 2 "$root" --root "$work/rubric-same-id" --submission "$root/sub"
has rubric-same-id err 'exercises ex01_a and ex01_b share the short id ex01'

# ------------------------------------------------------------- integrity
# The manifest of the fake root (a git working tree, nothing committed).
mkdir -p "$root/grader"
git -C "$root" init -q
run_grader manifest-write 0 "$root" --write-manifest
has manifest-write out '^wrote .*/grader/manifest.sha256$'
if (cd "$root" && sha256sum --quiet -c grader/manifest.sha256) &&
   grep -q '  harness/ex01_pass/test.c$' "$root/grader/manifest.sha256" &&
   grep -q '  Makefile$' "$root/grader/manifest.sha256" &&
   ! grep -q '  sub/' "$root/grader/manifest.sha256" &&
   LC_ALL=C sort -c -k2 "$root/grader/manifest.sha256" 2>/dev/null; then
    pass "manifest-write: sha256sum -c accepts it; sorted; sub/ left out"
else
    fail "manifest-write: unexpected manifest"
    cat "$root/grader/manifest.sha256" >&2
fi
run_grader manifest-fresh 0 "$root" --check-manifest
has manifest-fresh out 'is up to date$'

grade clean 0 --exercise ex01 --expect-score 5
lacks clean out 'INTEGRITY'

echo '/* edited */' >>"$root/harness/ex01_pass/test.c"
touch "$root/harness/ex01_pass/extra.c"
grade changed 0 --exercise ex01 --expect-score 5
has changed out '^!! INTEGRITY: 2 files outside your TODO files differ from the trusted manifest \(grader/manifest.sha256\):$'
has changed out '^!!   changed: harness/ex01_pass/test.c$'
has changed out '^!!   added: harness/ex01_pass/extra.c$'
if [ "$(grep -c '^!! INTEGRITY' "$work/changed.out")" -eq 2 ]; then
    pass "changed: the warning is at the top and at the bottom"
else
    fail "changed: the warning should appear twice"
fi
file_has "$work/out-changed/results.json" '"output": "INTEGRITY: 2 files'
file_has "$work/out-changed/summary.md" '^> \[!WARNING\]$'
grade changed-ci 1 --exercise ex01 --expect-score 5 --ci
has changed-ci out '^!! This is an error in CI mode \(exit status 1\)'
has changed-ci out '^Score: 5/5$'
has changed-ci err 'protected files differ from the manifest \(CI mode\)'
run_grader manifest-stale 1 "$root" --check-manifest
has manifest-stale out 'grader/manifest.sha256 is stale'
has manifest-stale out '^\+ [0-9a-f]{64}  harness/ex01_pass/test.c$'
has manifest-stale out '^\+ [0-9a-f]{64}  harness/ex01_pass/extra.c$'
rm "$root/harness/ex01_pass/extra.c"

# In CI the trusted copies are at --root and the pull request's checkout
# at --submission-root: its harness edits are reported, never used.
cp -R "$root" "$work/pr"
sed -i '$d' "$root/harness/ex01_pass/test.c" # undo the edit above
printf 'int answer(void);\nint answer(void) { return 41; }\n' >"$work/pr/sub/ex01_pass/answer.c"
sed -i 's/cr_assert_eq(answer(), 42)/cr_assert(1)/' "$work/pr/harness/ex01_pass/test.c"
grade pr 1 --exercise ex01 --ci --submission "$work/pr/sub" \
    --submission-root "$work/pr" --expect-score 3
has pr out '^!!   changed: harness/ex01_pass/test.c$'
lacks pr out '^!!   changed: Makefile$'
grade pr-local 0 --exercise ex01 --expect-score 5
lacks pr-local out 'INTEGRITY'

# ------------------------------------------------------------------ batch
batch=$work/batch
mkdir -p "$batch/alice" "$batch/bob" "$batch/carol, smith" "$batch/.hidden"
cp -R "$root/sub/ex01_pass" "$batch/alice/"
mkdir -p "$batch/bob/ex01_pass" "$batch/carol, smith/ex01_pass"
printf 'int answer(void);\nint answer(void) { return 41; }\n' >"$batch/bob/ex01_pass/answer.c"
printf 'int answer(void) { return }\n' >"$batch/carol, smith/ex01_pass/answer.c"
run_grader batch 0 "$root" --batch "$batch" --exercise ex01 --jobs 2 \
    --out "$work/out-batch"
has batch out '^Graded 3 submissions: .*/grades.csv$'
csv=$work/out-batch/grades.csv
if [ "$(cat "$csv")" = 'name,score,max_score,ex01,status
alice,5,5,5,ok
bob,3,5,3,ok
"carol, smith",0,5,0,ex01:ungradable' ]; then
    pass "batch: grades.csv"
else
    fail "batch: unexpected grades.csv"
    sed 's/^/    | /' "$csv" >&2
fi
file_has "$work/out-batch/bob/results.json" '"score": 3,'
file_has "$work/out-batch/carol, smith/summary.md" 'UNGRADABLE'

# ======================================================================
# Part 2 (continued): the real exercise 1
# ======================================================================
if [ "$real_cases" -eq 1 ]; then
    for c in compile_error calls_exit forks constructor global_helper \
             includes_other memory_hog output_flood early_exit; do
        make_case $c
    done
    rgrade compile_error "$work/real/compile_error" 0 --no-timing
    has compile_error out '^  does not compile: fix the errors below'
    has compile_error out '^  UNGRADABLE 0/3  Sequential: one request in flight at a time$'
    rgrade calls_exit "$work/real/calls_exit" 0 --no-timing
    rejected calls_exit '^    ex01.c: calls exit\(\), which exercise ex01 does not allow$'
    rgrade forks "$work/real/forks" 0 --no-timing
    rejected forks '^    ex01.c: calls fork\(\), which exercise ex01 does not allow$'
    rgrade constructor "$work/real/constructor" 0 --no-timing
    rejected constructor '^    ex01.c: has a constructor or destructor \(section \.init_array\)'
    rgrade global_helper "$work/real/global_helper" 0 --no-timing
    rejected global_helper '^    ex01.c: defines the global symbol count_call, which exercise ex01 does not export: make it static$'
    rgrade includes_other "$work/real/includes_other" 0 --no-timing
    rejected includes_other '^    ex01.c: includes .*skeletons/ex02_rate_limiter/ex02_http.h, which is not one of exercise ex01.s headers'
    if [ "$(uname -m)" = x86_64 ]; then
        make_case asm_syscall
        rgrade asm_syscall "$work/real/asm_syscall" 0 --no-timing
        rejected asm_syscall '^    ex01.c: makes a system call itself \(syscall in ex01_fetch_concurrent\)'
    fi

    # The dynamic defences, with the static check off (maintainers only).
    rgrade memory_hog "$work/real/memory_hog" \
        "$(points ex01_concurrent::http_status_is_reported)" \
        --no-timing --no-static-check
    has memory_hog out '^  CRASH     0/1  HTTP statuses \(201, 404, 503\) are reported$'
    has memory_hog out '^            the test crashed'
    rgrade output_flood "$work/real/output_flood" \
        "$(points ex01_concurrent::large_body_is_intact)" \
        --no-timing --no-static-check
    has output_flood out '^  FAIL      0/1  A 1 MiB body, plain and chunked, arrives intact$'
    has output_flood out '^            printed more than 64 KiB of output \(stopped after 16 MiB\)$'
    flood_log=$work/real-out-output_flood/ex01/ex01_concurrent.large_body_is_intact.log
    if [ "$(stat -c %s "$flood_log")" -lt 70000 ]; then
        pass "output_flood: the log keeps 64 KiB"
    else
        fail "output_flood: the log is larger than 64 KiB"
    fi
    rgrade early_exit "$work/real/early_exit" \
        "$(points ex01_sequential::elapsed_time_of_each_url)" \
        --no-timing --no-static-check
    has early_exit out '^  FAIL      0/2  Sequential: each result has its own elapsed time$'
    has early_exit out '^            passed without running any assertion \(did the code exit early\?\)$'

    for pid in "${bg_pids[@]}"; do
        wait "$pid" || true
    done
    bg_pids=()
    rcheck fork_bomb "$bomb_expect"
    rcheck half_passing "$half_expect"
    has fork_bomb out '^  TIMEOUT   0/3  Sequential: one request in flight at a time$'
    has fork_bomb out '^            the test did not finish in time'
    if pgrep -f "$work/real-out-fork_bomb/" >/dev/null; then
        fail "fork_bomb: processes of the run are still alive"
    else
        pass "fork_bomb: no process of the run is left"
    fi
    has half_passing out '^  FAIL      0/3  Concurrent: all requests in flight at once'
    has half_passing out '^  OK        2/2  Concurrent: each failure stays in its own result$'

    # With timing, alone on the machine: the solutions get every point; the
    # forger's fake lines change nothing and its real ratio scores 0.
    rgrade solutions "$real_root/solutions" "$max"
    has solutions out "^  TIMING    $timing_total/$timing_total  .*: yours [0-9.]+ ms, reference [0-9.]+ ms \\(median of [0-9]+\\), ratio [0-9]\\.[0-9]{2}$"
    has solutions out '^  COVERAGE +[0-9]+\.[0-9]% of the lines of your TODO files ran during the tests \([0-9]+ of [0-9]+\)$'
    check_reports "$work/real-out-solutions"
    make_case forged_output
    rgrade forged_output "$work/real/forged_output" "$tests_total"
    has forged_output out "^  TIMING    0/$timing_total  .*, ratio ([4-9]|[1-9][0-9])\\.[0-9]{2}: all $timing_total points"
    lacks forged_output out '^\[PASS\]|^\[====\]|^Score: 28/28|"metric"'
    check_reports "$work/real-out-forged_output"
fi

if [ "$real_cases" -eq 0 ]; then
    echo
    echo "NOTICE: $rubric lacks \"todo\", \"symbols\" or \"timing\":"
    echo "NOTICE: the real-exercise cases were NOT run."
fi

echo
if [ "$failures" -ne 0 ]; then
    echo "grader self-test: $failures check(s) failed" >&2
    exit 1
fi
echo "grader self-test: all checks passed"
