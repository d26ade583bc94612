#!/bin/sh
# The exact commands behind docs/benchmarks/flow-control (from the repository root).
set -e
inference-gateway bench flow-control --out docs/benchmarks/flow-control/results.md
inference-gateway bench flow-control --seed 1 --out docs/benchmarks/flow-control/results-seed1.md
inference-gateway bench flow-overhead --rounds 7 > docs/benchmarks/flow-control/overhead.md
