#!/usr/bin/env bash
# Runs the gateway on its embedded defaults (SQLite in ./data, in-process
# session store, keys generated into ./certs). Extra arguments go to `serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
exec cargo run --locked --bin gatehouse -- serve "$@"
