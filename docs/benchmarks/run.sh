#!/bin/sh
# The exact commands behind docs/benchmarks (run from the repository root; ~13 min on 2 cores).
set -e
for workload in sharegpt shared-prefix shared-prefix-low multi-lora mixed-criticality bursty; do
    inference-gateway bench policies --workload "$workload" --pods 8 --seed 0 \
        --out "docs/benchmarks/$workload" --no-progress > /dev/null
done
inference-gateway bench policies --workload sharegpt --pods 8 --seed 0 --heterogeneous \
    --out docs/benchmarks/sharegpt-heterogeneous --no-progress > /dev/null
# A second seed of the noisiest workload, for the noise section of README.md.
inference-gateway bench policies --workload shared-prefix --pods 8 --seed 1 \
    --out docs/benchmarks/shared-prefix-seed1 --no-progress > /dev/null
