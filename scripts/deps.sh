#!/usr/bin/env bash
# Installs what gatehouse needs on a fresh Debian machine that has only Rust,
# skipping whatever is already there. Usage: scripts/deps.sh build|test|bench
#   build: the C toolchain and libraries the crates build with (samael binds
#          libxml2/xmlsec1 through bindgen, which needs libclang; jemalloc is
#          built from source with make)
#   test:  also redis-server (tests start their own instances), xmlsec1,
#          chromium (browser tests), Node.js/npm and Python, and the pinned
#          test peers in tests/peers
#   bench: also wrk (the load generator) and perf (profiles)
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-build}"

missing=()
need() { # need COMMAND PACKAGE: install PACKAGE when COMMAND is absent
  command -v "$1" >/dev/null 2>&1 || missing+=("$2")
}
need_pkg() { # need_pkg PACKAGE: install when dpkg does not have it
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" || missing+=("$1")
}
need cc gcc
need make make
need pkg-config pkg-config
for p in libclang-dev libxml2-dev libxmlsec1-dev libssl-dev; do need_pkg "$p"; done
if [ "$mode" = "bench" ]; then
  need wrk wrk
  need perf linux-perf
fi
if [ "$mode" = "test" ] || [ "$mode" = "bench" ]; then
  need redis-server redis-server
  need xmlsec1 xmlsec1
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  need node nodejs
  need npm npm
  need python3 python3
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$mode" = "test" ] || [ "$mode" = "bench" ]; then
  # Test peers from the npm registry, pinned by tests/peers/package-lock.json.
  if [ ! -d tests/peers/node_modules ] || [ tests/peers/package-lock.json -nt tests/peers/node_modules ]; then
    (cd tests/peers && npm ci --no-audit --no-fund --loglevel=error)
  fi
  # pysaml2 (the upstream SAML IdP), pinned by tests/peers/requirements.txt.
  if [ ! -x tests/peers/.venv/bin/python ] || [ tests/peers/requirements.txt -nt tests/peers/.venv ]; then
    python3 -m venv tests/peers/.venv
    tests/peers/.venv/bin/pip install --quiet --disable-pip-version-check -r tests/peers/requirements.txt
    touch tests/peers/.venv
  fi
fi
