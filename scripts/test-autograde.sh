#!/usr/bin/env bash
# test-autograde.sh - `make check`'s simulation of pull-request grading.
#
# Builds a temporary git repository from this workbook (the base commit),
# then a "pull request" commit that fills exercise 1's TODO file with a
# correct solution AND tampers with exercise 1's test and rubric.  It checks,
# through scripts/autograde.sh (the workflow's logic), that:
#   - the base's pristine TODO file scores 0, and the check passes;
#   - the pull request scores exactly what the correct TODO file earns under
#     the trusted rubric (the tampering changes nothing), and the tampered
#     files are named in the report, which makes the check fail;
#   - --min-score turns a low score into a failed check.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test-autograde: FAIL: $*" >&2; exit 1; }

# The base repository: the workbook's files as they are now (tracked and
# untracked, not ignored), without the built tree.
mkdir "$tmp/base"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$tmp/base"
git -C "$tmp/base" init -q
git -C "$tmp/base" add -A
git -C "$tmp/base" -c user.name=ci -c user.email=ci@example.invalid commit -qm base
git clone -q "$tmp/base" "$tmp/pr"

# The pull request: a correct TODO file, a test made to pass, points inflated.
cp solutions/ex01_comparison/ex01.c "$tmp/pr/skeletons/ex01_comparison/ex01.c"
printf '\nTest(ex01_args, always_passes) { cr_assert(1); }\n' \
    >> "$tmp/pr/harness/ex01_comparison/test_ex01.c"
sed -i 's/"points": 3,/"points": 30,/' "$tmp/pr/harness/ex01_comparison/rubric.json"
git -C "$tmp/pr" -c user.name=student -c user.email=s@example.invalid commit -qam "my work"

# With --no-timing the timing points count in the maximum but are not earned.
read -r expected max < <(/usr/bin/python3 -c 'import json
r = json.load(open("harness/ex01_comparison/rubric.json"))
earned = sum(t["points"] for t in r["tests"]) + r.get("memcheck", {}).get("points", 0)
print(earned, earned + r.get("timing", {}).get("points", 0))')

# Pristine base: 0 points, the check passes.
scripts/autograde.sh "$tmp/base" "$tmp/base" "$tmp/out-base" --exercise ex01 --no-timing \
    --expect-score 0 >"$tmp/base.log" 2>&1 || { cat "$tmp/base.log"; fail "the pristine base should score 0 and pass"; }

# The pull request: full marks from the trusted rubric, tampering reported, check fails.
set +e
scripts/autograde.sh "$tmp/base" "$tmp/pr" "$tmp/out-pr" --exercise ex01 --no-timing \
    >"$tmp/pr.log" 2>&1
status=$?
set -e
cat "$tmp/pr.log"
[[ $status -eq 1 ]] || fail "a tampered pull request should fail the check (exit 1), got $status"
grep -q "^Score: $expected/$max\$" "$tmp/pr.log" ||
    fail "expected Score: $expected/$max (the trusted rubric's points), see above"
for f in harness/ex01_comparison/test_ex01.c harness/ex01_comparison/rubric.json; do
    grep -q "$f" "$tmp/pr.log" || fail "the report does not name the tampered file $f"
done
grep -q "$f" "$tmp/out-pr/results.json" || fail "results.json does not name the tampered files"

# --min-score: the pristine base is below 10 points.
if scripts/autograde.sh "$tmp/base" "$tmp/base" "$tmp/out-min" --exercise ex01 --no-timing \
       --min-score 10 >"$tmp/min.log" 2>&1; then
    fail "--min-score 10 should fail a score of 0"
fi
echo "test-autograde: ok (pristine 0 and passing; pull request $expected/$max from the" \
     "trusted rubric, tampering reported and failing; --min-score enforced)"
