# Sourced by run-inference-perf.sh and run-guidellm.sh (from the repository root): the
# standalone gateway (real Envoy + EPP) over four simulator pods, one of them 3x slower
# (127.0.0.14), routing with the config in $CFG. Ports: 8081 (Envoy), 9002 (ext_proc),
# 9090 (EPP metrics), 19000 (Envoy admin), 8000 on the pods. The caller may add documents
# to "$W/pool.yaml" and change $LORA before `start_pool`.
G=$PWD/.venv/bin/inference-gateway
W=$(mktemp -d)
MODEL=meta-llama/Llama-3.1-8B-Instruct
LORA="--lora food-review-1,food-review-2 --max-loras 2"
cp examples/standalone.yaml "$W/pool.yaml"
cat >> "$W/pool.yaml" <<YAML
---
apiVersion: v1
kind: Pod
metadata: {name: vllm-llama3-3, namespace: default, labels: {app: vllm-llama3}}
status: {podIP: 127.0.0.14, conditions: [{type: Ready, status: "True"}]}
YAML

start_pool() {
    # shellcheck disable=SC2086
    $G sim --replicas 3 --host 127.0.0.11 --port 8000 --model $MODEL $LORA > "$W/sim.log" 2>&1 &
    PIDS=$!
    # shellcheck disable=SC2086
    $G sim --replicas 1 --host 127.0.0.14 --port 8000 --model $MODEL $LORA --slowdown 3 \
        > "$W/slow.log" 2>&1 &
    PIDS="$PIDS $!"
    $G run -f "$W/pool.yaml" --plugins-config "$CFG" > "$W/gateway.log" 2>&1 &
    PIDS="$PIDS $!"
    trap 'kill $PIDS 2>/dev/null; wait' EXIT
    for _ in $(seq 1 150); do
        curl -sf -o /dev/null http://127.0.0.1:8081/v1/models && return 0
        sleep 0.2
    done
    echo "the gateway did not come up; see $W/gateway.log" >&2
    return 1
}

served_per_pod() {
    for ip in 11 12 13 14; do
        printf "127.0.0.%s served " "$ip"
        curl -s "http://127.0.0.$ip:8000/metrics" |
            awk '/^vllm:e2e_request_latency_seconds_count/ {s += $2} END {print s}'
    done
}
