#!/bin/sh
# The commands behind docs/benchmarks/large (run from the repository root): the routing
# policies on a pool of 100 simulated pods, at 50/90/110 % of the probed capacity, on a
# homogeneous pool, on two speed classes (half the pods 1.5x slower) and with a tenth of
# the pods 3x slower. `lookahead` is left out: it forks all 100 engines at every arrival.
# Stages are 20 s after 10 s of warmup (30 s for the shared-prefix workloads); at 100 pods
# that is 25x the requests of a 4-pod stage. Seeds 0 and 1 (SEEDS); POOLS, WORKLOADS and
# SEEDS narrow a run, e.g.
#   POOLS=tenth3x WORKLOADS=multi-lora SEEDS=1 sh docs/benchmarks/run-large.sh
# POLICIES re-runs those alone into the published runs (`bench policies --update`):
#   POLICIES=predicted sh docs/benchmarks/run-large.sh
set -e
OUT=docs/benchmarks/large
PODS=100
ALL=round-robin,least-request,default,scorer-mix,tuned,oracle:tuned,predicted
run() {  # workload pool [heterogeneous options]
    w=$1; d=$2; shift 2
    if [ -n "$POLICIES" ]; then set -- "$@" --update
    elif [ -f "$OUT/$w-$d-s$s/results.json" ]; then return 0; fi
    case $w in shared-prefix*) t="--warmup-seconds 30" ;; *) t="--warmup-seconds 10" ;; esac
    # shellcheck disable=SC2086
    inference-gateway bench policies --workload "$w" --pods "$PODS" --seed "$s" \
        --stage-seconds 20 $t --fractions 0.5,0.9,1.1 --policies "${POLICIES:-$ALL}" \
        --out "$OUT/$w-$d-s$s" --no-progress "$@" > /dev/null
}
for s in ${SEEDS:-0 1}; do
    for w in ${WORKLOADS:-sharegpt shared-prefix multi-lora}; do
        for p in ${POOLS:-homogeneous classes tenth3x}; do
            case $p in
                homogeneous) run "$w" "$p" ;;
                classes) run "$w" "$p" --heterogeneous --slow-pods 50 --slow-factor 1.5 ;;
                tenth3x) run "$w" "$p" --heterogeneous --slow-pods 10 --slow-factor 3 ;;
            esac
        done
    done
done
inference-gateway bench summary "$OUT"/*/ --policy predicted --out "$OUT/summary.md" > /dev/null
