#!/usr/bin/env bash
# fuzz.sh - fuzzes the frame decoder of exercise 4 (the reference ws.c)
# with libFuzzer, ASan and UBSan, for a bounded time.
#
#   harness/ex04_websocket/fuzz.sh [SECONDS]     (default 60)
#
# Needs clang and its libFuzzer runtime (Debian: clang, libclang-rt-14-dev).
# The seed corpus in harness/ex04_websocket/fuzz-corpus/ is read, never
# written: new inputs go to build/fuzz/ex04-corpus/.  A crash leaves its
# input in build/fuzz/ex04-crash-* and makes the script fail.
set -euo pipefail
cd "$(dirname "$0")/../.."

secs=${1:-60}
[[ $secs =~ ^[0-9]+$ && $secs -ge 1 ]] || { echo "usage: $0 [SECONDS]" >&2; exit 2; }
CLANG=${CLANG:-clang}
command -v "$CLANG" >/dev/null || { echo "fuzz: $CLANG not found" >&2; exit 1; }

out=build/fuzz
mkdir -p "$out/ex04-corpus"
bin=$out/fuzz-ex04-frames
"$CLANG" -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Iskeletons/ex04_websocket $(pkg-config --cflags libevent libcrypto) \
    harness/ex04_websocket/fuzz_frames.c solutions/ex04_websocket/ws.c \
    skeletons/ex04_websocket/ws_util.c \
    -o "$bin" $(pkg-config --libs libevent libcrypto)

log=$out/fuzz-ex04.log
set +e
timeout $((secs + 60)) "$bin" -max_total_time="$secs" -max_len=4096 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$out/ex04-crash-" \
    "$out/ex04-corpus" harness/ex04_websocket/fuzz-corpus 2>&1 | tee "$log" | grep -E '^(#[0-9]+ +DONE|==|SUMMARY|fuzz_frames)'
rc=${PIPESTATUS[0]}
set -e
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
echo "fuzz: ${runs:-?} executions in ${secs} s (exit status $rc; full log: $log)"
exit "$rc"
