#!/usr/bin/env bash
# Reproduces BENCHMARKS.md: installs what is missing (wrk, perf, redis,
# the npm/PyPI peers), builds release, then starts a real Redis, the gateway
# and the peers on loopback and runs every scenario (bench/main.rs).
# Usage: scripts/bench.sh            full run (about 10 minutes) → BENCHMARKS.md
#        scripts/bench.sh --smoke    every scenario briefly on a debug build
#                                    (CI) → target/bench-smoke.md
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh bench
if [ "${1:-}" = "--smoke" ]; then
  cargo build --locked --bin gatehouse --example bench
  exec target/debug/examples/bench --smoke --gatehouse target/debug/gatehouse --out target/bench-smoke.md
fi
cargo build --locked --release --bin gatehouse --example bench
exec target/release/examples/bench --gatehouse target/release/gatehouse --out BENCHMARKS.md
