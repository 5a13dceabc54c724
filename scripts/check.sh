#!/usr/bin/env bash
# check.sh - the workbook's own tests; `make check` runs this (and CI runs
# `make check`).  Each step prints its name and how long it took; the first
# failure stops the run with a non-zero status.
#
#  1. everything builds: tools, the reference (-Werror), the pristine
#     skeletons (and they compile without a warning);
#  2. the harness passes against the reference solutions;
#  3. the same under ASan + UBSan with leak checks (make memcheck);
#  4. the programs work (delay-server, ex01 --demo), and each exercise's
#     own extra checks (harness/*/check.sh, run from the top folder);
#  5. the integrity manifest is current; the workflows pass actionlint; a
#     simulated pull request is graded from trusted files only;
#     the grader's self-test (fake and broken submissions, exact scores);
#  6. the grader gives the pristine skeletons 0 and the solutions full marks.
set -euo pipefail
cd "$(dirname "$0")/.."

MAKE=${MAKE:-make}
out=build/check
mkdir -p "$out"
t_start=$(date +%s%N)
passed=0

step() {
    local name=$1; shift
    local t0
    t0=$(date +%s%N)
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
    $MAKE -s --no-print-directory all ref-all 2>&1 | tee "$out/build.log"
    [[ ${PIPESTATUS[0]} -eq 0 ]] || return 1
    if grep -q 'warning:' "$out/build.log"; then
        echo "the pristine skeletons must compile without warnings (see above)" >&2
        return 1
    fi
}

programs_work() {
    local log=$out/delay-server.log port pid ok=0
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
    grep -q 'at most 10 requests in flight' "$out/ex01-demo.log"
}

# Full marks: every test's points plus each exercise's timing points.
max_score() {
    /usr/bin/python3 -c 'import json, glob
total = 0
for f in glob.glob("harness/*/rubric.json"):
    r = json.load(open(f))
    total += sum(t["points"] for t in r["tests"]) + r.get("timing", {}).get("points", 0)
print(total)'
}

grade_expect() {
    local submission=$1 expect=$2 dir=$3
    build/bin/grader --root . --submission "$submission" --out "$out/$dir" \
        --expect-score "$expect"
}

step "build (tools, reference, pristine skeletons)" build_all
step "harness against the reference solutions" $MAKE -s --no-print-directory test-ref
step "memcheck: reference under ASan + UBSan, leaks fail" $MAKE -s --no-print-directory memcheck
step "programs: delay-server, ex01 CLI" programs_work
# Exercises may add checks of their own (interoperability with real clients...).
for extra in harness/*/check.sh; do
    [[ -f $extra ]] || continue
    step "$(basename "$(dirname "$extra")"): extra checks ($extra)" bash "$extra"
done
step "integrity manifest is up to date (make manifest)" build/bin/grader --root . --check-manifest
step "workflows pass actionlint" scripts/lint-workflows.sh
step "pull-request grading: tampering changes nothing and is reported" scripts/test-autograde.sh
step "handout: a student repository grades from its README alone" scripts/test-handout.sh
step "grader self-test" grader/tests/run-selftest.sh "$PWD/build/bin/grader"
step "grader: pristine skeletons score 0" grade_expect skeletons 0 grade-skeletons
full=$(max_score)
step "grader: solutions score $full/$full" grade_expect solutions "$full" grade-solutions

# The tests must keep running most of the reference: measured 84-93 % of the
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

echo "check: $passed passed, 0 failed"
echo "== check: all passed in $(( ($(date +%s%N) - t_start) / 1000000000 )) s"
