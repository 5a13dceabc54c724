#!/usr/bin/env bash
# watch.sh - `make watch EX=ex01`: reruns an exercise's tests each time one
# of its TODO files is saved, and prints one status line and the first
# failure (as rustlings does).  Ctrl-C stops it.
#
#   scripts/watch.sh EX [SUBMISSION]
set -uo pipefail
cd "$(dirname "$0")/.."

ex=${1:-}
sub=${2:-skeletons}
if [[ -z $ex ]]; then
    echo "usage: make watch EX=ex01" >&2
    exit 2
fi
dir=$(make -s --no-print-directory print-dir EXERCISE="$ex")
todo=$(make -s --no-print-directory print-todo EXERCISE="$ex")
if [[ -z $dir ]]; then
    echo "make watch: unknown exercise '$ex' (known: $(make -s --no-print-directory print-exercises))" >&2
    exit 2
fi
command -v inotifywait >/dev/null || { echo "make watch needs inotifywait (Debian: inotify-tools)" >&2; exit 2; }
files=()
for f in $todo; do files+=("$sub/$dir/$f"); done
summary=build/watch-$ex.json

run_once() {
    local log=build/watch-$ex.log
    rm -f "$summary"
    if ! make -s --no-print-directory SUBMISSION="$sub" "build/bin/test-$ex" \
         $(make -s --no-print-directory print-progs EXERCISE="$ex" | sed 's|^|build/bin/|; s| | build/bin/|g') \
         >"$log" 2>&1; then
        echo "$(date +%H:%M:%S)  $ex: does not compile:"
        grep -m 5 -E 'error|Error' "$log" | sed 's/^/    /'
        return
    fi
    RUN_TESTS_SUMMARY=$summary scripts/run-tests.sh "$ex" build/bin "" >"$log" 2>&1
    /usr/bin/python3 - "$summary" "$ex" <<'PY'
import json, sys, time
path, ex = sys.argv[1], sys.argv[2]
try:
    r = json.load(open(path))
except Exception:
    print(time.strftime("%H:%M:%S"), f" {ex}: the tests did not report (see build/watch-{ex}.log)")
    sys.exit(0)
tests = [t for s in r.get("test_suites", []) for t in s.get("tests", [])
         if t.get("status") != "SKIPPED"]
suites = {id(t): s["name"] for s in r.get("test_suites", []) for t in s.get("tests", [])}
ok = [t for t in tests if t["status"] == "PASSED" and t.get("assertions", 0) > 0]
print(time.strftime("%H:%M:%S"), f" {ex}: {len(ok)}/{len(tests)} tests pass")
for t in tests:
    if t in ok:
        continue
    msg = " ".join(m.strip() for m in t.get("messages", []))[:400] or t["status"]
    print(f"    first failure: {suites[id(t)]}::{t['name']}: {msg}")
    print(f"    rerun it alone: make {ex} TEST={suites[id(t)]}::{t['name']}")
    break
PY
}

echo "make watch: testing $ex each time you save ${files[*]} (Ctrl-C to stop)"
run_once
while inotifywait -qq -e close_write,moved_to,create "$sub/$dir"; do
    sleep 0.2   # editors write in several steps
    run_once
done
