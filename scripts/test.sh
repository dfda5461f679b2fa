#!/usr/bin/env bash
# Runs the whole test suite: unit tests and the `it` integration binary,
# which starts real redis-server instances on ephemeral loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
exec cargo test --locked "$@"
