#!/usr/bin/env bash
# The two-node run of docs/benchmarks.md ("Data parallel"), on one machine, CPU or GPU:
#
#     bash benchmarks/two_nodes.sh [RESULTS_DIR]
#
# Two torchrun agents are started separately, as on two nodes, one process each ("--nnodes 2
# --nproc-per-node 1"), meeting at 127.0.0.1: so the second node's process has RANK 1 and
# LOCAL_RANK 0. Each evaluates into one run folder; the answers are compared with one process's.
# Models: the random baseline and a tiny random-weight Qwen2-VL; rendezvous: c10d (the nodes
# numbered as they arrive) for both, static (--node-rank, --master-addr) for the second. Last, the
# two nodes are started in two folders with a relative --out, as two machines that share no
# filesystem: every rank must stop with one line, before asking the model anything.
# DATA=folder evaluates a built suite instead of building the quickstart; FRAMES (default 8).
set -euo pipefail
RESULTS=${1:-out/two-nodes}
WORK=${WORK:-/tmp/mmhay-two-nodes}
PY=${PYTHON:-python3}
FRAMES=${FRAMES:-8}
mkdir -p "$RESULTS" "$WORK"
RESULTS=$(cd "$RESULTS" && pwd)
export HF_HUB_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=1  # one thread a rank, as torchrun gives several
DATA=${DATA:-}
if [ -z "$DATA" ]; then
    DATA="$WORK/data"
    [ -f "$DATA/manifest.json" ] || $PY -m mmhay build configs/quickstart.yaml --out "$DATA" --num-proc "$(nproc)"
fi
[ -f "$WORK/tiny-qwen2-vl/config.json" ] || $PY -m mmhay tiny-model qwen2-vl --out "$WORK/tiny-qwen2-vl"
PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

two_nodes() {  # NAME RENDEZVOUS EVAL_ARGS...: both nodes' torchrun, started apart; their logs kept
    local name=$1 rendezvous=$2 node; shift 2
    local pids=()
    for node in 0 1; do
        if [ "$rendezvous" = c10d ]; then
            launch=(--rdzv-backend c10d --rdzv-endpoint "127.0.0.1:$PORT" --rdzv-id "$name")
        else
            launch=(--node-rank "$node" --master-addr 127.0.0.1 --master-port "$PORT")
        fi
        echo "node $node: torchrun --nnodes 2 --nproc-per-node 1 ${launch[*]} -m mmhay eval $*" >"$RESULTS/$name.node$node.log"
        $PY -m torch.distributed.run --nnodes 2 --nproc-per-node 1 "${launch[@]}" -m mmhay eval "$@" >>"$RESULTS/$name.node$node.log" 2>&1 &
        pids+=($!)
    done
    local failed=0
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    PORT=$((PORT + 1))
    return $failed
}

compare() {  # ONE_PROCESS_RUN TWO_NODE_RUN LABEL
    $PY - "$@" <<'PYEOF' | tee -a "$RESULTS/two_nodes.md"
import json, sys
from pathlib import Path
from mmhay.adapters.cache import ResponseCache
one, two = (Path(run) for run in sys.argv[1:3])
a, b = ([json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()] for run in (one, two))
same = sum(x["id"] == y["id"] and x["output"] == y["output"] for x, y in zip(a, b))
m = [json.loads((run / "metrics.json").read_text())["overall"] for run in (one, two)]
left = sorted(p.name for p in two.iterdir() if p.name.startswith((".launch", "samples.rank", "responses.rank")))
with ResponseCache(two / "responses.sqlite") as cache:
    stats = cache.stats()
print(f"| {sys.argv[3]} | {len(a)} / {len(b)} | {same}/{len(a)} | {m[0]['accuracy']:.4f} / {m[1]['accuracy']:.4f} | "
      f"{stats.answers} answers, {stats.repeated_calls} asked twice | {', '.join(left) or 'none'} |")
PYEOF
}

echo "| model, rendezvous | samples, one process / two nodes | same answers | accuracy, one process / two nodes | merged cache | rank files left |" >"$RESULTS/two_nodes.md"
echo "| --- | --- | --- | --- | --- | --- |" >>"$RESULTS/two_nodes.md"
for MODEL in random "hf:$WORK/tiny-qwen2-vl"; do
    TAG=$([ "$MODEL" = random ] && echo random || echo tiny-qwen2-vl)
    ARGS=(--model "$MODEL" --data "$DATA" --frames "$FRAMES" --batch-size 1)
    [ "$MODEL" = random ] || ARGS+=(--model-args max_new_tokens=4)
    rm -rf "$WORK/one-$TAG" "$WORK/c10d-$TAG" "$WORK/static-$TAG"
    $PY -m mmhay eval "${ARGS[@]}" --out "$WORK/one-$TAG" >"$RESULTS/one-$TAG.log" 2>&1
    two_nodes "c10d-$TAG" c10d "${ARGS[@]}" --out "$WORK/c10d-$TAG"
    compare "$WORK/one-$TAG" "$WORK/c10d-$TAG" "$TAG, c10d"
    if [ "$MODEL" != random ]; then
        two_nodes "static-$TAG" static "${ARGS[@]}" --out "$WORK/static-$TAG"
        compare "$WORK/one-$TAG" "$WORK/static-$TAG" "$TAG, static"
    fi
done

# two machines that share no filesystem: the same relative --out names two folders
rm -rf "$WORK/apart" && mkdir -p "$WORK/apart/node0" "$WORK/apart/node1"
PIDS=()
for node in 0 1; do
    (cd "$WORK/apart/node$node" && $PY -m torch.distributed.run --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d \
        --rdzv-endpoint "127.0.0.1:$PORT" --rdzv-id apart -m mmhay eval --model random --data "$DATA" --frames "$FRAMES" --out run \
        >"$RESULTS/apart.node$node.log" 2>&1) &
    PIDS+=($!)
done
for pid in "${PIDS[@]}"; do wait "$pid" || true; done
echo >>"$RESULTS/two_nodes.md"
for node in 0 1; do
    echo "no shared filesystem, node $node: \`$(grep -m1 '^mmhay: error' "$RESULTS/apart.node$node.log")\`; exit code $(grep -m1 -o 'exitcode *: [0-9-]*' "$RESULTS/apart.node$node.log" | grep -o '[0-9-]*$')" | tee -a "$RESULTS/two_nodes.md"
done
cat "$RESULTS/two_nodes.md"
