#!/usr/bin/env bash
# Self-test of the grader, in two parts that run side by side.
#
#  1. Fake exercises (fixtures/): a fake workbook made in a temporary folder
#     from the real Makefile and harness/common/, and ten fake exercises,
#     each with a fake judge (harness/exNN_*/test.c, on harness/common/
#     judge.h and harness/fake/fake_judge.h), a tiny subject driver (on
#     subject_io.h: harness/fake/subject.c, and ex09's own), the contract
#     header and TODO skeleton (skeletons/), a submission (sub/) and a
#     reference for timing (ref/).  The judges misbehave on purpose: every
#     score, status line, report file and exit status; groups, timing bands
#     (exact ratios from a fake timing judge), budgets, the manifest, CI mode,
#     a pull-request root, batch grading and rubric validation.
#  2. The real exercise 1, graded in a one-exercise copy of the real workbook
#     (its Makefile, harness/common, and exercise 1's harness, skeletons and
#     solutions; the grader builds its judges there): the pristine skeletons,
#     the solutions (with timing), a half-passing submission, a compile error,
#     and a case for every attack class of the issues "Verdicts and timings
#     come from outside the student's process" (13) and "Only the student's C
#     source reaches the build" (14), each a few lines around the reference
#     solution (submissions/*.c; see submissions/wrap-begin.c), each with its
#     exact expected score, computed from the rubric's points, and the reason
#     the report gives.  The attack classes run twice: as root (the subjects
#     as another uid) and as an unprivileged uid (the grader and its subjects
#     as that uid, with judges built by root).  Every run has its own uid, so
#     that one case's processes never count against another's limits.
#
# Usage: run-selftest.sh PATH/TO/grader [REAL-ROOT]
#   REAL-ROOT defaults to the workbook this script belongs to.
#   SELFTEST_KEEP=1 keeps the temporary folder (its path is printed);
#   SELFTEST_JOBS=N runs N real cases at a time (default 2).
# Needs: make, gcc, pkg-config, Criterion, git, python3, and, to run the
# unprivileged cases as root, setpriv (util-linux) and a TMPDIR that other
# users may enter (/tmp).  As another user than root, the attack classes run
# as that user only (a notice says so).
# Prints one ok/FAIL line per check; exits non-zero on any failure.
# About 2 minutes on 2 cores (the real cases run in the background, two at
# a time, while the fake ones run); it holds under load (it asserts no
# absolute time but the budgets', and timing only as ratios).
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 PATH/TO/grader [REAL-ROOT]" >&2
    exit 2
fi
grader=$(realpath "$1")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
real_root=$(realpath "${2:-$here/../..}")
subs=$here/submissions
work=$(mktemp -d "${TMPDIR:-/tmp}/grader-selftest.XXXXXX")
# The unprivileged runs read the workbook copy and write their own folders
# here.
chmod 755 "$work"
t_start=$SECONDS

# Plain, reproducible output whatever calls us (make check, CI, a terminal).
export NO_COLOR=1
unset GITHUB_STEP_SUMMARY MAKEFLAGS MFLAGS MAKELEVEL

# Who runs the attack classes: root (subjects as their own uid) and an
# unprivileged uid (setpriv), or, as another user, that user alone.
if [ "$(id -u)" -ne 0 ]; then
    modes=self
elif command -v setpriv >/dev/null; then
    modes="root user"
else
    modes=root
fi
# The uids of this run, drawn so that two self-tests at once do not share
# any: 200 for the root-mode subjects, then 200 for the unprivileged graders
# (numbers only: no account is needed).
root_uid_base=$((200000 + 400 * ((RANDOM * 32768 + RANDOM) % 5000)))
user_uid_base=$((root_uid_base + 200))

launcher=
# On exit: stop the background cases, then any process this run left (a
# process whose working directory is in $work, or that runs as one of this
# run's uids), by its pid; then clean up.
leftovers() {
    local p uid cwd victims
    victims=" $(cat "$work"/*.victim 2>/dev/null | tr '\n' ' ') "
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" -eq $$ ] && continue
        case $victims in *" $p "*) continue ;; esac
        uid=$(awk '/^Uid:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
        cwd=$(readlink "/proc/$p/cwd" 2>/dev/null) || cwd=
        case $cwd in "$work"/*) echo "$p"; continue ;; esac
        if [ -n "$uid" ] && [ "$uid" -ge "$root_uid_base" ] &&
           [ "$uid" -lt $((user_uid_base + 200)) ]; then
            echo "$p"
        fi
    done
}
cleanup() {
    local pid f
    if [ -n "$launcher" ]; then
        pkill -KILL -P "$launcher" 2>/dev/null || true
        kill -KILL "$launcher" 2>/dev/null || true
    fi
    for f in "$work"/*.victim; do
        [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null || true
    done
    for pid in $(leftovers); do
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ "${SELFTEST_KEEP:-0}" = 1 ]; then
        echo "kept $work (SELFTEST_KEEP=1)"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok:   $*"; }

# run_grader NAME WANT DIR ARGS...: runs the grader in DIR; stdout and
# stderr go to $work/NAME.out and $work/NAME.err, the duration in seconds
# to $work/NAME.time. Checks the exit status.
run_grader() {
    local name=$1 want=$2 dir=$3 rc=0 start=$SECONDS
    shift 3
    (cd "$dir" && "$grader" "$@") >"$work/$name.out" 2>"$work/$name.err" ||
        rc=$?
    echo $((SECONDS - start)) >"$work/$name.time"
    if [ "$rc" -eq "$want" ]; then
        pass "$name: exit status $rc"
    else
        fail "$name: exit status $rc, expected $want"
        sed 's/^/    | /' "$work/$name.err" >&2
    fi
}

# grade NAME STATUS [ARGS...]: the grader in the fake root with
# --submission sub --out $work/out-NAME ARGS.
grade() {
    local name=$1 want=$2
    shift 2
    run_grader "$name" "$want" "$root" --submission sub --out "$work/out-$name" "$@"
}

# has NAME out|err REGEX: a line of the grader's stdout/stderr matches.
has() {
    if grep -Eq -- "$3" "$work/$1.$2"; then
        pass "$1: $2 has /$3/"
    else
        fail "$1: $2 lacks /$3/"
        sed 's/^/    | /' "$work/$1.$2" | head -60 >&2
    fi
}

# lacks NAME out|err REGEX: no line matches.
lacks() {
    if grep -Eq -- "$3" "$work/$1.$2"; then
        fail "$1: $2 unexpectedly has /$3/"
    else
        pass "$1: $2 lacks /$3/"
    fi
}

# faster NAME SECONDS: the run took less than SECONDS.
faster() {
    local took
    took=$(cat "$work/$1.time")
    if [ "$took" -lt "$2" ]; then
        pass "$1: took ${took}s (< $2 s)"
    else
        fail "$1: took ${took}s, expected < $2 s"
    fi
}

# file_has FILE REGEX / file_lacks FILE REGEX
file_has() {
    if grep -Eq -- "$2" "$1"; then
        pass "${1#"$work"/}: has /$2/"
    else
        fail "${1#"$work"/}: lacks /$2/"
    fi
}
file_lacks() {
    if grep -Eq -- "$2" "$1"; then
        fail "${1#"$work"/}: unexpectedly has /$2/"
    else
        pass "${1#"$work"/}: lacks /$2/"
    fi
}

# check_reports DIR: results.json has Gradescope's documented fields with
# their types, junit.xml is well-formed XML, summary.md has a table.
check_reports() {
    if /usr/bin/python3 - "$1" <<'PY'
import json, sys, xml.etree.ElementTree as ET
d = sys.argv[1]
r = json.load(open(d + "/results.json"))
vis = {"hidden", "after_due_date", "after_published", "visible"}
num = (int, float)
assert isinstance(r["score"], num) and isinstance(r["execution_time"], num)
assert isinstance(r["output"], str) and r["visibility"] in vis
assert r["stdout_visibility"] in vis and isinstance(r["tests"], list)
for t in r["tests"]:
    assert isinstance(t["score"], num) and isinstance(t["max_score"], num)
    assert t["status"] in ("passed", "failed"), t["status"]
    for k in ("name", "number", "output"):
        assert isinstance(t[k], str), k
    assert t["visibility"] in vis
    assert all(isinstance(x, str) for x in t["tags"])
assert sum(t["score"] for t in r["tests"]) == r["score"]
assert sum(t["max_score"] for t in r["tests"]) == r["max_score"]
x = ET.parse(d + "/junit.xml").getroot()
assert x.tag == "testsuites"
n = sum(int(s.get("tests")) for s in x.findall("testsuite"))
assert n == len(r["tests"]) == len(x.findall(".//testcase")), n
md = open(d + "/summary.md").read()
assert "| Exercise | Test | Status | Points |\n| --- | --- | --- | --- |\n" in md
PY
    then
        pass "${1#"$work"/}: results.json, junit.xml and summary.md are valid"
    else
        fail "${1#"$work"/}: invalid report files"
    fi
}

# tree_hash DIR: one line per file under DIR (path and SHA-256), sorted.
tree_hash() {
    (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
}

# ======================================================================
# Part 2, set up: the one-exercise copy of the real workbook, and the
# cases, started in the background (checked at the end)
# ======================================================================
wb=$work/wb
mkdir -p "$wb/harness/ex02_rate_limiter" "$wb/skeletons" "$wb/solutions"
cp "$real_root/Makefile" "$wb/"
cp -R "$real_root/harness/common" "$real_root/harness/ex01_comparison" "$wb/harness/"
cp -R "$real_root/skeletons/ex01_comparison" "$wb/skeletons/"
cp -R "$real_root/solutions/ex01_comparison" "$wb/solutions/"
# Another exercise's harness, as a target for the attacks (not an exercise
# of this copy: it has no rubric.json nor exercise.mk).
echo '/* another exercise'"'"'s harness: the self-test checks nobody wrote it */' \
    >"$wb/harness/ex02_rate_limiter/test_ex02.c"
rubric=$wb/harness/ex01_comparison/rubric.json
solution=$wb/solutions/ex01_comparison/ex01.c
case $modes in *user*)
    if ! setpriv --reuid=$user_uid_base --regid=$user_uid_base --clear-groups \
         test -r "$wb/Makefile"; then
        echo "run-selftest.sh: an unprivileged uid cannot read $wb:" \
             "set TMPDIR to a folder every user may enter (/tmp)" >&2
        exit 2
    fi ;;
esac

# points [SUITE::TEST...]: the rubric's test points minus those tests'.
points() {
    /usr/bin/python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
drop = set(sys.argv[2:])
print(sum(t["points"] for t in r["tests"]
          if t["suite"] + "::" + t["test"] not in drop))' "$rubric" "$@"
}
tests_total=$(points)
timing_total=$(/usr/bin/python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["timing"]["points"])' "$rubric")
# The memory check (rubric "memcheck", grade.h): the passing tests again,
# under ASan, UBSan and LeakSanitizer.  Only the solutions and coverage_only
# run it (it doubles a run's time); --no-memcheck gives the others 0 of it.
memcheck_total=$(/usr/bin/python3 -c 'import json, sys
print(json.load(open(sys.argv[1])).get("memcheck", {}).get("points", 0))' "$rubric")
max=$((tests_total + timing_total + memcheck_total))
nomem=
if "$grader" --help | grep -q -- --no-memcheck; then
    nomem=--no-memcheck
fi
# The tests that call the concurrent driver.
conc_tests=$(/usr/bin/python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
print(" ".join(t["suite"] + "::" + t["test"] for t in r["tests"]
               if t["suite"] in ("ex01_concurrent", "ex01_timeout")
               or t["test"] == "concurrent_refuses_invalid_arguments"))' "$rubric")
# shellcheck disable=SC2086 # a list of test names
seq_only=$(points $conc_tests)
half_expect=$(points ex01_concurrent::results_follow_url_order \
                     ex01_concurrent::all_requests_in_flight_at_once \
                     ex01_concurrent::two_hundred_urls_at_once)
bombs_expect=$(points ex01_sequential::one_request_at_a_time \
                      ex01_sequential::results_follow_url_order)
limits_expect=$(points ex01_sequential::elapsed_time_of_each_url \
                       ex01_concurrent::http_status_is_reported \
                       ex01_concurrent::large_body_is_intact)

# substitute KEY=VALUE...: stdin to stdout with each @KEY@ replaced.
substitute() {
    /usr/bin/python3 -c 'import sys
text = sys.stdin.read()
for arg in sys.argv[1:]:
    key, value = arg.split("=", 1)
    text = text.replace("@" + key + "@", value)
sys.stdout.write(text)' "$@"
}

# make_case CASE DIR KEY=VALUE...: DIR/ex01_comparison/ex01.c from
# submissions/CASE.c around the reference (wrap-begin.c, the solution,
# wrap-end.c, CASE.c), or from submissions/CASE.whole.c alone.
make_case() {
    local c=$1 d=$2/ex01_comparison
    shift 2
    mkdir -p "$d"
    if [ -f "$subs/$c.whole.c" ]; then
        cat "$subs/$c.whole.c"
    else
        cat "$subs/wrap-begin.c" "$solution" "$subs/wrap-end.c" "$subs/$c.c"
    fi | substitute "SOLUTION=$solution" "$@" >"$d/ex01.c"
}

# Object smuggling: the untouched skeleton, with the reference compiled
# beside it (what a handout's prebuilt reference looks like) and a
# prebuilt-reference folder.
smuggle=$work/cases/smuggle/ex01_comparison
mkdir -p "$smuggle/test/ex01_comparison"
cp "$wb/skeletons/ex01_comparison/ex01.c" "$smuggle/"
# shellcheck disable=SC2046 # one argument per line
(cd "$wb" && gcc -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O1 \
    -Iskeletons/ex01_comparison $(pkg-config --cflags libevent jansson) \
    -c solutions/ex01_comparison/ex01.c -o "$smuggle/ex01.o")
cp "$smuggle/ex01.o" "$smuggle/test/ex01_comparison/ex01.o"

# The batch in which the first submission tampers with the workbook: its
# own copy, the others' copies, the original, and the shared reference
# build (see batch.h), then does the work.
batch_targets() {
    local out=$1 r=$2 n
    for n in a-tamper b-solution c-half; do
        printf '"%s/%s/workbook/harness/ex01_comparison/rubric.json", ' "$out" "$n"
        printf '"%s/%s/workbook/harness/ex01_comparison/test_ex01.c", ' "$out" "$n"
        printf '"%s/%s/workbook/build/bin/test-ex01", ' "$out" "$n"
        printf '"%s/%s/workbook/build/kit/test/ex01_comparison/subject-ex01.link", ' "$out" "$n"
        printf '"%s/%s/workbook/pwned", "%s/%s/results.json", ' "$out" "$n" "$out" "$n"
    done
    printf '"%s/harness/ex01_comparison/rubric.json", "%s/build/bin/test-ex01", ' "$r" "$r"
    printf '"%s/ref-build/ex01_comparison/test/bin/subject-ex01", "%s/grades.csv"' "$out" "$out"
}

# files_targets ROOT OUT TOKEN: what files.c tries to write.
files_targets() {
    local r=$1 o=$2 t=$3
    printf '"%s", ' "$r/harness/ex02_rate_limiter/test_ex02.c" \
        "$r/harness/ex01_comparison/rubric.json" "$r/harness/ex01_comparison/test_ex01.c" \
        "$r/harness/common/judge.c" "$r/skeletons/ex01_comparison/ex01.h" \
        "$r/build/bin/test-ex01" "$r/build/kit/test/ex01_comparison/subject-ex01.link" \
        "$r/pwned-$t" "$r/harness/ex01_comparison/pwned-$t" "$o/results.json" \
        "$o/ex01/ex01_concurrent.all_requests_in_flight_at_once.log" "$o/ex01/list.log" \
        "$o/pwned-$t" "$o/scratch-ex01/pwned-$t" "$o/work/ex01_comparison/test/bin/pwned-$t" \
        "/tmp/pwned-$t" "/dev/shm/pwned-$t"
}

# rjob NAME MODE UID CASE ARGS...: grades exercise 1 of the case CASE (a
# submissions/ name, "smuggle", "skeletons", "solutions" or "batch") in the
# copy of the workbook, as MODE (root: subjects as UID; user: the grader as
# UID; self: as this user); output in $work/NAME.{out,err,rc,time}.  Runs
# in the background (see the pool below).
rjob() {
    local name=$1 mode=$2 uid=$3 c=$4 rc=0 start=$SECONDS
    local out=$work/r/$name.out sub=$work/cases/$name r=$wb token
    local -a run=() opts=(--exercise ex01 --trusted-built)
    shift 4
    # The first case builds the copy's judges and kit (make trusted).
    [ "$name" = skeletons ] && opts=(--exercise ex01)
    token=$name-$RANDOM$RANDOM
    mkdir -p "$out"
    case $mode in
    root) opts+=(--subject-uid "$uid") ;;
    user) run=(setpriv --reuid="$uid" --regid="$uid" --clear-groups)
          chown "$uid:$uid" "$out" ;;
    esac
    # The cases that write files get a workbook of their own, owned by
    # the grader's user (as unprivileged, only the sandbox then stands in
    # the way).
    case $c in files | batch)
        r=$work/r/$name.root
        cp -a "$wb" "$r"
        [ "$mode" = user ] && chown -R "$uid:$uid" "$r"
        tree_hash "$r" >"$work/$name.before" ;;
    esac
    echo "$r" >"$work/$name.root"
    echo "$token" >"$work/$name.token"
    case $c in
    skeletons | solutions) sub=$wb/$c ;;
    smuggle) sub=$work/cases/smuggle ;;
    batch)
        sub=$work/r/$name.batch
        make_case files "$sub/a-tamper" "TARGETS=$(batch_targets "$out" "$r")"
        make_case half_passing "$sub/c-half"
        mkdir -p "$sub/b-solution/ex01_comparison"
        cp "$solution" "$sub/b-solution/ex01_comparison/"
        opts=(--batch "$sub" --exercise ex01 --trusted-built --jobs 2 --keep-workbooks)
        [ "$mode" = root ] && opts+=(--subject-uid "$uid") ;;
    esac
    # The memory check only where it is checked (it doubles a run's time).
    case $c in solutions | coverage_only | skeletons) ;; *) [ -z "$nomem" ] || opts+=("$nomem") ;; esac
    if [ "$c" = batch ]; then
        opts+=(--root "$r" --out "$out")
    else
        opts+=(--root "$r" --submission "$sub" --out "$out")
    fi
    (
        # The case's text names this subshell's pid, which the grader
        # keeps when it replaces the subshell (setpriv execs it too).
        case $c in skeletons | solutions | smuggle | batch) ;; *)
            make_case "$c" "$sub" "ROOT=$r" "OUT=$out" "TOKEN=$token" \
                "VICTIM=$(cat "$work/signals$(sfx "$mode").victim")" \
                "TARGETS=$(files_targets "$r" "$out" "$token")" "GRADER=$BASHPID" ;;
        esac
        # In $work, so that an interrupted run's cleanup finds it.
        cd "$out"
        exec "${run[@]}" "$grader" "${opts[@]}" "$@"
    ) >"$work/$name.out" 2>"$work/$name.err" || rc=$?
    echo "$rc" >"$work/$name.rc"
    echo $((SECONDS - start)) >"$work/$name.time"
}

# rcheck NAME EXPECT [SECONDS]: the run of NAME exited 0 with the score
# EXPECT, in less than SECONDS (60; a bound for a loaded machine: the
# runs take 1 to 15 s on a quiet one).
rcheck() {
    local rc
    rc=$(cat "$work/$1.rc" 2>/dev/null || echo none)
    if [ "$rc" = 0 ]; then
        pass "$1: exit status 0"
    else
        fail "$1: exit status $rc, expected 0"
        sed 's/^/    | /' "$work/$1.err" >&2
    fi
    has "$1" out "^Score: $2/$max$"
    faster "$1" "${3:-60}"
}

# rejected NAME REGEX: the static check refused the case: the reason, every
# test REJECTED, and nothing of it ran.
rejected() {
    rcheck "$1" 0
    has "$1" out '^  rejected by the static check \(nothing of your code was run\):$'
    has "$1" out '^  REJECTED  0/3  Sequential: one request in flight at a time$'
    has "$1" out "$2"
    if [ -e "$work/r/$1.out/ex01/list.log" ]; then
        fail "$1: the judge ran although the submission was rejected"
    else
        pass "$1: nothing ran"
    fi
}

# The cases of both modes: NAME CASE OPTIONS (NAME is CASE unless the same
# case runs twice).  Slow ones first.
attack_cases=(
    "forged_output forged_output --no-coverage"
    "budget budget --no-timing --no-coverage --exercise-budget 8"
    "batch batch --no-timing --no-coverage --no-static-check"
    "bombs bombs --no-timing --no-coverage --no-static-check"
    "signals signals --no-timing --no-coverage --no-static-check"
    "files files --no-timing --no-coverage --no-static-check"
    "coverage_only coverage_only --no-timing"
    "framework_lookup framework_lookup --no-timing --no-coverage"
    "forged_channel forged_channel --no-timing --no-coverage --no-static-check"
    "canned canned --no-timing --no-coverage"
    "smuggle smuggle --no-timing --no-coverage"
    "signals-static signals --no-timing --no-coverage"
    "files-static files --no-timing --no-coverage"
    "bombs-static bombs --no-timing --no-coverage"
    "linemarker linemarker --no-timing --no-coverage"
    "pragma pragma --no-timing --no-coverage"
    "includes_other includes_other --no-timing --no-coverage"
    "incbin incbin --no-timing --no-coverage"
    "bind_weak bind_weak --no-timing --no-coverage"
    "bind_unique bind_unique --no-timing --no-coverage"
    "bind_ifunc bind_ifunc --no-timing --no-coverage"
    "bind_common bind_common --no-timing --no-coverage"
    "internal_symbol internal_symbol --no-timing --no-coverage"
)
# Root only (or this user): what is not an attack.
plain_cases=(
    "solutions solutions"
    "half_passing half_passing --no-timing --no-coverage"
    "limits limits --no-timing --no-coverage --no-static-check"
    "compile_error compile_error --no-timing --no-coverage"
    "calls_exit calls_exit --no-timing --no-coverage"
    "forks forks --no-timing --no-coverage"
    "constructor constructor --no-timing --no-coverage"
    "global_helper global_helper --no-timing --no-coverage"
)
if [ "$(uname -m)" = x86_64 ]; then
    plain_cases+=("asm_syscall asm_syscall --no-timing --no-coverage")
fi
first_mode=${modes%% *}
# The suffix of a case's name in a mode.
sfx() { [ "$1" = user ] && echo -user || echo ""; }

# A process of the grader's user for signals.c to aim at (started here, so
# that it is nobody's child in the run).
for m in $modes; do
    n=signals$(sfx "$m")
    if [ "$m" = user ]; then
        setpriv --reuid=$((user_uid_base + 199)) --regid=$((user_uid_base + 199)) \
            --clear-groups sleep 900 &
    else
        sleep 900 &
    fi
    echo $! >"$work/$n.victim"
    disown $!
done
# The unprivileged signals case runs as the victim's uid.
signals_user_uid=$((user_uid_base + 199))

# The pool, in the background of this script: the pristine skeletons first
# (their run builds the copy's judges and kit), then every case, at most
# $jobs_max at a time, each with its own uid(s).
jobs_max=${SELFTEST_JOBS:-2}
pool() {
    local entry m name c k=1 uid
    local -a words
    rjob skeletons "$first_mode" "$root_uid_base" skeletons --no-timing
    for entry in "${plain_cases[@]:0:3}" "${attack_cases[@]}" "${plain_cases[@]:3}"; do
        read -r -a words <<<"$entry"
        for m in $modes; do
            case " ${plain_cases[*]} " in
            *" $entry "*) [ "$m" = "$first_mode" ] || continue ;;
            esac
            name=${words[0]}$(sfx "$m")
            c=${words[1]}
            case $m in
            user) uid=$((user_uid_base + k)) ;;
            *) uid=$((root_uid_base + k)) ;;
            esac
            [ "$name" = signals-user ] && uid=$signals_user_uid
            k=$((k + 2))
            while [ "$(jobs -pr | wc -l)" -ge "$jobs_max" ]; do
                wait -n || true
            done
            rjob "$name" "$m" "$uid" "$c" "${words[@]:2}" &
        done
    done
    wait
}
pool &
launcher=$!

# ======================================================================
# Part 1: fake exercises
# ======================================================================
root=$work/root
cp -R "$here/fixtures" "$root"
cp "$real_root/Makefile" "$root/"
cp -R "$real_root/harness/common" "$root/harness/"

# --------------------------------------------------------------- scoring
# The first grading builds the fake judges (make trusted).
grade ex01 0 --exercise ex01 --expect-score 5
has ex01 out '^== ex01_pass: Everything passes ==$'
has ex01 out '^  OK        2/2  answer\(\) returns 42$'
has ex01 out '^  OK        3/3  answer\(\) is positive$'
has ex01 out '^  COVERAGE        100\.0% of the lines of your TODO files ran during the tests \([0-9]+ of [0-9]+\)$'
has ex01 out '^  Exercise score: 5/5$'
has ex01 out '^Score: 5/5$'
has ex01 out '^!! INTEGRITY: grader/manifest.sha256 is missing'
lacks ex01 out $'\033'
if [ -x "$root/build/bin/test-ex01" ] && [ -f "$root/build/kit/test/ex01_pass/subject-ex01.link" ] &&
   [ -s "$work/out-ex01/trusted-build.log" ]; then
    pass "ex01: the grader built the judges and the kit (make trusted)"
else
    fail "ex01: no judge or kit after make trusted"
fi

# Each test runs alone: a rubric test the judge lacks is a rubric error.
# The judge itself misbehaves (exits early, crashes, hangs, leaves a
# grandchild): each costs only its test.
grade ex02 2 --exercise ex02_mixed --expect-score 3 --no-coverage
has ex02 out '^  OK        2/2  A passing test$'
has ex02 out '^  FAIL      0/3  A failing assertion$'
has ex02 out '^            harness/ex02_mixed/test.c:[0-9]+: answer\(\) returned 41, expected "42" \\ tab'
has ex02 out '^              second line \?\? bad bytes$'
has ex02 out '^            \.\.\. \(1 more line\)$'
has ex02 out '^            hint: docs/en/ex02_mixed.md#fails$'
has ex02 out '^  FAIL      0/1  The judge calls exit\(0\)$'
has ex02 out '^            passed without running any assertion \(did the code exit early\?\)$'
has ex02 out '^  CRASH     0/2  The judge writes through NULL$'
has ex02 out '^  TIMEOUT   0/2  The judge never returns \(Criterion timeout\)$'
has ex02 out '^  OK        1/1  The judge leaves a sleeping grandchild$'
has ex02 out '^  FAIL      0/1  A skipped test$'
has ex02 out '^            skipped$'
has ex02 out '^            not ready$'
# A subject that crashes: the judge's test fails, saying how it ended.
has ex02 out '^  FAIL      0/1  The subject writes through NULL$'
has ex02 out '^            harness/common/judge.c:[0-9]+: answer\(1\): the subject was killed by signal 11 \(Segmentation fault\)$'
has ex02 out '^  FAIL      0/2  A test that the harness lacks$'
has ex02 out '^            missing from the test program$'
has ex02 out '^  rubric error: test ex02_mixed::not_written is in rubric.json but not in the test program$'
has ex02 err 'not_written is in rubric.json but not in the test program'
# timeout_s is 30 and the grandchild sleeps 1000 s: nothing may wait for it.
faster ex02 15
gc_pid=$(cat "$work/out-ex02/gc.pid" 2>/dev/null || echo 0)
if [ "$gc_pid" -gt 1 ] && kill -0 "$gc_pid" 2>/dev/null; then
    fail "ex02: the grandchild $gc_pid is still running"
    kill -KILL "$gc_pid" 2>/dev/null || true
elif [ "$gc_pid" -gt 1 ]; then
    pass "ex02: the grandchild $gc_pid was killed"
else
    fail "ex02: the grandchild did not record its pid"
fi

grade ex03 0 --exercise ex03 --expect-score 0
has ex03 out '^  does not compile: fix the errors below \(your files: /.*/sub/ex03_broken/\)$'
has ex03 out '^    \| .*sub/ex03_broken/answer.c:2:[0-9]+: error: '
has ex03 out '^  UNGRADABLE 0/1  First$'
has ex03 out '^  UNGRADABLE 0/3  Second$'
lacks ex03 out 'hint:'

# A hang of the judge costs only the test it happens in.
grade ex04 0 --exercise ex04 --expect-score 1 --no-coverage
has ex04 out '^  TIMEOUT   0/2  Forever$'
has ex04 out '^            the test program did not finish within 2 s and was stopped \(its output: .*/ex04/ex04_hang.forever.log\)$'
has ex04 out '^  OK        1/1  Quick$'
faster ex04 10

# A budget stops what is left, whatever it is.
grade budget-ex 0 --exercise ex04 --expect-score 0 --no-coverage --exercise-budget 2
file_has "$work/out-budget-ex/results.json" 'the grading budget ran out'
has budget-ex out '^Score: 0/3$'
faster budget-ex 8
grade budget-sub 0 --exercise ex04 --expect-score 0 --no-coverage --budget 2
file_has "$work/out-budget-sub/results.json" 'the grading budget ran out'
faster budget-sub 8

grade ex05 2 --exercise ex05 --expect-score 2 --no-coverage
has ex05 out '^  rubric error: test ex05_extra::not_in_rubric is not in rubric.json$'
has ex05 out '^  OK        2/2  Listed$'
has ex05 out '^  test report error: test ex05_extra::param is reported twice'
has ex05 out '^  FAIL      0/1  A parameterized test \(reported once per parameter\)$'
has ex05 out '^            reported twice$'
has ex05 out '^Score: 2/3$'
has ex05 err 'rubric error: test ex05_extra::not_in_rubric'
lacks ex05 err 'expected score'

grade ex06 0 --exercise ex06 --expect-score 0
has ex06 out '^  the test program listed no tests$'
has ex06 out '^  CRASH     0/1  Never run$'

grade ex07 0 --exercise ex07 --expect-score 0
has ex07 out '^  the test program was killed by signal 6 \(.*\) before any test ran$'
has ex07 out '^  CRASH     0/1  Never run$'

# A report left by an earlier run must not be read again.
mkdir -p "$work/out-stale/ex06"
cp "$work/out-ex01/ex01/ex01_basic.answer_is_42.json" \
    "$work/out-stale/ex06/ex06_noreport.never_run.json"
grade stale 0 --exercise ex06 --expect-score 0 --out "$work/out-stale"
has stale out '^  CRASH     0/1  Never run$'

# Grading again into the same directory works.
grade rerun 0 --exercise ex01 --expect-score 5 --out "$work/out-ex01"

# A child the grader already had when it started ("cmd & exec grader") is
# not one of its stragglers: it must survive the grading.
(cd "$root" || exit 1
 sleep 60 &
 echo $! >"$work/foreign.pid"
 exec "$grader" --submission sub --out "$work/out-foreign" --exercise ex01 \
     --quiet --no-coverage >"$work/foreign.out" 2>&1) || fail "foreign: the grader failed"
foreign_pid=$(cat "$work/foreign.pid")
if kill -0 "$foreign_pid" 2>/dev/null; then
    pass "foreign: the grader left its pre-existing child alone"
    kill "$foreign_pid" 2>/dev/null || true
else
    fail "foreign: the grader killed a child it did not start"
fi

# A test the judge lists but its run does not report.
grade ex10 0 --exercise ex10 --expect-score 1 --no-coverage
has ex10 out '^  OK        1/1  Present$'
has ex10 out '^  FAIL      0/1  Listed, never reported$'
has ex10 out '^            missing from the test report$'

# ---------------------------------------------------------------- groups
grade ex08 0 --exercise ex08 --expect-score 3 --no-coverage
has ex08 out '^  FAIL      0/2  Advanced \(needs the basics\)$'
has ex08 out "^            not scored: needs every test of group 'basic' to pass first$"
has ex08 out '^  OK        1/1  Basic, passes$'
has ex08 out '^  FAIL      0/1  Basic, fails$'
has ex08 out '^  OK        1/1  Extra, passes$'
has ex08 out '^  OK        1/1  In no group, passes$'
if [ -e "$work/out-ex08/ex08/ex08.advanced.log" ]; then
    fail "ex08: a test whose group may not be scored was run"
else
    pass "ex08: a test whose group may not be scored was not run"
fi

# ---------------------------------------------------------------- timing
# The fake timing judge's time is 10 ms x cost(): 2.0 here, 1.0 in ref/;
# it prints a decoy result line first (the grader reads the last).
grade ex09 0 --exercise ex09 --reference ref --expect-score 3 --no-coverage
has ex09 out '^  OK        1/1  It works$'
has ex09 out '^  TIMING    2/4  Speed against the reference: yours 20.0 ms, reference 10.0 ms \(medians of 3 runs in turns\), ratio 2.00: all 4 points need a ratio of at most 1.50$'
has ex09 out '^  Exercise score: 3/5$'
file_has "$work/out-ex09/results.json" '"submission_ms": 20\.0'
file_has "$work/out-ex09/summary.md" '^\| ex09 \| Speed against the reference: yours 20\.0 ms, reference 10\.0 ms \(medians of 3 runs in turns\), ratio 2\.00: all 4 points need a ratio of at most 1\.50 \| TIMING \| 2/4 \|$'
if [ "$(ls "$work/out-ex09/ex09"/bench-*.log | wc -l)" -eq 1 ]; then
    pass "ex09: one run of the timing judge (far from a band's edge)"
else
    fail "ex09: the timing judge ran more than once"
fi
# 1.45 is near the 1.5 edge: measured again, "repeat" (3) times in all.
run_grader ex09-edge 0 "$root" --submission sub-edge --out "$work/out-ex09-edge" \
    --exercise ex09 --reference ref --expect-score 5 --no-coverage
has ex09-edge out '^  TIMING    4/4  Speed against the reference: yours 14.5 ms, reference 10.0 ms \(medians of 9 runs in turns\), ratio 1.45$'
# A timing judge that fails (no positive value from the submission).
run_grader ex09-bad 0 "$root" --submission sub-badcost --out "$work/out-ex09-bad" \
    --exercise ex09 --reference ref --expect-score 1 --no-coverage
has ex09-bad out '^  TIMING    0/4  Speed against the reference: not measured: the timing judge failed: your code did not do the timing.s jobs correctly \(see .*/bench-1.log\)$'
grade ex09-noref 0 --exercise ex09 --expect-score 1 --no-coverage
has ex09-noref out '^  TIMING    0/4  Speed against the reference: not measured: no reference to time against \(.*/solutions/ex09_timing does not exist; see --reference\)$'
grade ex09-off 0 --exercise ex09 --reference ref --no-timing --expect-score 1 --no-coverage
has ex09-off out '^  TIMING    0/4  Speed against the reference: not measured \(--no-timing\)$'

# ------------------------------------------------------ all, report files
GITHUB_STEP_SUMMARY=$work/step-summary.md grade all 2 --reference ref --expect-score 18 \
    --no-coverage
has all out '^Score: 18/45$'
has all out '^Reports: .*/results.json .*/summary.md .*/junit.xml$'
json=$work/out-all/results.json
file_has "$json" '^  "score": 18,$'
file_has "$json" '^  "max_score": 45,$'
file_has "$json" '"execution_time": [0-9]'
file_has "$json" '"name": "ex03 · Second",'
file_has "$json" '"number": "7.1",'
file_has "$json" '"result": "UNGRADABLE",'
file_has "$json" '"status": "failed",'
file_has "$json" '"status": "ungradable",'
file_has "$json" '"status": "error",'
file_has "$json" '"tags": \[$'
file_has "$json" '"stdout_visibility": "visible",'
file_has "$work/out-all/summary.md" '^\| ex03 \| Second \| UNGRADABLE \| 0/3 \|$'
file_has "$work/out-all/summary.md" '^\*\*Score: 18/45\*\*$'
file_has "$work/step-summary.md" '^\*\*Score: 18/45\*\*$'
file_has "$work/out-all/junit.xml" '<testcase classname="ex02_mixed.ex02_mixed" name="A failing assertion">'
file_has "$work/out-all/junit.xml" '<failure type="FAIL" message="harness/ex02_mixed/test.c:[0-9]+: answer\(\) returned 41, expected &quot;42&quot;'
check_reports "$work/out-all"

# ------------------------------------------------------ options and errors
grade quiet 0 --exercise ex01 --quiet --no-coverage
if [ "$(cat "$work/quiet.out")" = "Score: 5/5" ]; then
    pass "quiet: only the score line"
else
    fail "quiet: printed more than the score line"
fi

grade mismatch 1 --exercise ex01 --expect-score 4 --no-coverage
has mismatch err '^expected score 4, got 5$'
grade min-fail 1 --exercise ex01 --min-score 6 --no-coverage
grade min-ok 0 --exercise ex01 --min-score 5 --no-coverage
grade unknown 2 --exercise ex99
has unknown err "unknown exercise 'ex99'"
has unknown err 'known exercises: ex01_pass ex02_mixed'
grade usage 2 --bogus
has usage err "unknown option '--bogus'"
grade badnum 2 --expect-score ten
grade badjobs 2 --jobs 0
grade baduid 2 --subject-uid 5
has baduid err 'subject-uid takes 1000 or more'
grade ci-nostatic 2 --exercise ex01 --ci --no-static-check
has ci-nostatic err 'no-static-check is for maintainers'
grade nosub 2 --exercise ex01 --submission "$work/no-such-dir"

# A TODO file must be a regular file of the submission.
mkdir -p "$work/sub-link/ex01_pass"
ln -s "$root/sub/ex01_pass/answer.c" "$work/sub-link/ex01_pass/answer.c"
grade todo-link 0 --exercise ex01 --submission "$work/sub-link" --expect-score 0
has todo-link out '^  .*/sub-link/ex01_pass/answer.c is a symbolic link: submit the file itself'
rm -f "$work/sub-link/ex01_pass/answer.c"
grade todo-missing 0 --exercise ex01 --submission "$work/sub-link" --expect-score 0
has todo-missing out '^  missing file .*/sub-link/ex01_pass/answer.c: it is the file you edit in this exercise'

# Judges that do not build: nothing is graded (exit status 2).
mkdir -p "$work/root-broken/harness/ex01_pass"
cp "$root/Makefile" "$work/root-broken/"
cp -R "$root/harness/common" "$work/root-broken/harness/"
cp "$root/harness/ex01_pass/rubric.json" "$work/root-broken/harness/ex01_pass/"
sed 's|harness/ex01_pass/test.c|harness/ex01_pass/no-such-test.c|' \
    "$root/harness/ex01_pass/exercise.mk" >"$work/root-broken/harness/ex01_pass/exercise.mk"
run_grader root-broken 2 "$root" --root "$work/root-broken" --submission "$root/sub" \
    --out "$work/out-root-broken"
has root-broken err "the workbook's tests do not build \(make trusted; see .*/trusted-build.log\)"

# bad_rubric CASE REGEX JSON: a root whose only rubric is JSON must be
# rejected (exit status 2) with a message matching REGEX.
bad_rubric() {
    local name=rubric-$1
    mkdir -p "$work/$name/harness/ex01_pass"
    printf '%s\n' "$3" >"$work/$name/harness/ex01_pass/rubric.json"
    run_grader "$name" 2 "$root" --root "$work/$name" --submission "$root/sub" \
        --out "$work/out-$name"
    has "$name" err "$2"
}
ok_test='{ "suite": "s", "test": "t", "points": 1, "title": "T" }'
top='"exercise": "ex01_pass", "title": "X"'
bad_rubric unknown-key 'harness/ex01_pass/rubric.json: top level: unknown key "tets"' \
    "{ $top, \"tets\": [] }"
bad_rubric test-key 'rubric.json: tests\[0\]: unknown key "point"' \
    "{ $top, \"tests\": [ { \"suite\": \"s\", \"test\": \"t\", \"point\": 1, \"title\": \"T\" } ] }"
bad_rubric missing-points 'rubric.json: tests\[1\]: missing key "points"' \
    "{ $top, \"tests\": [ $ok_test, { \"suite\": \"s\", \"test\": \"u\", \"title\": \"U\" } ] }"
bad_rubric negative-points '"points" must be between 0 and [0-9]+, got -1' \
    "{ $top, \"tests\": [ { \"suite\": \"s\", \"test\": \"t\", \"points\": -1, \"title\": \"T\" } ] }"
bad_rubric real-points 'expected an integer for "points"' \
    "{ $top, \"tests\": [ { \"suite\": \"s\", \"test\": \"t\", \"points\": 1.5, \"title\": \"T\" } ] }"
bad_rubric missing-title 'top level: missing key "title"' \
    "{ \"exercise\": \"ex01_pass\", \"tests\": [ $ok_test ] }"
bad_rubric no-tests 'expected a non-empty array for "tests"' \
    "{ $top, \"tests\": [] }"
bad_rubric duplicate 'tests\[1\]: duplicate test "t"' \
    "{ $top, \"tests\": [ $ok_test, $ok_test ] }"
bad_rubric wrong-dir '"exercise" is "ex02_other" but the directory is "ex01_pass"' \
    "{ \"exercise\": \"ex02_other\", \"title\": \"X\", \"tests\": [ $ok_test ] }"
bad_rubric timeout '"timeout_s" must be between 1 and' \
    "{ $top, \"timeout_s\": 0, \"tests\": [ $ok_test ] }"
bad_rubric test-timeout 'tests\[0\]: "timeout_s" must be between 1 and' \
    "{ $top, \"tests\": [ { \"suite\": \"s\", \"test\": \"t\", \"points\": 1, \"title\": \"T\", \"timeout_s\": 0 } ] }"
bad_rubric memory '"memory_mb" must be between 64 and' \
    "{ $top, \"memory_mb\": 1, \"tests\": [ $ok_test ] }"
bad_rubric budget '"budget_s" must be between 10 and' \
    "{ $top, \"budget_s\": 5, \"tests\": [ $ok_test ] }"
bad_rubric syntax 'rubric.json:[0-9]+:[0-9]+: .*expected' \
    '{ "exercise": "ex01_pass", '
bad_rubric todo-abs '"/etc/passwd" in "todo" is not a relative path' \
    "{ $top, \"todo\": [\"/etc/passwd\"], \"tests\": [ $ok_test ] }"
bad_rubric todo-dotdot '"../x.c" in "todo" is not a relative path' \
    "{ $top, \"todo\": [\"../x.c\"], \"tests\": [ $ok_test ] }"
bad_rubric symbols-star '"\*" in "allow" is not a symbol name or a prefix followed by' \
    "{ $top, \"symbols\": { \"exports\": [\"f\"], \"allow\": [\"*\"] }, \"tests\": [ $ok_test ] }"
bad_rubric symbols-mid-star '"ev\*x" in "allow" is not a symbol name' \
    "{ $top, \"symbols\": { \"exports\": [\"f\"], \"allow\": [\"ev*x\"] }, \"tests\": [ $ok_test ] }"
bad_rubric symbols-exports 'symbols: expected a non-empty array for "exports"' \
    "{ $top, \"symbols\": { \"exports\": [], \"allow\": [] }, \"tests\": [ $ok_test ] }"
bad_rubric symbols-key 'symbols: unknown key "alow"' \
    "{ $top, \"symbols\": { \"exports\": [\"f\"], \"alow\": [] }, \"tests\": [ $ok_test ] }"
bad_rubric group-unknown 'tests\[0\]: "group" names no group: "nope"' \
    "{ $top, \"tests\": [ { \"suite\": \"s\", \"test\": \"t\", \"points\": 1, \"title\": \"T\", \"group\": \"nope\" } ] }"
bad_rubric group-forward 'groups\[0\]: "requires" names no group listed before this one: "b"' \
    "{ $top, \"groups\": [ { \"name\": \"a\", \"title\": \"A\", \"requires\": [\"b\"] }, { \"name\": \"b\", \"title\": \"B\" } ], \"tests\": [ $ok_test ] }"
bad_rubric group-self 'groups\[0\]: "requires" names no group listed before this one: "a"' \
    "{ $top, \"groups\": [ { \"name\": \"a\", \"title\": \"A\", \"requires\": [\"a\"] } ], \"tests\": [ $ok_test ] }"
bad_rubric group-dup 'groups\[1\]: duplicate group "a"' \
    "{ $top, \"groups\": [ { \"name\": \"a\", \"title\": \"A\" }, { \"name\": \"a\", \"title\": \"B\" } ], \"tests\": [ $ok_test ] }"
timing_head='"title": "T", "bench": "bench-ex01", "points": 4'
bad_rubric band-first 'timing.bands\[0\]: the first band must give all the timing points: "points"' \
    "{ $top, \"tests\": [ $ok_test ], \"timing\": { $timing_head, \"bands\": [ { \"max_ratio\": 1.5, \"points\": 2 } ] } }"
bad_rubric band-order 'timing.bands\[1\]: must be larger than the previous band' \
    "{ $top, \"tests\": [ $ok_test ], \"timing\": { $timing_head, \"bands\": [ { \"max_ratio\": 2, \"points\": 4 }, { \"max_ratio\": 1.5, \"points\": 2 } ] } }"
bad_rubric band-points 'timing.bands\[1\]: "points" must be between 0 and 4, got 5' \
    "{ $top, \"tests\": [ $ok_test ], \"timing\": { $timing_head, \"bands\": [ { \"max_ratio\": 1, \"points\": 4 }, { \"max_ratio\": 2, \"points\": 5 } ] } }"
bad_rubric band-ratio 'timing.bands\[0\]: expected a positive number for "max_ratio"' \
    "{ $top, \"tests\": [ $ok_test ], \"timing\": { $timing_head, \"bands\": [ { \"max_ratio\": 0, \"points\": 4 } ] } }"
bad_rubric bench-name 'timing: expected letters, digits, .* in "bench"' \
    "{ $top, \"tests\": [ $ok_test ], \"timing\": { \"title\": \"T\", \"bench\": \"../x\", \"points\": 4, \"bands\": [ { \"max_ratio\": 1, \"points\": 4 } ] } }"
bad_rubric rounds 'timing: "rounds" must be between 1 and' \
    "{ $top, \"tests\": [ $ok_test ], \"timing\": { $timing_head, \"rounds\": 0, \"bands\": [ { \"max_ratio\": 1, \"points\": 4 } ] } }"
bad_rubric repeat 'timing: "repeat" must be between 1 and' \
    "{ $top, \"tests\": [ $ok_test ], \"timing\": { $timing_head, \"repeat\": 0, \"bands\": [ { \"max_ratio\": 1, \"points\": 4 } ] } }"

# Two exercises with one short id would share make targets and logs.
mkdir -p "$work/rubric-same-id/harness/ex01_a" "$work/rubric-same-id/harness/ex01_b"
for d in ex01_a ex01_b; do
    printf '{ "exercise": "%s", "title": "X", "tests": [ %s ] }\n' "$d" "$ok_test" \
        >"$work/rubric-same-id/harness/$d/rubric.json"
done
run_grader rubric-same-id 2 "$root" --root "$work/rubric-same-id" --submission "$root/sub"
has rubric-same-id err 'exercises ex01_a and ex01_b share the short id ex01'

# ------------------------------------------------------------- integrity
# The manifest of the fake root (a git working tree, nothing committed).
mkdir -p "$root/grader"
git -C "$root" init -q
run_grader manifest-write 0 "$root" --write-manifest
has manifest-write out '^wrote .*/grader/manifest.sha256$'
if (cd "$root" && sha256sum --quiet -c grader/manifest.sha256) &&
   grep -q '  harness/ex01_pass/test.c$' "$root/grader/manifest.sha256" &&
   grep -q '  harness/common/judge.c$' "$root/grader/manifest.sha256" &&
   grep -q '  skeletons/ex01_pass/answer.h$' "$root/grader/manifest.sha256" &&
   grep -q '  Makefile$' "$root/grader/manifest.sha256" &&
   ! grep -q '  skeletons/ex01_pass/answer.c$' "$root/grader/manifest.sha256" &&
   ! grep -q '  sub/' "$root/grader/manifest.sha256" &&
   ! grep -q '  build/' "$root/grader/manifest.sha256" &&
   LC_ALL=C sort -c -k2 "$root/grader/manifest.sha256" 2>/dev/null; then
    pass "manifest-write: sha256sum -c accepts it; sorted; TODO files, sub/ and build/ left out"
else
    fail "manifest-write: unexpected manifest"
    cat "$root/grader/manifest.sha256" >&2
fi
run_grader manifest-fresh 0 "$root" --check-manifest
has manifest-fresh out 'is up to date$'

grade clean 0 --exercise ex01 --expect-score 5 --no-coverage
lacks clean out 'INTEGRITY'

echo '/* edited */' >>"$root/harness/ex01_pass/test.c"
touch "$root/harness/ex01_pass/extra.c"
grade changed 0 --exercise ex01 --expect-score 5 --no-coverage
has changed out '^!! INTEGRITY: 2 files outside your TODO files differ from the trusted manifest \(grader/manifest.sha256\):$'
has changed out '^!!   changed: harness/ex01_pass/test.c$'
has changed out '^!!   added: harness/ex01_pass/extra.c$'
if [ "$(grep -c '^!! INTEGRITY' "$work/changed.out")" -eq 2 ]; then
    pass "changed: the warning is at the top and at the bottom"
else
    fail "changed: the warning should appear twice"
fi
file_has "$work/out-changed/results.json" '"output": "INTEGRITY: 2 files'
file_has "$work/out-changed/summary.md" '^> \[!WARNING\]$'
grade changed-ci 1 --exercise ex01 --expect-score 5 --ci --no-coverage
has changed-ci out '^!! This is an error in CI mode \(exit status 1\)'
has changed-ci out '^Score: 5/5$'
has changed-ci err 'protected files differ from the manifest \(CI mode\)'
run_grader manifest-stale 1 "$root" --check-manifest
has manifest-stale out 'grader/manifest.sha256 is stale'
has manifest-stale out '^\+ [0-9a-f]{64}  harness/ex01_pass/test.c$'
has manifest-stale out '^\+ [0-9a-f]{64}  harness/ex01_pass/extra.c$'
rm "$root/harness/ex01_pass/extra.c"

# In CI the trusted copies are at --root and the pull request's checkout
# at --submission-root: its harness edits are reported, never used.
sed -i '$d' "$root/harness/ex01_pass/test.c" # undo the edit above
mkdir -p "$work/pr"
cp -R "$root/harness" "$root/skeletons" "$root/sub" "$root/Makefile" "$work/pr/"
printf '#include "answer.h"\nint answer(int arg) { return 41 + 0 * arg; }\n' \
    >"$work/pr/sub/ex01_pass/answer.c"
sed -i 's/cr_assert_eq(fake_answer(0), 42)/cr_assert(1)/' "$work/pr/harness/ex01_pass/test.c"
grade pr 1 --exercise ex01 --ci --submission "$work/pr/sub" \
    --submission-root "$work/pr" --expect-score 3 --no-coverage
has pr out '^!!   changed: harness/ex01_pass/test.c$'
lacks pr out '^!!   changed: Makefile$'
has pr out '^  FAIL      0/2  answer\(\) returns 42$'
grade pr-local 0 --exercise ex01 --expect-score 5 --no-coverage
lacks pr-local out 'INTEGRITY'

# ------------------------------------------------------------------ batch
batch=$work/batch
mkdir -p "$batch/alice" "$batch/bob" "$batch/carol, smith" "$batch/.hidden"
cp -R "$root/sub/ex01_pass" "$batch/alice/"
mkdir -p "$batch/bob/ex01_pass" "$batch/carol, smith/ex01_pass"
printf '#include "answer.h"\nint answer(int arg) { return 41 + 0 * arg; }\n' \
    >"$batch/bob/ex01_pass/answer.c"
printf 'int answer(int arg) { return }\n' >"$batch/carol, smith/ex01_pass/answer.c"
run_grader batch 0 "$root" --batch "$batch" --exercise ex01 --jobs 2 --no-coverage \
    --out "$work/out-batch"
has batch out '^Graded 3 submissions: .*/grades.csv$'
csv=$work/out-batch/grades.csv
if [ "$(cat "$csv")" = 'name,score,max_score,ex01,status
alice,5,5,5,ok
bob,3,5,3,ok
"carol, smith",0,5,0,ex01:ungradable' ]; then
    pass "batch: grades.csv"
else
    fail "batch: unexpected grades.csv"
    sed 's/^/    | /' "$csv" >&2
fi
file_has "$work/out-batch/bob/results.json" '"score": 3,'
file_has "$work/out-batch/carol, smith/summary.md" 'UNGRADABLE'
if [ -e "$work/out-batch/alice/workbook" ]; then
    fail "batch: alice's copy of the workbook was not removed"
else
    pass "batch: each copy of the workbook is removed once graded"
fi
echo "(part 1 done in $((SECONDS - t_start)) s)"

# ======================================================================
# Part 2: the real exercise 1 (the cases ran in the background)
# ======================================================================
wait "$launcher" || true
launcher=

# The pristine skeletons score 0: each test says what to do.
rcheck skeletons 0
has skeletons out '^  FAIL      0/3  Sequential: one request in flight at a time$'
has skeletons out '^            hint: docs/en/ex01_comparison.md#'
has skeletons out '^  not used \(only the TODO files are graded; the given files come from the workbook\): '
# (No coverage figure while no test passes: grade.c.)
lacks skeletons out '^  COVERAGE'
if [ -x "$wb/build/bin/test-ex01" ] && [ -x "$wb/build/bin/bench-ex01" ]; then
    pass "skeletons: the grader built the copy's judges (make trusted)"
else
    fail "skeletons: no judge in the copy of the workbook"
fi

# The solutions: full marks, timing included.
rcheck solutions "$max" 120
has solutions out "^  TIMING    $timing_total/$timing_total  .*: yours [0-9.]+ ms, reference [0-9.]+ ms \\(medians of [0-9]+ runs in turns\\), ratio [0-9]\\.[0-9]{2}$"
has solutions out '^  COVERAGE +[0-9]+\.[0-9]% of the lines of your TODO files ran during the tests \([0-9]+ of [0-9]+\)$'
check_reports "$work/r/solutions.out"
if [ "$memcheck_total" -gt 0 ]; then
    has solutions out "^  MEMCHECK  $memcheck_total/$memcheck_total  .*: no memory error or leak in the [0-9]+ tests that pass, run again with ASan, UBSan and LeakSanitizer$"
fi

rcheck half_passing "$half_expect"
has half_passing out '^  FAIL      0/3  Concurrent: all requests in flight at once'
has half_passing out '^  OK        2/2  Concurrent: each failure stays in its own result$'

rcheck compile_error 0
has compile_error out '^  does not compile: fix the errors below'
has compile_error out '^  UNGRADABLE 0/3  Sequential: one request in flight at a time$'

# The static check, on what the old one already caught.
rejected calls_exit '^    ex01.c: calls exit\(\), which exercise ex01 does not allow$'
rejected forks '^    ex01.c: calls fork\(\), which exercise ex01 does not allow$'
rejected constructor '^    ex01.c: has a constructor or destructor \(section \.init_array\)'
rejected global_helper '^    ex01.c: defines the global symbol count_call, which exercise ex01 does not export: make it static$'
if [ "$(uname -m)" = x86_64 ]; then
    rejected asm_syscall '^    ex01.c: uses inline assembly \(asm\): no exercise needs it'
    has asm_syscall out '^    ex01.c: makes a system call itself \(syscall in '
fi

# The subject's limits: an early exit, a memory hog, an output flood each
# end the subject, and fail their test alone.
rcheck limits "$limits_expect"
has limits out '^  FAIL      0/2  Sequential: each result has its own elapsed time$'
has limits out 'the subject exited with status 0'
has limits out '^  FAIL      0/1  HTTP statuses \(201, 404, 503\) are reported$'
has limits out 'the subject was killed by signal 11 \(Segmentation fault\)'
has limits out '^  FAIL      0/1  A 1 MiB body, plain and chunked, arrives intact$'
has limits out 'the subject was killed by signal 25 \(File size limit exceeded\)'

# The walker of framework_lookup.c finds Criterion where Criterion is:
# the case is a real attack, which only the architecture defeats.
# shellcheck disable=SC2046 # pkg-config's words
if { echo '#include <stdio.h>'; echo '#include <string.h>'; cat "$subs/framework_lookup.c"; } |
   gcc -std=c11 -D_DEFAULT_SOURCE -DWALKER_MAIN -x c - -o "$work/walker" \
       -Wl,--no-as-needed $(pkg-config --libs criterion libevent) 2>"$work/walker.err" &&
   "$work/walker" >"$work/walker.out" &&
   grep -Eq '^criterion_: [1-9]' "$work/walker.out" &&
   grep -Eq '^event_base_new: [1-9]' "$work/walker.out"; then
    pass "framework_lookup: its walker finds criterion_* in a process linked with Criterion"
else
    fail "framework_lookup: its walker does not find Criterion where it is"
    cat "$work/walker.err" "$work/walker.out" >&2 || true
fi

# A process of this run still alive, or none.
no_leftovers() {
    local left
    # (A process that is ending may still be listed for a moment.)
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        left=$(leftovers | tr '\n' ' ')
        [ -z "$left" ] && break
        sleep 0.2
    done
    if [ -z "$left" ]; then
        pass "$1: no process of the run is left"
    else
        fail "$1: processes of the run are still alive: $left"
        for p in $left; do
            echo "    | $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" >&2
        done
    fi
}

# control NAME FILTER: after NAME's checks, its judge runs the one test
# FILTER on the subjects the grader built for NAME, without the launcher's
# sandbox (WB_SUBJECT_WRAPPER=env: harness/common/subject.h's debugging
# mode, never used in grading; the subject program still installs its own
# seccomp filter).  What the attack then does shows that the sandbox, not
# a flaw of the attack, is what kept its score at 0.  Output in
# $work/NAME.control.
control() {
    local r o=$work/r/$1.out
    r=$(cat "$work/$1.root")
    mkdir -p "$work/control-$1"
    # Through a pipe, as in grading (a file's offset would let the judge's
    # own writes cover what the subject appends to it).
    (cd "$o" && WB_SUBJECT_DIR=$o/work/ex01_comparison/test/bin WB_SUBJECT_WRAPPER=env \
        WB_SCRATCH=$work/control-$1 "$r/build/bin/test-ex01" -j1 --filter "$2" 2>&1 || true) |
        cat >"$work/$1.control"
}

# The attack classes, in each mode.
for m in $modes; do
    s=$(sfx "$m")
    echo "-- the attack classes, as ${m/self/this user} (${m/root/the subjects as other uids})"

    # 13(a): the framework looked up in memory: nothing found in the
    # subject; the concurrent driver's tests (the forged ones) score 0.
    rcheck framework_lookup$s "$seq_only"
    has framework_lookup$s out '^  FAIL      0/3  Concurrent: all requests in flight at once'
    has framework_lookup$s out '^  FAIL      0/1  Concurrent fetch refuses invalid arguments$'
    has framework_lookup$s out '^  OK        3/3  Sequential: one request in flight at a time$'

    # 13(b): forged protocol, report and metric lines on stdout and
    # stderr, with three times the work in the timing judge's jobs: every
    # test passes (the work is real), the timing is the real one.
    f=forged_output$s
    rcheck_timing() {
        local line pts ratio
        line=$(grep -E '^  TIMING ' "$work/$f.out" || true)
        pts=$(sed -nE 's|^  TIMING +([0-9]+)/.*|\1|p' <<<"$line")
        ratio=$(sed -nE 's|.*, ratio ([0-9]+\.[0-9]+).*|\1|p' <<<"$line")
        if [ -n "$pts" ] && [ -n "$ratio" ] && [ "$pts" -lt "$timing_total" ] &&
           /usr/bin/python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= 2.0 else 1)' "$ratio"; then
            pass "$f: three times the work: ratio $ratio (>= 2.00), $pts/$timing_total timing points"
            rcheck "$f" $((tests_total + pts)) 120
        else
            fail "$f: expected a ratio >= 2.00 and fewer than $timing_total timing points: $line"
        fi
    }
    rcheck_timing
    lacks $f out '^\[PASS\]|^\[====\]|Score: 28/28|"metric"|ratio 0\.0'
    check_reports "$work/r/$f.out"

    # 13(b): forged lines on the answer channel and every descriptor: the
    # first one that is not JSON ends the subject; the forged tests fail.
    rcheck forged_channel$s "$seq_only"
    has forged_channel$s out 'the subject wrote a line that is not a JSON object on its answer channel'
    has forged_channel$s out '^  OK        3/3  Sequential: one request in flight at a time$'
    lacks forged_channel$s out '^\[PASS\]|Score: 28/28'
    # The judge quotes the subject's output ("[----]     | ..."); a line of
    # its own it is not.
    if grep -Eqs '^(\[PASS\]|\[====\] Synthesis: Tested: 13|Score: 28/28)' \
           "$work/r/forged_channel$s.out/ex01/"*.log; then
        fail "forged_channel$s: a forged line reached the judge's output"
    else
        pass "forged_channel$s: no forged line reached the judge's output"
    fi
    if [ "$m" != user ]; then
        control forged_channel$s ex01_concurrent/http_status_is_reported
        if grep -Eq '^Score: 28/28' "$work/forged_channel$s.control"; then
            pass "forged_channel$s: without the launcher's sandbox, the forged lines reach the judge's output"
        else
            fail "forged_channel$s: the control run did not reach the judge's output"
        fi
    fi

    # 13(c): canned answers: no request reached the judge's server.
    rcheck canned$s 0
    has canned$s out 'the server never answered a request for'

    # 13(d): signals, ptrace, /proc/PID/mem against the judge, the grader
    # and another process of the grader's user: all refused, every test
    # passes, the other process lives untraced.
    rcheck signals$s "$tests_total"
    victim=$(cat "$work/signals$s.victim")
    if kill -0 "$victim" 2>/dev/null &&
       [ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$victim/status")" = 0 ]; then
        pass "signals$s: the other process ($victim) is alive and untraced"
    else
        fail "signals$s: the other process ($victim) was hit"
    fi
    rejected signals-static$s '^    ex01.c: calls kill\(\), which exercise ex01 does not allow$'
    has signals-static$s out '^    ex01.c: calls ptrace\(\), which exercise ex01 does not allow$'

    # 13(e): files outside the scratch folder: all refused, every test
    # passes, nothing changed or appeared.
    f=files$s
    rcheck $f "$tests_total"
    r=$(cat "$work/$f.root")
    token=$(cat "$work/$f.token")
    if tree_hash "$r" | cmp -s - "$work/$f.before"; then
        pass "$f: every file of the workbook is unchanged"
    else
        fail "$f: the workbook changed"
        tree_hash "$r" | diff "$work/$f.before" - | head >&2
    fi
    if [ -z "$(find "$r" "$work/r/$f.out" /tmp /dev/shm -maxdepth 6 -name "pwned-$token" 2>/dev/null)" ] &&
       ! grep -rlaqsx --exclude-dir=work '/\* tampered \*/' "$work/r/$f.out"; then
        pass "$f: no file was created or appended to"
    else
        fail "$f: a file was written outside the scratch folder"
    fi
    if [ "$m" != user ]; then
        control $f ex01_sequential/one_request_at_a_time
        rm -f "/tmp/pwned-$token" "/dev/shm/pwned-$token"
        if grep -qx '/\* tampered \*/' "$r/harness/ex02_rate_limiter/test_ex02.c"; then
            pass "$f: without the launcher's sandbox, the subject writes another exercise's harness"
        else
            fail "$f: the control run did not write the file"
        fi
    fi
    rejected files-static$s '^    ex01.c: calls fopen\(\), which exercise ex01 does not allow$'

    # 13(f): a fork bomb and a thread bomb: contained, their two tests
    # fail within their time limits, nothing is left.
    rcheck bombs$s "$bombs_expect"
    has bombs$s out '^  FAIL      0/3  Sequential: one request in flight at a time$'
    has bombs$s out '^  FAIL      0/2  Sequential: results in the order of the URLs$'
    has bombs$s out '^  OK        2/2  Concurrent: results in the order of the URLs$'
    has bombs$s out '^                \| bombs: fork\(\) failed: Operation not permitted$'
    threads=$(sed -nE 's/^ +\| bombs: ([0-9]+) threads, then no more$/\1/p' "$work/bombs$s.out")
    # As root: RLIMIT_NPROC 64 for the subject's uid (the main thread is
    # one); otherwise the runner's limit or the memory limit.
    if [ -n "$threads" ] && { [ "$m" = root ] && [ "$threads" -lt 64 ] ||
                              [ "$m" != root ] && [ "$threads" -lt 300 ]; }; then
        pass "bombs$s: the thread bomb stopped at $threads threads"
    else
        fail "bombs$s: the thread bomb was not contained (${threads:-no count})"
    fi
    rejected bombs-static$s '^    ex01.c: calls fork\(\), which exercise ex01 does not allow$'
    has bombs-static$s out '^    ex01.c: calls pthread_create\(\), which exercise ex01 does not allow$'

    # 13(g): code only an -O0 or a sanitizer build would compile: in no
    # build at all (the memory check's runs pass too).
    f=coverage_only$s
    rcheck $f $((tests_total + memcheck_total)) 90
    if [ "$memcheck_total" -gt 0 ]; then
        has $f out "^  MEMCHECK  $memcheck_total/$memcheck_total  "
    fi
    has $f out '^  COVERAGE +[0-9]+\.[0-9]% of the lines of your TODO files ran during the tests \([0-9]+ of [0-9]+\)$'
    token=$(cat "$work/$f.token")
    if [ -z "$(find "$work/r/$f.out" /tmp -maxdepth 3 -name "pwned-$token" 2>/dev/null)" ]; then
        pass "$f: the coverage-only code never ran"
    else
        fail "$f: the coverage-only code ran"
    fi

    # 14: a prebuilt object beside the untouched TODO file: ignored, named
    # as not used; the skeleton scores 0.
    rcheck smuggle$s 0
    has smuggle$s out '^  not used \(only the TODO files are graded; the given files come from the workbook\): (.*, )?ex01\.o(, .*)?$'
    has smuggle$s out '^  not used .*: (.*, )?test(, .*)?$'
    has smuggle$s out '^  FAIL      0/3  Sequential: one request in flight at a time$'

    # 14: include laundering, interposition through every binding kind,
    # a library's internal function: rejected, with the reason.
    rejected linemarker$s '^    ex01.c:[0-9]+: a linemarker \(# 1\.\.\.\) is not allowed in a TODO file'
    rejected pragma$s '^    ex01.c:[0-9]+: #pragma GCC system_header is not allowed in a TODO file$'
    has pragma$s out '^    ex01.c:[0-9]+: the _Pragma operator is not allowed in a TODO file$'
    rejected includes_other$s "^    ex01.c: reads $solution, which is not one of the exercise's headers"
    rejected incbin$s '^    ex01.c: uses inline assembly \(asm\): no exercise needs it, and assembler directives can read files$'
    rejected bind_weak$s '^    ex01.c: defines the global symbol malloc, which exercise ex01 does not export: make it static$'
    rejected bind_unique$s '^    ex01.c: defines optind as a GNU unique symbol'
    rejected bind_ifunc$s '^    ex01.c: defines event_base_loop as an indirect function \(ifunc\)'
    rejected bind_common$s '^    ex01.c: defines the global symbol stdout, which exercise ex01 does not export: make it static$'
    rejected internal_symbol$s '^    ex01.c: calls evutil_open_closeonexec_\(\), which no public header declares'

    # 14: a batch whose first submission tampers with the workbook (its
    # copy, the others', the original, the shared reference build): the
    # other two get exactly their solo scores, nothing changed.
    f=batch$s
    csv=$work/r/$f.out/grades.csv
    if [ "$(cat "$work/$f.rc")" = 0 ] &&
       [ "$(cat "$csv" 2>/dev/null)" = "name,score,max_score,ex01,status
a-tamper,$tests_total,$max,$tests_total,ok
b-solution,$tests_total,$max,$tests_total,ok
c-half,$half_expect,$max,$half_expect,ok" ]; then
        pass "$f: grades.csv: the tampering changed no score (solo: $tests_total and $half_expect)"
    else
        fail "$f: unexpected grades.csv (exit status $(cat "$work/$f.rc"))"
        sed 's/^/    | /' "$csv" "$work/$f.err" >&2 || true
    fi
    r=$(cat "$work/$f.root")
    ok=1
    tree_hash "$r" | cmp -s - "$work/$f.before" || ok=0
    for n in a-tamper b-solution c-half; do
        for p in harness/ex01_comparison/rubric.json harness/ex01_comparison/test_ex01.c \
                 build/bin/test-ex01 build/kit/test/ex01_comparison/subject-ex01.link; do
            cmp -s "$r/$p" "$work/r/$f.out/$n/workbook/$p" || ok=0
        done
        [ -e "$work/r/$f.out/$n/workbook/pwned" ] && ok=0
    done
    # Nothing of the batch's output (the shared reference build included)
    # got the tamperer's line; its own builds (work/) hold it as data.
    grep -rlaqx --exclude-dir=work '/\* tampered \*/' "$work/r/$f.out" && ok=0
    if [ "$ok" -eq 1 ]; then
        pass "$f: the workbook, each submission's copy and the reference build are unchanged"
    else
        fail "$f: a workbook file changed"
    fi
    faster $f 120

    # 14: every test hangs: the grading ends within the exercise's budget
    # (8 s, plus the time to start), and says why.
    rcheck budget$s 0 20
    file_has "$work/r/budget$s.out/results.json" '"output": "not run: the grading budget ran out'
done

no_leftovers "the real cases"
case $modes in
self)
    echo
    echo "NOTICE: not root: the attack classes ran as this user only, not as root"
    echo "NOTICE: with the subjects as other uids." ;;
root)
    echo
    echo "NOTICE: no setpriv: the attack classes did not run as an unprivileged uid." ;;
esac

echo
echo "grader self-test: $((SECONDS - t_start)) s"
if [ "$failures" -ne 0 ]; then
    echo "grader self-test: $failures check(s) failed" >&2
    exit 1
fi
echo "grader self-test: all checks passed"
