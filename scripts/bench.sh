#!/usr/bin/env bash
# bench.sh - `make bench`: the reference solutions side by side with the
# Python originals (and Node's ws), one table per exercise.
#
# Runs every harness/peers/exNN/run.sh (see docs/en/benchmarks.md for what each
# measures and for the JSON line each prints), checks their lines, prints the
# tables and writes build/bench/results.json and build/bench/results.md.  A
# missing, failing or timed-out run.sh does not stop the others; it is
# reported, and the exit status is then 1.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

export LC_ALL=C   # a "." in $EPOCHREALTIME and in the numbers
OUT=build/bench
PY=/usr/bin/python3
RUN_LIMIT=${BENCH_RUN_LIMIT:-120}   # seconds for one run.sh (each aims at 75)
start=$EPOCHREALTIME
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

scripts/ensure-deps.sh --bench || exit 1
mkdir -p "$OUT"
status=$OUT/status.tsv
: >"$status"

# The workbook's exercises, and any other peers folder.
exercises=$(make -s print-exercises 2>/dev/null)
for d in harness/peers/ex*/; do
    [[ -d $d ]] && exercises+=" $(basename "$d")"
done
exercises=$(tr ' ' '\n' <<<"$exercises" | sed '/^$/d' | sort -u)

failed=0
for e in $exercises; do
    run=harness/peers/$e/run.sh
    rm -f "$OUT/$e.jsonl"
    if [[ ! -f $run ]]; then
        echo "bench: $e: no $run" >&2
        printf '%s\tmissing run.sh\t-1\t0\n' "$e" >>"$status"
        failed=1
        continue
    fi
    echo "bench: $e: $run" >&2
    t0=$EPOCHREALTIME
    # stdout (the JSON lines) to a file; stderr (progress) to the terminal,
    # prefixed, and to a log.  timeout signals the whole process group, so the
    # servers a run.sh started go too.
    { BENCH_OUT=$OUT timeout -k 10 "$RUN_LIMIT" bash "$run" 2>&1 >"$OUT/$e.jsonl"; } \
        | tee "$OUT/$e.log" | sed -u "s/^/  [$e] /" >&2
    rc=${PIPESTATUS[0]}
    secs=$(since "$t0")
    case $rc in
        0) state=ok ;;
        124|137) state="timed out after ${RUN_LIMIT} s" ;;
        *) state="failed, exit $rc" ;;
    esac
    [[ $rc -eq 0 ]] || { echo "bench: $e: $state (log: $OUT/$e.log)" >&2; failed=1; }
    printf '%s\t%s\t%s\t%.1f\n' "$e" "$state" "$rc" "$secs" >>"$status"
done

elapsed=$(since "$start")
echo >&2
if ! $PY scripts/bench_report.py report --out "$OUT" --status "$status" --elapsed "$elapsed"; then
    echo "bench: some run.sh printed invalid lines (listed above)" >&2
    failed=1
fi
echo "tables: $OUT/results.md, $OUT/results.json"
if awk -v s="$elapsed" 'BEGIN { exit !(s > 300) }'; then
    echo "bench: took more than five minutes" >&2
fi
not_ok=$(awk -F'\t' '$2 != "ok" { printf "%s%s: %s", sep, $1, $2; sep = "; " }' "$status")
[[ -z $not_ok ]] || echo "bench: FAILED: $not_ok" >&2
exit "$failed"
