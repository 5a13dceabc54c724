#!/usr/bin/env bash
# timing-stability.sh - grades the reference as a submission N times per
# exercise (timing included, coverage and the memory check off) and prints the timing ratio and
# points of each run: identical code must get every timing point every time.
#
#   scripts/timing-stability.sh [N] [ex01 ex02 ...]    (N defaults to 20)
#
# Exits 1 when a run misses a timing point or a ratio leaves 0.85..1.15.
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-20}
shift || true
exercises=("$@")
[[ ${#exercises[@]} -gt 0 ]] || read -r -a exercises < <(make -s --no-print-directory print-exercises)
make -s --no-print-directory build/bin/grader trusted
out=build/timing-stability
rm -rf "$out"
bad=0
for e in "${exercises[@]}"; do
    ratios=()
    for i in $(seq "$n"); do
        build/bin/grader --root . --submission solutions --exercise "$e" --no-coverage --no-memcheck \
            --trusted-built --quiet --out "$out/$e-$i" >/dev/null 2>&1 || true
        read -r ratio points max < <(/usr/bin/python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
t = [t for t in r["tests"] if "timing" in t.get("tags", [])][0]
print(t.get("timing", {}).get("ratio", 0), t["score"], t["max_score"])' "$out/$e-$i/results.json")
        ratios+=("$ratio")
        if [[ $points != "$max" ]] || ! /usr/bin/python3 -c "import sys; sys.exit(0 if 0.85 <= $ratio <= 1.15 else 1)"; then
            bad=$((bad + 1))
            echo "$e run $i: ratio $ratio, $points/$max points" >&2
        fi
    done
    printf '%s: %s\n' "$e" "${ratios[*]}"
done
[[ $bad -eq 0 ]] || { echo "timing-stability: $bad run(s) off" >&2; exit 1; }
echo "timing-stability: every run got every timing point, ratios within 0.85..1.15"
