#!/usr/bin/env bash
# Installs what gatehouse needs on a fresh Debian machine that has only Rust,
# skipping whatever is already there. Usage: scripts/deps.sh build|test
#   build: the C toolchain bits the crates build with
#   test:  also redis-server (tests start their own instances), Node.js and
#          npm, and the npm packages of the test peers (tests/peers)
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-build}"

missing=()
need() { # need COMMAND PACKAGE: install PACKAGE when COMMAND is absent
  command -v "$1" >/dev/null 2>&1 || missing+=("$2")
}
need cc gcc
need pkg-config pkg-config
if [ "$mode" = "test" ]; then
  need redis-server redis-server
  need node nodejs
  need npm npm
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$mode" = "test" ]; then
  # Test peers from the npm registry, pinned by tests/peers/package-lock.json.
  if [ ! -d tests/peers/node_modules ] || [ tests/peers/package-lock.json -nt tests/peers/node_modules ]; then
    (cd tests/peers && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
