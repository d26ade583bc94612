#!/bin/sh
# The exact commands behind docs/benchmarks (run from the repository root; ~20 min on 2 cores).
# Every policy but `lookahead`, which forks every pod at every arrival and is run on 4 pods
# by run-predicted.sh instead. POLICIES re-runs those alone into the published runs
# (`bench policies --update`), e.g. after a change to one of them:
#   POLICIES=predicted sh docs/benchmarks/run.sh
set -e
P=${POLICIES:-random,round-robin,least-request,default,scorer-mix,tuned,predicted,oracle:tuned}
U=${POLICIES:+--update}
for workload in sharegpt shared-prefix shared-prefix-low multi-lora mixed-criticality bursty; do
    inference-gateway bench policies --workload "$workload" --pods 8 --seed 0 --policies "$P" \
        --out "docs/benchmarks/$workload" --no-progress $U > /dev/null
done
inference-gateway bench policies --workload sharegpt --pods 8 --seed 0 --heterogeneous --policies "$P" \
    --out docs/benchmarks/sharegpt-heterogeneous --no-progress $U > /dev/null
# A second seed of the noisiest workload, for the noise section of README.md.
inference-gateway bench policies --workload shared-prefix --pods 8 --seed 1 --policies "$P" \
    --out docs/benchmarks/shared-prefix-seed1 --no-progress $U > /dev/null
