#!/usr/bin/env bash
# VLMEvalKit itself on a suite `mmhay export vlmevalkit` wrote, with a tiny checkpoint (docs/vlmevalkit.md):
#
#     bash benchmarks/vlmevalkit_run.sh [WORK]
#
# 1. (PYTHON: python with mmhay) builds a small suite (choice and open questions), exports it as
#    VLMEvalKit custom datasets into WORK/lmu, and writes a tiny random-weight SmolVLM2 (VLMEvalKit's
#    SmolVLM2 class loads a local folder; its Qwen2-VL class insists on flash-attention 2);
# 2. (VLMEVAL_PYTHON: python with VLMEvalKit installed, `pip install ms-vlmeval`, on a machine with
#    a GPU: every VLMEvalKit model class moves itself to cuda) runs VLMEvalKit's run.py on both
#    datasets, offline, with exact matching as the judge; WORK/outputs gets its files.
# STEPS=1 or STEPS=2 runs one part only (the second then needs WORK as the first left it).
set -euo pipefail
WORK=${1:-/tmp/mmhay-vlmeval}
PY=${PYTHON:-python3}
VPY=${VLMEVAL_PYTHON:-python3}
STEPS=${STEPS:-12}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

if [[ $STEPS == *1* ]]; then
    rm -rf "$WORK" && mkdir -p "$WORK"
    cat >"$WORK/suite.yaml" <<'YAML'
name: vlmeval_small
seed: 1
samples: 8
video: {size: [96, 64], fps: 4}
haystack: {shot_seconds: [2, 4]}
grid: {task: [retrieval, counting], form: [choice, open], length: [4, 8]}
YAML
    PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" $PY -m mmhay build "$WORK/suite.yaml" --out "$WORK/data"
    PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" $PY -m mmhay export vlmevalkit "$WORK/data" --out "$WORK/lmu" --frames 8
    PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" $PY -m mmhay tiny-model smolvlm2 --out "$WORK/tiny-smolvlm2"
fi

if [[ $STEPS == *2* ]]; then
    cat >"$WORK/vlmeval.json" <<JSON
{"model": {"tiny_smolvlm2": {"class": "SmolVLM2", "model_path": "$WORK/tiny-smolvlm2", "max_new_tokens": 16}},
 "data": {"MMHAY_vlmeval_small": {"class": "CustomMCQDataset", "dataset": "MMHAY_vlmeval_small"},
          "MMHAY_vlmeval_small_openended": {"class": "CustomVQADataset", "dataset": "MMHAY_vlmeval_small_openended"}}}
JSON
    cd "$WORK"
    LMUData="$WORK/lmu" $VPY -m vlmeval.run --config "$WORK/vlmeval.json" --judge exact_matching --work-dir "$WORK/outputs" --verbose
fi
