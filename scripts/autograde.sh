#!/usr/bin/env bash
# autograde.sh - grades a pull request of a student repository; the logic of
# .github/workflows/autograde.yml, kept here so that `make check` can run it.
#
#   scripts/autograde.sh BASE PR OUT [grader options...]
#
# BASE  a checkout of the base branch: trusted.  Its Makefile, grader,
#       harness, rubrics, headers and given code are the ones used.
# PR    a checkout of the pull request: untrusted.  Only its TODO files
#       (PR/skeletons/exNN_name/<todo>) are compiled and graded; every other
#       file students must not edit is compared with BASE's manifest, and a
#       difference is reported and fails the check (the grader's CI mode),
#       without changing the score.
# OUT   where the reports go: results.json, summary.md (also appended to
#       $GITHUB_STEP_SUMMARY when set), junit.xml, logs.
# Grader options, e.g. --min-score 50, --exercise ex01, --no-timing.
#
# Exit status: the grader's: 0 graded, 1 below --min-score or a protected file
# differs, 2 a usage or internal error.
set -euo pipefail

if [[ $# -lt 3 ]]; then
    echo "usage: $0 BASE PR OUT [grader options...]" >&2
    exit 2
fi
base=$(realpath "$1")
pr=$(realpath "$2")
out=$3
shift 3
[[ -f $base/Makefile && -d $base/grader ]] || { echo "autograde: $base is not a workbook checkout" >&2; exit 2; }
[[ -d $pr/skeletons ]] || { echo "autograde: $pr has no skeletons/ folder" >&2; exit 2; }

# A student repository (a handout) has the reference as objects in reference/.
reference=()
[[ -d $base/solutions || ! -d $base/reference ]] || reference=(--reference "$base/reference")

make -s --no-print-directory -C "$base" deps build/bin/grader
exec "$base/build/bin/grader" --root "$base" --submission "$pr/skeletons" \
    --submission-root "$pr" --ci --out "$out" "${reference[@]}" "$@"
