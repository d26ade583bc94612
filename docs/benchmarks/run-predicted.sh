#!/bin/sh
# The commands behind docs/benchmarks/predicted (run from the repository root).
# Every policy, `lookahead` and `oracle:tuned` included, on 4 pods at 50/90/110 % of the
# probed capacity: every workload on a homogeneous pool and with one pod 2x and 3x slower,
# plus two speed classes (half the pods 1.5x slower). Stages are shortened to 20 s after
# 10 s of warmup (90 s after 30 s for the shared-prefix workloads): lookahead forks every pod
# at every arrival. multi-lora gets 60 s stages: its p90 is set by the few requests that
# wait seconds for a LoRA slot, and over 20 s it moved 10-30 % with the seed. Without FULL it runs a subset (26 runs, ~45 min on a busy 2-core
# machine); the published results are the whole matrix (48 runs, ~30 min):
#   FULL=1 sh docs/benchmarks/run-predicted.sh
set -e
OUT=docs/benchmarks/predicted
run() {  # workload seed dir-suffix [heterogeneous options]
    w=$1; s=$2; d=$3; shift 3
    [ -f "$OUT/$w-$d-s$s/results.json" ] && return 0
    case $w in shared-prefix*) t="--stage-seconds 90 --warmup-seconds 30" ;;
        multi-lora) t="--stage-seconds 60 --warmup-seconds 10" ;;
        *) t="--stage-seconds 20 --warmup-seconds 10" ;; esac
    # shellcheck disable=SC2086
    inference-gateway bench policies --workload "$w" --pods 4 --seed "$s" $t \
        --fractions 0.5,0.9,1.1 --out "$OUT/$w-$d-s$s" --no-progress "$@" > /dev/null
}
pools() {  # workload seed
    run "$1" "$2" homogeneous
    run "$1" "$2" slow2x --heterogeneous --slow-factor 2
    run "$1" "$2" slow3x --heterogeneous --slow-factor 3
}
ALL="sharegpt shared-prefix multi-lora shared-prefix-low mixed-criticality bursty"
for w in $ALL; do pools "$w" 0; done
run sharegpt 0 classes --heterogeneous --slow-pods 2 --slow-factor 1.5
run shared-prefix 0 classes --heterogeneous --slow-pods 2 --slow-factor 1.5
for w in shared-prefix multi-lora; do pools "$w" 1; done
if [ -n "$FULL" ]; then
    for w in $ALL; do
        pools "$w" 1
        for s in 0 1; do run "$w" "$s" classes --heterogeneous --slow-pods 2 --slow-factor 1.5; done
    done
fi
inference-gateway bench summary "$OUT"/*/ --policy predicted --out "$OUT/summary.md" > /dev/null
