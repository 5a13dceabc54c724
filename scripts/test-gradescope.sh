#!/usr/bin/env bash
# test-gradescope.sh - `make check`'s proof of the Gradescope package: it
# does what Gradescope does, in a temporary folder that stands for
# /autograder (AUTOGRADER_ROOT): unpacks build/gradescope/autograder.zip
# into source/, copies run_autograder to the top, runs source/setup.sh,
# then run_autograder on three submissions, and checks results/results.json:
#   - the reference's TODO files (a whole repository): full marks;
#   - the pristine skeletons (just the TODO files): 0;
#   - exercise 1 solved, with an edited test and rubric beside it: scored
#     with the trusted copies (the edits change nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test-gradescope: FAIL: $*" >&2; exit 1; }

make -s --no-print-directory gradescope
mkdir -p "$tmp/ag/source"
(cd "$tmp/ag/source" && unzip -q "$top/build/gradescope/autograder.zip")
[[ -x $tmp/ag/source/run_autograder && -x $tmp/ag/source/setup.sh ]] || fail "the zip lacks setup.sh or run_autograder at its top"
cp "$tmp/ag/source/run_autograder" "$tmp/ag/run_autograder"
[[ -d $tmp/ag/source/workbook && ! -e $tmp/ag/source/workbook/solutions ]] ||
    fail "the zip should hold workbook/, without solution sources"
(cd "$tmp/ag/source" && AUTOGRADER_ROOT=$tmp/ag bash ./setup.sh) >"$tmp/setup.log" 2>&1 ||
    { cat "$tmp/setup.log"; fail "setup.sh failed"; }

full=$(/usr/bin/python3 -c 'import json, glob
print(sum(sum(t["points"] for t in r["tests"]) + r.get("timing", {}).get("points", 0)
                + r.get("memcheck", {}).get("points", 0)
          for r in (json.load(open(f)) for f in glob.glob("harness/*/rubric.json"))))')

# run CASE [GRADER_ARGS]: grades $tmp/ag/submission, prints the score.
run() {
    rm -rf "$tmp/ag/results"
    AUTOGRADER_ROOT=$tmp/ag GRADER_ARGS=${2:-} "$tmp/ag/run_autograder" >"$tmp/$1.log" 2>&1 ||
        { cat "$tmp/$1.log"; fail "$1: run_autograder failed"; }
    /usr/bin/python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
assert isinstance(r["tests"], list) and r["tests"], "no tests"
print(r["score"])' "$tmp/ag/results/results.json" || fail "$1: no valid results.json"
}

# 1. The reference, as a whole repository.
rm -rf "$tmp/ag/submission"
mkdir -p "$tmp/ag/submission/skeletons"
cp -r solutions/* "$tmp/ag/submission/skeletons/"
got=$(run reference)
[[ $got == "$full" ]] || { cat "$tmp/reference.log"; fail "the reference scored $got, expected $full"; }
head -c 400 "$tmp/ag/results/results.json" > "$top/build/check/gradescope-results-head.json" 2>/dev/null || true

# 2. The pristine skeletons, as bare TODO files.
rm -rf "$tmp/ag/submission"
mkdir -p "$tmp/ag/submission"
for d in skeletons/*/; do
    for f in $(make -s --no-print-directory print-todo EXERCISE="$(basename "$d" | cut -d_ -f1)"); do
        [[ -f $d$f ]] && cp "$d$f" "$tmp/ag/submission/$f"
    done
done
got=$(run skeletons)
[[ $got == 0 ]] || { cat "$tmp/skeletons.log"; fail "the skeletons scored $got, expected 0"; }

# 3. Exercise 1 solved, its test and rubric edited beside it.
rm -rf "$tmp/ag/submission"
mkdir -p "$tmp/ag/submission/skeletons/ex01_comparison" "$tmp/ag/submission/harness/ex01_comparison"
cp solutions/ex01_comparison/ex01.c "$tmp/ag/submission/skeletons/ex01_comparison/"
printf 'Test(ex01_args, always_passes) { cr_assert(1); }\n' > "$tmp/ag/submission/harness/ex01_comparison/test_ex01.c"
sed 's/"points": 3,/"points": 30,/' harness/ex01_comparison/rubric.json > "$tmp/ag/submission/harness/ex01_comparison/rubric.json"
want=$(/usr/bin/python3 -c 'import json
r = json.load(open("harness/ex01_comparison/rubric.json"))
print(sum(t["points"] for t in r["tests"]) + r.get("memcheck", {}).get("points", 0))')
got=$(run tampered "--exercise ex01 --no-timing")
[[ $got == "$want" ]] || { cat "$tmp/tampered.log"; fail "the tampered submission scored $got, expected $want (the trusted rubric's)"; }

echo "test-gradescope: ok (reference $full/$full, skeletons 0, tampered ex01 $want: graded with the trusted tests)"
