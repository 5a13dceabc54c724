#!/usr/bin/env bash
# test-handout.sh - `make check`'s proof that a handout is whole: builds one,
# copies it elsewhere as a fresh student repository, and checks there, from
# its README's command alone, that the pristine skeletons score 0 with no
# integrity warning, that it holds no solution source, and that a correct
# exercise 1 earns full marks, timing included (against the prebuilt
# reference objects).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test-handout: FAIL: $*" >&2; exit 1; }

make -s --no-print-directory handout
cp -r build/handout "$tmp/repo"
cd "$tmp/repo"
git init -q && git add -A
git -c user.name=instructor -c user.email=i@example.invalid commit -qm handout

[[ ! -e solutions ]] || fail "the handout has a solutions/ folder"
if grep -rqs "reference solution" --include='*.c' skeletons; then
    fail "a skeleton file calls itself a reference solution"
fi
max=$(/usr/bin/python3 -c 'import json, glob
print(sum(sum(t["points"] for t in r["tests"]) + r.get("timing", {}).get("points", 0)
          + r.get("memcheck", {}).get("points", 0)
          for r in (json.load(open(f)) for f in glob.glob("harness/*/rubric.json"))))')
make grade >"$tmp/grade.log" 2>&1 || { cat "$tmp/grade.log"; fail "make grade failed"; }
grep -q "^Score: 0/$max\$" "$tmp/grade.log" || { cat "$tmp/grade.log"; fail "expected Score: 0/$max"; }
! grep -q "INTEGRITY" "$tmp/grade.log" || { cat "$tmp/grade.log"; fail "integrity warning in a pristine handout"; }

mkdir -p "$tmp/sub"
cp -r "$top/solutions/ex01_comparison" "$tmp/sub/"
make grade EX=ex01 SUBMISSION="$tmp/sub" >"$tmp/sol.log" 2>&1 || { cat "$tmp/sol.log"; fail "make grade EX=ex01 failed"; }
full=$(/usr/bin/python3 -c 'import json
r = json.load(open("harness/ex01_comparison/rubric.json"))
print(sum(t["points"] for t in r["tests"]) + r.get("timing", {}).get("points", 0)
      + r.get("memcheck", {}).get("points", 0))')
grep -q "^Score: $full/$full\$" "$tmp/sol.log" || { cat "$tmp/sol.log"; fail "a correct ex01 should score $full/$full"; }
grep "TIMING" "$tmp/sol.log"
echo "test-handout: ok (pristine 0/$max, no solution sources, a correct ex01 $full/$full with timing)"
