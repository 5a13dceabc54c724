#!/usr/bin/env bash
# setup.sh - Gradescope runs this once, as root, when it builds the
# autograder's image (https://gradescope-autograders.readthedocs.io/en/latest/specs/).
# It installs the packages the workbook needs and builds, once, everything
# that does not depend on a submission: the tests (the judge), the grader's
# kit and the reference's programs.
set -euo pipefail
root=${AUTOGRADER_ROOT:-/autograder}
cd "$root/source/workbook"
scripts/ensure-deps.sh
make -s --no-print-directory build/bin/grader trusted
