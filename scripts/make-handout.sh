#!/usr/bin/env bash
# make-handout.sh - writes a student repository: `make handout` runs it.
#
#   scripts/make-handout.sh OUT
#
# OUT gets the skeletons, harness, grader, docs, the autograding workflows
# and a README for students, but no solution sources: the reference that the
# grader times submissions against ships as prebuilt objects in reference/
# (compiled as the grader compiles a submission, without debug information).  The
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

# The reference, as objects: compiled exactly as the grader compiles a
# submission (the kit's flags, one preprocessing, then each variant's
# flags), for the variants a grading links with the reference: test (the
# tests' comparisons, make ex01) and bench (timing).  The grader links them
# with the kit; only it may use prebuilt objects, and only from reference/.
make -s --no-print-directory kits
refbuild=build/handout-ref
rm -rf "$refbuild"
exercises=$(make -s --no-print-directory print-exercises)
for e in $exercises; do
    dir=$(make -s --no-print-directory print-dir EXERCISE="$e")
    mapfile -t cflags < "build/kit/$dir.cflags"
    for todo in $(make -s --no-print-directory print-todo EXERCISE="$e"); do
        stem=${todo%.c}
        mkdir -p "$refbuild/$dir"
        gcc "${cflags[@]}" -O1 -E "solutions/$dir/$todo" -o "$refbuild/$dir/$stem.i"
        for v in test bench; do
            mapfile -t vflags < "build/kit/$v.vflags"
            mkdir -p "$out/reference/$v/$dir"
            gcc "${cflags[@]}" "${vflags[@]}" -c -x cpp-output "$refbuild/$dir/$stem.i" \
                -o "$refbuild/$dir/$stem.$v.o"
            objcopy --strip-debug "$refbuild/$dir/$stem.$v.o" "$out/reference/$v/$dir/$stem.o"
        done
    done
done

# The manifest of the handout's own protected files.
git -C "$out" init -q
git -C "$out" add -A
make -s --no-print-directory build/bin/grader
build/bin/grader --root "$out" --write-manifest >/dev/null
rm -rf "$out/.git"
echo "handout: wrote $out ($(find "$out" -type f | wc -l) files; reference objects:" \
     "$(find "$out/reference" -name '*.o' | wc -l)); no solution sources"
