#!/bin/sh
# By hand, with an outside load generator: kubernetes-sigs' inference-perf drives the
# standalone gateway (real Envoy + EPP) over four simulator pods, one of them 3x slower
# (127.0.0.14), with a routing config, and prints inference-perf's latency summary and how
# many requests each pod served (the pool: _standalone-pool.sh). From the repository root:
#   INFERENCE_PERF=/path/to/inference-perf TOKENIZER=/path/to/tokenizer-dir \
#     sh docs/benchmarks/run-inference-perf.sh predicted 40 60
# (config, requests/s, seconds; inference-perf needs Python >= 3.12, see README.md).
# ADAPTERS=N (with MAX_LORAS=M, default 1) instead sends all traffic to N LoRA adapters
# (adapter-1..N, Standard; a third of them at weight 6, a third at 3, a third at 1, so 15
# is the harness's multi-lora split) that the pods serve with M slots each, so requests
# wait for a slot: the case `slotHoldCost` prices (ADAPTERS=15 MAX_LORAS=3).
set -e
CFG=${1:-predicted}; RATE=${2:-40}; DUR=${3:-60}
. docs/benchmarks/_standalone-pool.sh
sed -e "s/  - rate: 5/  - rate: $RATE/" -e "s/    duration: 10/    duration: $DUR/" \
    -e "s#/path/to/tokenizer-dir#$TOKENIZER#" -e "s#path: reports#path: $W/reports#" \
    -e "s/output_distribution: .*/output_distribution: {min: 16, max: 1024, mean: 512, std_dev: 128}/" \
    examples/inference-perf.yaml > "$W/perf.yaml"
if [ -n "$ADAPTERS" ]; then
    NAMES=$(seq -s, -f "adapter-%g" 1 "$ADAPTERS")
    LORA="--lora $NAMES --max-loras ${MAX_LORAS:-1}"
    python3 - "$ADAPTERS" "$W/pool.yaml" "$W/perf.yaml" <<'PY'
import sys
n, pool, perf = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with open(pool, "a") as f:
    for i in range(1, n + 1):
        f.write(f"""---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata: {{name: adapter-{i}, namespace: default}}
spec:
  modelName: adapter-{i}
  criticality: Standard
  poolRef: {{name: vllm-llama3-8b-instruct}}
""")
weights = [6 if 3 * i < n else 3 if 3 * i < 2 * n else 1 for i in range(n)]
shares = [round(w / sum(weights), 4) for w in weights]
shares[-1] = round(1 - sum(shares[:-1]), 4)
split = "".join(f"  - name: adapter-{i + 1}\n    split: {x}\n" for i, x in enumerate(shares))
text = open(perf).read()
head, rest = text.split("  lora_traffic_split:\n")
rest = rest[rest.index("api:"):]
open(perf, "w").write(head + "  lora_traffic_split:\n" + split + rest)
PY
fi
start_pool
HF_HUB_OFFLINE=1 "$INFERENCE_PERF" -c "$W/perf.yaml" > "$W/perf.log" 2>&1
python3 - "$W/reports/summary_lifecycle_metrics.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ok, lat = d["successes"]["count"], d["successes"]["latency"]
print(f"ok {ok} failed {d.get('failures', {}).get('count', 0)}")
for key, unit in (("request_latency", 1), ("time_to_first_token", 1000), ("time_per_output_token", 1000)):
    print(key, *(f"{q} {lat[key][q] * unit:.2f}" for q in ("median", "p90", "p99")))
PY
served_per_pod
