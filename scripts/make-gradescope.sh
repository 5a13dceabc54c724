#!/usr/bin/env bash
# make-gradescope.sh - `make gradescope`: writes build/gradescope/autograder.zip,
# an autograder for Gradescope (its "zip file upload" configuration).
# Gradescope unpacks the zip into /autograder/source/ and copies
# run_autograder to /autograder/run_autograder:
#   setup.sh         installs the packages and builds the tests once
#   run_autograder   grades a submission's TODO files with the trusted copies
#   workbook/        the workbook as a handout: no solution sources, the
#                    reference as prebuilt objects (scripts/make-handout.sh)
# Upload the zip as the assignment's autograder; students submit their
# repository (or just their TODO files).
set -euo pipefail
cd "$(dirname "$0")/.."

out=build/gradescope
rm -rf "$out"
mkdir -p "$out/pkg"
scripts/make-handout.sh "$out/pkg/workbook" >/dev/null
cp scripts/gradescope/setup.sh scripts/gradescope/run_autograder "$out/pkg/"
(cd "$out/pkg" && zip -qr ../autograder.zip setup.sh run_autograder workbook)
echo "gradescope: wrote $out/autograder.zip ($(du -h "$out/autograder.zip" | cut -f1)): upload it as" \
     "the assignment's autograder (docs/en/instructor.md#gradescope)"
