#!/bin/sh
# The commands behind docs/benchmarks/upstream-latency (run from the repository root):
# upstream's predicted-latency configs, as GIE's chart (v1.5) and llm-d's guide ship them
# (tests/upstream/), on our in-process predictor, over the same stages as
# docs/benchmarks/predicted (4 pods, 50/90/110 %, every workload on a homogeneous pool and
# with one pod 2x and 3x slower, seeds 0 and 1). Each (policy, stage) runs alone on the
# same arrivals, so `bench summary` merges these runs with the published ones and judges
# the upstream configs against every policy there (~10 min on 2 cores); then the same on
# 100 pods (~1 h), and the SLO paths with SLO headers (`+slo`, ~20 min).
set -e
OUT=docs/benchmarks/upstream-latency
U=tests/upstream
run() {  # workload seed dir-suffix [heterogeneous options]
    w=$1; s=$2; d=$3; shift 3
    [ -f "$OUT/$w-$d-s$s/results.json" ] && return 0
    case $w in shared-prefix*) t="--stage-seconds 90 --warmup-seconds 30" ;;
        multi-lora) t="--stage-seconds 60 --warmup-seconds 10" ;;
        *) t="--stage-seconds 20 --warmup-seconds 10" ;; esac
    # shellcheck disable=SC2086
    inference-gateway bench policies --workload "$w" --pods 4 --seed "$s" $t \
        --fractions 0.5,0.9,1.1 --out "$OUT/$w-$d-s$s" --no-progress \
        --policies "$U/predicted_latency_chart_v1.5.yaml,$U/llm_d_predicted_latency.yaml" \
        "$@" > /dev/null
    rm -f "$OUT/$w-$d-s$s"/*.png
}
for s in 0 1; do
    for w in sharegpt shared-prefix multi-lora shared-prefix-low mixed-criticality bursty; do
        run "$w" "$s" homogeneous
        run "$w" "$s" slow2x --heterogeneous --slow-factor 2
        run "$w" "$s" slow3x --heterogeneous --slow-factor 3
    done
done
# The same on 100 pods over the stages of docs/benchmarks/large (seed 0; no lookahead there).
large() {  # workload dir-suffix [heterogeneous options]
    w=$1; d=$2; shift 2
    [ -f "$OUT/large/$w-$d-s0/results.json" ] && return 0
    case $w in shared-prefix*) t="--warmup-seconds 30" ;; *) t="--warmup-seconds 10" ;; esac
    # shellcheck disable=SC2086
    inference-gateway bench policies --workload "$w" --pods 100 --seed 0 --stage-seconds 20 \
        $t --fractions 0.5,0.9,1.1 --out "$OUT/large/$w-$d-s0" --no-progress \
        --policies "$U/predicted_latency_chart_v1.5.yaml,$U/llm_d_predicted_latency.yaml" \
        "$@" > /dev/null
    rm -f "$OUT/large/$w-$d-s0"/*.png
}
for w in sharegpt shared-prefix multi-lora; do
    large "$w" homogeneous
    large "$w" classes --heterogeneous --slow-pods 50 --slow-factor 1.5
    large "$w" tenth3x --heterogeneous --slow-pods 10 --slow-factor 3
done
# With SLO headers (the goodput objectives), seeds 0 and 1: the SLO paths side by side.
slo() {  # workload dir-suffix [heterogeneous options]
    w=$1; d=$2; shift 2
    for s in 0 1; do slo_seed "$w" "$d" "$s" "$@"; done
}
slo_seed() {  # workload dir-suffix seed [heterogeneous options]
    w=$1; d=$2; s=$3; shift 3
    [ -f "$OUT/slo/$w-$d-s$s/results.json" ] && return 0
    case $w in shared-prefix*) t="--stage-seconds 90 --warmup-seconds 30" ;;
        multi-lora) t="--stage-seconds 60 --warmup-seconds 10" ;;
        *) t="--stage-seconds 20 --warmup-seconds 10" ;; esac
    # shellcheck disable=SC2086
    inference-gateway bench policies --workload "$w" --pods 4 --seed "$s" $t \
        --fractions 0.5,0.9,1.1 --out "$OUT/slo/$w-$d-s$s" --no-progress \
        --policies "predicted,predicted+slo,scorer-mix,$U/llm_d_predicted_latency_slo.yaml+slo,$U/predicted_latency_chart_v1.5.yaml+slo" \
        "$@" > /dev/null
    rm -f "$OUT/slo/$w-$d-s$s"/*.png
}
for w in sharegpt mixed-criticality; do slo "$w" homogeneous; done
for w in sharegpt mixed-criticality multi-lora shared-prefix; do
    slo "$w" slow3x --heterogeneous --slow-factor 3
done
for p in predicted_latency_chart_v1.5 llm_d_predicted_latency; do
    inference-gateway bench summary docs/benchmarks/predicted/*/ "$OUT"/*/ --policy "$p" \
        --out "$OUT/summary-$p.md" > /dev/null
    inference-gateway bench summary docs/benchmarks/large/*/ "$OUT"/large/*/ --policy "$p" \
        --out "$OUT/large/summary-$p.md" > /dev/null
done
