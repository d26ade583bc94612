#!/bin/sh
# The commands behind docs/benchmarks/predicted (run from the repository root).
# Every workload, on a homogeneous pool and with one pod 2x and 3x slower, plus two speed
# classes (half the pods 1.5x slower), at 50/90/110 % of the probed capacity, seeds 0 and 1;
# 4 pods, every policy including `lookahead` and `oracle:tuned`. The full matrix is
# ~3 h of CPU (lookahead forks every pod at every arrival); SUBSET=1 runs what the
# published tables cover (seed 0 first, in this order) and stops where it is told.
set -e
OUT=docs/benchmarks/predicted
run() {  # workload seed dir-suffix [heterogeneous options]
    w=$1; s=$2; d=$3; shift 3
    [ -f "$OUT/$w-$d-s$s/results.json" ] && return 0
    inference-gateway bench policies --workload "$w" --pods 4 --seed "$s" \
        --fractions 0.5,0.9,1.1 --out "$OUT/$w-$d-s$s" --no-progress "$@" > /dev/null
}
for seed in 0 1; do
    for w in sharegpt shared-prefix multi-lora shared-prefix-low mixed-criticality bursty; do
        run "$w" "$seed" homogeneous
        run "$w" "$seed" slow2x --heterogeneous --slow-factor 2
        run "$w" "$seed" slow3x --heterogeneous --slow-factor 3
        run "$w" "$seed" classes --heterogeneous --slow-pods 2 --slow-factor 1.5
    done
done
inference-gateway bench summary "$OUT"/*/ --policy predicted --out "$OUT/summary.md" > /dev/null
