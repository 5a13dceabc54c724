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

run_once() {
    local log=build/watch-$ex.log
    if ! make -s --no-print-directory SUBMISSION="$sub" "build/bin/test-$ex" \
         $(make -s --no-print-directory print-progs EXERCISE="$ex" | sed 's|^|build/bin/|; s| | build/bin/|g') \
         >"$log" 2>&1; then
        echo "$(date +%H:%M:%S)  $ex: does not compile:"
        grep -m 5 -E 'error|Error' "$log" | sed 's/^/    /'
        return
    fi
    scripts/run-tests.sh "$ex" build/bin "" >"$log" 2>&1
    # Criterion's own output: its JSON report does not escape quotes in
    # messages, the console lines are safe to read.
    /usr/bin/python3 - "$log" "$ex" <<'PY'
import re, sys, time
log, ex = sys.argv[1], sys.argv[2]
lines = open(log, errors="replace").read().splitlines()
synth = [l for l in lines if "Synthesis: Tested:" in l]
if not synth:
    print(time.strftime("%H:%M:%S"), f" {ex}: the tests did not report (see {log})")
    sys.exit(0)
m = re.search(r"Tested: (\d+) \| Passing: (\d+)", synth[-1])
print(time.strftime("%H:%M:%S"), f" {ex}: {m.group(2)}/{m.group(1)} tests pass")
msg = []
for l in lines:
    if l.startswith("[----]"):
        text = l[6:].strip()
        if text and not text.startswith("rerun it alone") and "Assertion Failed" not in text:
            msg.append(text)
    elif l.startswith("[FAIL]"):
        name = l[6:].strip().split(":")[0] + "::" + l[6:].strip().split("::")[1].split(":")[0]
        print(f"    first failure: {name}: {' '.join(msg)[:400]}")
        print(f"    rerun it alone: make {ex} TEST={name}")
        break
    else:
        msg = []
PY
}

echo "make watch: testing $ex each time you save ${files[*]} (Ctrl-C to stop)"
run_once
while inotifywait -qq -e close_write,moved_to,create "$sub/$dir"; do
    sleep 0.2   # editors write in several steps
    run_once
done
