#!/usr/bin/env bash
# Installs what gatehouse needs on a fresh Debian machine that has only Rust,
# skipping whatever is already there. Usage: scripts/deps.sh build|test
set -euo pipefail

build_pkgs=(pkg-config gcc)
test_pkgs=(redis-server)

want=("${build_pkgs[@]}")
if [ "${1:-build}" = "test" ]; then
  want+=("${test_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The distribution's redis-server service is not used: tests start their own
# instances on ephemeral loopback ports.
if [ "${1:-build}" = "test" ] && command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now redis-server >/dev/null 2>&1 || true
fi
