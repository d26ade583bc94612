#!/bin/sh
# The commands behind docs/benchmarks/upstream-latency (run from the repository root):
# upstream's predicted-latency configs, as GIE's chart (v1.5) and llm-d's guide ship them
# (tests/upstream/), on our in-process predictor, over the same stages as
# docs/benchmarks/predicted (4 pods, 50/90/110 %, every workload on a homogeneous pool and
# with one pod 2x and 3x slower, seeds 0 and 1). Each (policy, stage) runs alone on the
# same arrivals, so `bench summary` merges these runs with the published ones and judges
# the upstream configs against every policy there (~10 min on 2 cores); then the same on
# 100 pods (~1 h), and the SLO paths with SLO headers (`+slo`, ~20 min), whose runs are
# judged on their own and keep the shorter stages of session 21. SETS narrows a run
# (`matrix`, `large`, `slo`); POLICIES re-runs those alone into the runs already there
# (`bench policies --update`), e.g. after a change to `predicted`:
#   SETS=slo POLICIES=predicted,predicted+slo sh docs/benchmarks/run-upstream-latency.sh
set -e
OUT=docs/benchmarks/upstream-latency
U=tests/upstream
UPSTREAM="$U/predicted_latency_chart_v1.5.yaml,$U/llm_d_predicted_latency.yaml"
SLO="predicted,predicted+slo,scorer-mix,$U/llm_d_predicted_latency_slo.yaml+slo"
SLO="$SLO,$U/predicted_latency_chart_v1.5.yaml+slo"
SETS=${SETS:-matrix large slo}
one() {  # stages out-dir pods seed policies workload dir-suffix [heterogeneous options]
    stages=$1; dir=$2; pods=$3; s=$4; policies=$5; w=$6; d=$7; shift 7
    out="$dir/$w-$d-s$s"
    if [ -n "$POLICIES" ]; then policies=$POLICIES; set -- "$@" --update
    elif [ -f "$out/results.json" ]; then return 0; fi
    case $stages in
        matrix)  # those of docs/benchmarks/predicted (run-predicted.sh)
            case $w in shared-prefix*) t="--stage-seconds 300 --warmup-seconds 60" ;;
                multi-lora) t="--stage-seconds 180 --warmup-seconds 20" ;;
                *) t="--stage-seconds 20 --warmup-seconds 10" ;; esac ;;
        short)  # the matrix's before session 22
            case $w in shared-prefix*) t="--stage-seconds 90 --warmup-seconds 30" ;;
                multi-lora) t="--stage-seconds 60 --warmup-seconds 10" ;;
                *) t="--stage-seconds 20 --warmup-seconds 10" ;; esac ;;
        large)  # those of docs/benchmarks/large
            case $w in shared-prefix*) t="--stage-seconds 20 --warmup-seconds 30" ;;
                *) t="--stage-seconds 20 --warmup-seconds 10" ;; esac ;;
    esac
    # shellcheck disable=SC2086
    inference-gateway bench policies --workload "$w" --pods "$pods" --seed "$s" $t \
        --fractions 0.5,0.9,1.1 --out "$out" --no-progress --policies "$policies" \
        "$@" > /dev/null
    rm -f "$out"/*.png
}
case " $SETS " in *" matrix "*)
    for s in 0 1; do
        for w in sharegpt shared-prefix multi-lora shared-prefix-low mixed-criticality bursty; do
            one matrix "$OUT" 4 "$s" "$UPSTREAM" "$w" homogeneous
            one matrix "$OUT" 4 "$s" "$UPSTREAM" "$w" slow2x --heterogeneous --slow-factor 2
            one matrix "$OUT" 4 "$s" "$UPSTREAM" "$w" slow3x --heterogeneous --slow-factor 3
        done
    done ;;
esac
case " $SETS " in *" large "*)
    for w in sharegpt shared-prefix multi-lora; do
        one large "$OUT/large" 100 0 "$UPSTREAM" "$w" homogeneous
        one large "$OUT/large" 100 0 "$UPSTREAM" "$w" classes --heterogeneous --slow-pods 50 \
            --slow-factor 1.5
        one large "$OUT/large" 100 0 "$UPSTREAM" "$w" tenth3x --heterogeneous --slow-pods 10 \
            --slow-factor 3
    done ;;
esac
case " $SETS " in *" slo "*)
    for s in 0 1; do
        for w in sharegpt mixed-criticality; do one short "$OUT/slo" 4 "$s" "$SLO" "$w" homogeneous; done
        for w in sharegpt mixed-criticality multi-lora shared-prefix; do
            one short "$OUT/slo" 4 "$s" "$SLO" "$w" slow3x --heterogeneous --slow-factor 3
        done
    done ;;
esac
for p in predicted_latency_chart_v1.5 llm_d_predicted_latency; do
    inference-gateway bench summary docs/benchmarks/predicted/*/ "$OUT"/*/ --policy "$p" \
        --out "$OUT/summary-$p.md" > /dev/null
    inference-gateway bench summary docs/benchmarks/large/*/ "$OUT"/large/*/ --policy "$p" \
        --out "$OUT/large/summary-$p.md" > /dev/null
done
