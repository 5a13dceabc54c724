#!/usr/bin/env bash
# make-handout.sh - writes a student repository: `make handout` runs it.
#
#   scripts/make-handout.sh OUT
#
# OUT gets the skeletons, harness, grader, docs, the autograding workflows
# and a README for students, but no solution sources: the reference that the
# grader times submissions against ships as prebuilt objects in reference/
# (compiled at -O2 without debug information, as the benchmarks are).  The
# integrity manifest is rewritten for the files the handout has.  OUT is
# ready for `git init`; the instructor's own tests (make check, the grader's
# self-test) stay with the workbook.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ $# -eq 1 ]] || { echo "usage: $0 OUT" >&2; exit 2; }
out=$1
case $out in /|.|..|"$PWD") echo "make-handout: refusing to write into $out" >&2; exit 2 ;; esac
rm -rf "$out"
mkdir -p "$out"

# The files: everything the workbook tracks (or has, not ignored) but what is
# the maintainers' alone.
git ls-files -z --cached --others --exclude-standard |
    grep -zv -E '^(solutions/|\.ci/|\.github/workflows/ci\.yml$|grader/tests/|grader/manifest\.sha256$|harness/ex04_websocket/fuzz\.sh$|harness/peers/|README\.md$)' |
    xargs -0 cp --parents -t "$out"
cp scripts/handout/README.md "$out/README.md"

# The reference, as objects: built like a submission's benchmark objects.
refbuild=build/handout-ref
exercises=$(make -s --no-print-directory print-exercises)
for e in $exercises; do
    make -s --no-print-directory SUBMISSION=solutions SUBBUILD="$refbuild" "bench-$e" >/dev/null
done
while IFS= read -r -d '' obj; do
    rel=${obj#"$refbuild/o2/obj/todo/"}
    mkdir -p "$out/reference/$(dirname "$rel")"
    objcopy --strip-debug "$obj" "$out/reference/$rel"
done < <(find "$refbuild/o2/obj/todo" -name '*.o' -print0)

# The manifest of the handout's own protected files.
git -C "$out" init -q
git -C "$out" add -A
make -s --no-print-directory build/bin/grader
build/bin/grader --root "$out" --write-manifest >/dev/null
rm -rf "$out/.git"
echo "handout: wrote $out ($(find "$out" -type f | wc -l) files; reference objects:" \
     "$(find "$out/reference" -name '*.o' | wc -l)); no solution sources"
