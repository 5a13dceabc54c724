#!/usr/bin/env bash
# check.sh - the workbook's own tests; `make check` runs this (and CI runs
# `make check`).  Each step prints its name and how long it took; the first
# failure stops the run with a non-zero status.  The steps:
#
#   1. everything builds: tools, judges, the reference (-Werror), the
#      pristine skeletons (without a warning);
#   2. the programs work (delay-server, ex01 and its argument errors), and
#      each exercise's own extra checks (harness/*/check.sh: real clients,
#      real signals);
#   3. the chat page in headless Chromium;
#   4. the integrity manifest is current; the workflows pass actionlint; a
#      simulated pull request is graded from trusted files only; a handout
#      grades from its README alone; the Gradescope package grades;
#   5. the grader's self-test (fake and hostile submissions, exact scores);
#   6. the pristine skeletons score 0, the solutions full marks (timing
#      included), and the tests run at least COVERAGE_MIN % of each
#      reference TODO file's lines;
#   7. a quick run of the mutants (the reference broken one way at a time:
#      each must lose points; `make mutants` runs them all).
# make test-ref and make memcheck (the judges against the plain and the
# sanitized reference, outside the grader) are left out: step 6's full marks
# need every test to pass and the memory check to find nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

MAKE=${MAKE:-make}
out=build/check
mkdir -p "$out"
t_start=$(date +%s%N)
passed=0
total=0

step() {
    local name=$1; shift
    local t0
    t0=$(date +%s%N)
    total=$((total + 1))
    echo "== check: $name"
    if ! "$@"; then
        echo "== check: FAILED: $name" >&2
        echo "check: $passed passed, 1 failed"
        exit 1
    fi
    echo "== check: ok ($(( ($(date +%s%N) - t0) / 1000000 )) ms): $name"
    passed=$((passed + 1))
    echo
}

build_all() {
    $MAKE -s --no-print-directory all ref-all trusted 2>&1 | tee "$out/build.log"
    [[ ${PIPESTATUS[0]} -eq 0 ]] || return 1
    if grep -q 'warning:' "$out/build.log"; then
        echo "the pristine skeletons must compile without warnings (see above)" >&2
        return 1
    fi
}

programs_work() {
    local log=$out/delay-server.log port pid ok=0 a st
    build/bin/delay-server --port 0 >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 50); do
        port=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\).*|\1|p' "$log" | head -n1)
        [[ -n $port ]] && break
        sleep 0.1
    done
    if [[ -n ${port:-} ]] &&
       build/ref/bin/ex01 --timeout 2000 "http://127.0.0.1:$port/delay?ms=100" \
           "http://127.0.0.1:$port/status?code=404" >"$out/ex01-cli.log" 2>&1 &&
       grep -q 'speed-up' "$out/ex01-cli.log" && grep -q ' 404 ' "$out/ex01-cli.log"; then
        ok=1
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    grep -q 'stopped: 4 requests' "$log" || { echo "delay-server did not log 4 requests:"; cat "$log"; ok=0; }
    [[ $ok -eq 1 ]] || { echo "ex01 against delay-server failed:"; cat "$out/ex01-cli.log"; return 1; }
    build/ref/bin/ex01 --demo 10 200 | tee "$out/ex01-demo.log"
    grep -q 'at most 10 requests in flight' "$out/ex01-demo.log" || return 1
    # Bad arguments: a message and exit status 2.
    for a in "--demo abc" "--demo 0" "--demo -3" "notaurl" "ftp://x/" "--timeout x http://h/"; do
        set +e
        # shellcheck disable=SC2086  # several words on purpose
        build/ref/bin/ex01 $a >"$out/ex01-args.log" 2>&1
        st=$?
        set -e
        if [[ $st -ne 2 || ! -s $out/ex01-args.log ]]; then
            echo "ex01 $a should print a message and exit 2, got status $st:"; cat "$out/ex01-args.log"
            return 1
        fi
    done
}

# Full marks: every criterion's points.
max_score() {
    /usr/bin/python3 -c 'import json, glob
total = 0
for f in glob.glob("harness/*/rubric.json"):
    r = json.load(open(f))
    total += sum(t["points"] for t in r["tests"]) + r.get("timing", {}).get("points", 0)
    total += r.get("memcheck", {}).get("points", 0)
print(total)'
}

grade_expect() {
    local submission=$1 expect=$2 dir=$3
    shift 3
    build/bin/grader --root . --submission "$submission" --out "$out/$dir" \
        --trusted-built --expect-score "$expect" "$@"
}

step "build (tools, judges, reference, pristine skeletons)" build_all
step "programs: delay-server, ex01 and its argument errors" programs_work
# Exercises may add checks of their own (interoperability with real clients...).
for extra in harness/*/check.sh; do
    [[ -f $extra ]] || continue
    step "$(basename "$(dirname "$extra")"): extra checks ($extra)" bash "$extra"
done
step "the chat page in headless Chromium (make test-browser)" scripts/test-browser.sh
step "integrity manifest is up to date (make manifest)" build/bin/grader --root . --check-manifest
step "workflows pass actionlint" scripts/lint-workflows.sh
step "pull-request grading: tampering changes nothing and is reported" scripts/test-autograde.sh
step "handout: a student repository grades from its README alone" scripts/test-handout.sh
step "Gradescope: the autograder package grades from a stand-in /autograder" scripts/test-gradescope.sh
step "grader self-test" grader/tests/run-selftest.sh "$PWD/build/bin/grader"
step "grader: pristine skeletons score 0" grade_expect skeletons 0 grade-skeletons --no-coverage
full=$(max_score)
step "grader: solutions score $full/$full" grade_expect solutions "$full" grade-solutions

# The tests must keep running most of the reference: measured 84-94 % of the
# lines of each exercise's TODO files (make coverage shows which lines; the
# rest is mostly out-of-memory paths).
COVERAGE_MIN=${COVERAGE_MIN:-80}
coverage_ok() {
    /usr/bin/python3 - "$out/grade-solutions/results.json" "$COVERAGE_MIN" <<'PY'
import json, sys
results, minimum = json.load(open(sys.argv[1])), float(sys.argv[2])
bad = 0
for e in results["exercises"]:
    c = e.get("line_coverage", {})
    if not c.get("measured"):
        print(f"{e['id']}: coverage not measured: {c.get('reason')}"); bad = 1; continue
    print(f"{e['id']}: {c['percent']:.1f}% of the reference's TODO lines run by the tests ({c['covered']} of {c['total']})")
    if c["percent"] < minimum:
        print(f"{e['id']}: below the {minimum:.0f}% minimum: add tests, or see make coverage"); bad = 1
sys.exit(bad)
PY
}
step "coverage: the tests run at least $COVERAGE_MIN% of each reference TODO file's lines" coverage_ok
step "mutants (quick: the first ${MUTANTS_QUICK:=4} of each exercise; make mutants runs all)" \
    /usr/bin/python3 scripts/mutants.py --quick "$MUTANTS_QUICK"

echo "check: $passed passed, 0 failed"
echo "== check: all $total steps passed in $(( ($(date +%s%N) - t_start) / 1000000000 )) s"
