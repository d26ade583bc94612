#!/bin/sh
# By hand, with a second outside load generator: vLLM's guidellm (0.8; `pip install
# guidellm` in a Python >= 3.10 venv, which pulls in PyTorch) drives the standalone gateway
# (real Envoy + EPP) over four simulator pods, one of them 3x slower (_standalone-pool.sh),
# with a routing config: Poisson arrivals of streamed chat completions, 256-token prompts
# and 16-1,024 output tokens (mean 512). It prints guidellm's latency percentiles and how
# many requests each pod served. From the repository root:
#   GUIDELLM=/path/to/guidellm TOKENIZER=/path/to/tokenizer-dir \
#     sh docs/benchmarks/run-guidellm.sh predicted 25 60
# (config, requests/s, seconds). guidellm cancels the requests still streaming when the
# time is up and reports them as incomplete; the pods count only completed ones.
# PREFIXES=N PREFIX_TOKENS=T puts one of N shared T-token prefixes (guidellm's
# prefix_count/prefix_tokens) before each prompt: a shared-prefix workload.
set -e
CFG=${1:-predicted}; RATE=${2:-25}; DUR=${3:-60}
SHARED=""
[ -n "$PREFIXES" ] && SHARED=",prefix_count=$PREFIXES,prefix_tokens=${PREFIX_TOKENS:-2048}"
. docs/benchmarks/_standalone-pool.sh
start_pool
HF_HUB_OFFLINE=1 "$GUIDELLM" run --disable-progress \
    --backend kind=openai_http,target=http://127.0.0.1:8081,model=food-review \
    --profile "kind=poisson,rate=$RATE" --constraint "kind=max_duration,seconds=$DUR" \
    --tokenizer "kind=huggingface_auto,model=$TOKENIZER" \
    --data kind=synthetic_text,prompt_tokens=256,output_tokens=512,output_tokens_stdev=128,output_tokens_min=16,output_tokens_max=1024$SHARED \
    --output "kind=json,path=$W/guidellm.json" > "$W/guidellm.log" 2>&1
python3 - "$W/guidellm.json" <<'PY'
import json, sys
bench = json.load(open(sys.argv[1]))["benchmarks"][0]
metrics = bench["metrics"]
print("requests", *(f"{k} {v}" for k, v in metrics["request_totals"].items()))
# guidellm 0.8.1's Poisson profile sets its start event before its shared arrival offset,
# so a worker may schedule from the offset's initial -1.0: those requests are all due at
# once, a burst on top of the minute's arrivals (seen as 1,778-1,827 requests for ~1,500).
sent = [r["info"] for k in ("successful", "incomplete", "errored") for r in bench["requests"].get(k, [])]
early = sum(i["timings"]["targeted_start"] < i["scheduler_start_time"] - 1 for i in sent)
if early:
    print(f"WARNING: guidellm scheduled {early} requests before its start: the run opened with a burst; run it again")
for key, unit in (("request_latency", "s"), ("time_to_first_token_ms", "ms"), ("time_per_output_token_ms", "ms")):
    ok = metrics[key]["successful"]
    print(key, unit, *(f"{q} {ok['percentiles'][q]:.2f}" for q in ("p50", "p90", "p99")))
PY
served_per_pod
