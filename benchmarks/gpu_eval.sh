#!/usr/bin/env bash
# The GPU figures of docs/benchmarks.md for evaluation, in one command, on a machine with GPUs:
#
#     bash benchmarks/gpu_eval.sh [RESULTS_DIR]
#
# Builds the quickstart suite and a tiny random-weight Qwen2-VL, then
#   1. benchmarks/eval_throughput.py: batched throughput vs batch size 1, and lmms-eval's own loop
#      vs mmhay's (needs lmms-eval installed beside mmhay);
#   2. data parallel: the same evaluation by one process and by torchrun over the GPUs (over two
#      processes sharing the GPU where there is only one), per-sample answers compared.
# Needs python with mmhay's dependencies; RESULTS_DIR (default out/gpu-eval) gets the tables.
# THROUGHPUT=0 leaves out the first part, DATA_PARALLEL=0 the second. Where nvidia-smi is present, the
# second part logs which GPU each process ran on (RESULTS_DIR/gpu-processes-bsN.csv).
set -euo pipefail
RESULTS=${1:-out/gpu-eval}
WORK=${WORK:-/tmp/mmhay-gpu-eval}
PY=${PYTHON:-python3}
mkdir -p "$RESULTS" "$WORK"
export HF_HUB_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

$PY -m mmhay build configs/quickstart.yaml --out "$WORK/data" --num-proc "$(nproc)"
$PY -m mmhay tiny-model qwen2-vl --out "$WORK/tiny-qwen2-vl"
MODEL="$WORK/tiny-qwen2-vl"

[ "${THROUGHPUT:-1}" = 1 ] && $PY benchmarks/eval_throughput.py --data "$WORK/data" --model "$MODEL" --batch-sizes 1,4,16 \
    --lmms-eval qwen2_vl --work "$WORK/bench" --json "$RESULTS/eval_throughput.json" | tee "$RESULTS/eval_throughput.md"

[ "${DATA_PARALLEL:-1}" = 1 ] || exit 0
GPUS=$($PY -c 'import torch; print(torch.cuda.device_count())')
ARGS=()
if [ "$GPUS" -lt 2 ]; then GPUS=2; ARGS=(--model-args device=cuda:0); fi  # two ranks on the one GPU
for BS in 1 4; do
    rm -rf "$WORK/one-bs$BS" "$WORK/dp-bs$BS"
    $PY -m mmhay eval --model "hf:$MODEL" "${ARGS[@]}" --data "$WORK/data" --out "$WORK/one-bs$BS" --frames 8 --batch-size $BS
    WATCH=
    if command -v nvidia-smi >/dev/null; then  # pid and GPU of every process on a GPU, twice a second
        nvidia-smi --query-compute-apps=pid,gpu_bus_id,used_memory --format=csv -lms 500 >"$RESULTS/gpu-processes-bs$BS.csv" &
        WATCH=$!
    fi
    $PY -m torch.distributed.run --standalone --nproc-per-node "$GPUS" -m mmhay eval --model "hf:$MODEL" "${ARGS[@]}" \
        --data "$WORK/data" --out "$WORK/dp-bs$BS" --frames 8 --batch-size $BS
    [ -z "$WATCH" ] || kill "$WATCH"
    $PY - "$WORK/one-bs$BS" "$WORK/dp-bs$BS" "$GPUS" "$BS" <<'EOF' | tee -a "$RESULTS/data_parallel.md"
import json, sys
from pathlib import Path
one, dp = ([json.loads(line) for line in (Path(run) / "samples.jsonl").read_text().splitlines()] for run in sys.argv[1:3])
same = sum(a["id"] == b["id"] and a["output"] == b["output"] for a, b in zip(one, dp))
metrics = [json.loads((Path(run) / "metrics.json").read_text())["overall"] for run in sys.argv[1:3]]
print(f"| {sys.argv[3]} ranks | batch size {sys.argv[4]} | samples {len(one)} / {len(dp)} | same answers {same}/{len(one)} | "
      f"accuracy {metrics[0]['accuracy']:.4f} / {metrics[1]['accuracy']:.4f} |")
EOF
done
