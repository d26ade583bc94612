#!/bin/sh
# The commands behind docs/benchmarks/xl (run from the repository root): 400 simulated pods,
# multi-lora (15 adapters, 3 slots a pod) with a tenth of the pods (40) 3x slower, and
# sharegpt on the same pool, at 50/90/110 % of the probed capacity, seed 0. Stages are 10 s
# after 10 s of warmup (~19,000-43,000 requests a stage on multi-lora). `predicted` scores a
# sample of 128 of the 400 (`candidate-sample-filter`); `lookahead` and `oracle:tuned` are
# left out (the first forks 400 engines per arrival). WORKLOADS narrows a run; POLICIES
# re-runs those alone into the published runs (`bench policies --update`).
set -e
OUT=docs/benchmarks/xl
ALL=predicted,tuned,least-request,default,scorer-mix
for w in ${WORKLOADS:-multi-lora sharegpt}; do
    [ -z "$POLICIES" ] && [ -f "$OUT/$w-tenth3x-s0/results.json" ] && continue
    inference-gateway bench policies --workload "$w" --pods 400 --seed 0 \
        --stage-seconds 10 --warmup-seconds 10 --fractions 0.5,0.9,1.1 \
        --policies "${POLICIES:-$ALL}" ${POLICIES:+--update} --heterogeneous \
        --slow-pods 40 --slow-factor 3 \
        --out "$OUT/$w-tenth3x-s0" --no-progress > /dev/null
done
inference-gateway bench summary "$OUT"/*/ --policy predicted --out "$OUT/summary.md" > /dev/null
