#!/bin/sh
# The commands behind docs/benchmarks/predicted (run from the repository root).
# Every policy, `lookahead` and `oracle:tuned` included, on 4 pods at 50/90/110 % of the
# probed capacity: every workload on a homogeneous pool and with one pod 2x and 3x slower,
# plus two speed classes (half the pods 1.5x slower). Stages are 20 s after 10 s of warmup
# for the ShareGPT-like workloads (2,000-3,000 requests of a few seconds each): lookahead
# forks every pod at every arrival. The shared-prefix workloads get 300 s after 60 s: their
# requests take 10-70 s and arrive at 2-8 a second, so a 90 s stage (up to session 21) held
# 170-400 of them, a p90 rested on the slowest 17-40, and which policy won a stage swung
# with a few requests (docs/benchmarks/HISTORY.md, session 22). multi-lora gets 180 s after
# 20 s: its p90 is set by the few requests that wait seconds for a LoRA slot (over 20 s it
# moved 10-30 % with the seed, over 60 s still up to 1.2x). Without FULL it runs a subset
# (26 runs); the published results are the whole matrix (48 runs, ~1 h on 2 cores):
#   FULL=1 sh docs/benchmarks/run-predicted.sh
# After a change to one policy, re-run it alone into the published runs (the others are
# kept: `bench policies --update`; `predicted` alone takes ~3 min):
#   FULL=1 POLICIES=predicted sh docs/benchmarks/run-predicted.sh
set -e
OUT=docs/benchmarks/predicted
run() {  # workload seed dir-suffix [heterogeneous options]
    w=$1; s=$2; d=$3; shift 3
    if [ -n "$POLICIES" ]; then set -- "$@" --policies "$POLICIES" --update
    elif [ -f "$OUT/$w-$d-s$s/results.json" ]; then return 0; fi
    case $w in shared-prefix*) t="--stage-seconds 300 --warmup-seconds 60" ;;
        multi-lora) t="--stage-seconds 180 --warmup-seconds 20" ;;
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
