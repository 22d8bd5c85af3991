# The two commands: `make demo` and `make test`. Each creates .venv if missing and installs mmhay.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch with torchvision (transformers' video processors need torchvision). On this project's
# machines these two install from local disk; elsewhere see README "Installing torch".
TORCH ?= torch==2.14.1 torchvision==0.29.1
NPROC ?= $(shell nproc 2>/dev/null || echo 2)
DEMO ?= out/demo
STAMP := $(VENV)/.mmhay-installed

.PHONY: setup demo test clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

# The demo builds the quickstart video suite, evaluates two models on it, and evaluates them on
# an image-grid (MMNeedle) and a sound (Audio NIAH) suite generated on the fly.
demo: setup
	$(BIN)/mmhay build configs/quickstart.yaml --out $(DEMO)/data --num-proc $(NPROC)
	$(BIN)/mmhay tiny-model qwen2-vl --out $(DEMO)/tiny-qwen2-vl
	$(BIN)/mmhay eval --model random --data $(DEMO)/data --out $(DEMO)/runs/random
	$(BIN)/mmhay eval --model hf:$(DEMO)/tiny-qwen2-vl --data $(DEMO)/data --out $(DEMO)/runs/tiny-qwen2-vl --frames 8 --batch-size 4
	$(BIN)/mmhay eval --model random --data configs/mmneedle.yaml --limit 24 --out $(DEMO)/runs/random-mmneedle
	$(BIN)/mmhay eval --model hf:$(DEMO)/tiny-qwen2-vl --data configs/mmneedle.yaml --limit 24 --out $(DEMO)/runs/tiny-qwen2-vl-mmneedle
	$(BIN)/mmhay eval --model random --data configs/audio_niah.yaml --limit 20 --out $(DEMO)/runs/random-audio
	$(BIN)/mmhay eval --model hf:$(DEMO)/tiny-qwen2-vl --data configs/audio_niah.yaml --limit 20 --out $(DEMO)/runs/tiny-qwen2-vl-audio
	$(BIN)/mmhay tiny-model qwen2-audio --out $(DEMO)/tiny-qwen2-audio
	$(BIN)/mmhay eval --model hf:$(DEMO)/tiny-qwen2-audio --data configs/audio_niah.yaml --limit 20 --out $(DEMO)/runs/tiny-qwen2-audio-audio
	$(BIN)/mmhay report $(DEMO)/runs/random $(DEMO)/runs/tiny-qwen2-vl $(DEMO)/runs/random-mmneedle \
		$(DEMO)/runs/tiny-qwen2-vl-mmneedle $(DEMO)/runs/random-audio $(DEMO)/runs/tiny-qwen2-vl-audio \
		$(DEMO)/runs/tiny-qwen2-audio-audio --out $(DEMO)/report
	$(BIN)/mmhay export lmms-eval $(DEMO)/data --out $(DEMO)/lmms-eval-task
	@echo "demo outputs: $(DEMO)/data (dataset), $(DEMO)/runs/*/ (samples.jsonl, metrics.json, results.md, report.html), $(DEMO)/report/report.html, $(DEMO)/lmms-eval-task/ (the suite as an lmms-eval task)"

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(DEMO) .pytest_cache
