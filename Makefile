# The two commands: `make demo` and `make test`. Each creates .venv if missing and installs mmhay
# with the versions requirements/lock.txt pins (README "Installing" says how and when to refresh it).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch with torchvision (transformers' video processors need torchvision). On this project's
# machines these two install from local disk; elsewhere see README "Installing torch". The lock is
# resolved together with this pair and pins neither of them nor what each torch build pins itself.
TORCH ?= torch==2.14.1 torchvision==0.29.1
LOCK := requirements/lock.txt
NPROC ?= $(shell nproc 2>/dev/null || echo 2)
DEMO ?= out/demo
STAMP := $(VENV)/.mmhay-installed
PIP := -m pip --disable-pip-version-check
# make lock's resolver, installed from the package index into a venv of its own
UV_VERSION := 0.13.9
UV := .venv-uv/$(UV_VERSION)/bin/uv
LATEST ?= .venv-latest

.PHONY: setup demo test lock test-latest clean

setup: $(STAMP)

# One pip call resolves TORCH and the lock together, so nothing floats; mmhay itself then goes in
# without dependencies (the lock holds them all) and without build isolation (the lock's setuptools
# builds it). A venv that does not hold exactly the locked versions stops the build here.
$(STAMP): $(LOCK) pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python $(PIP) install --quiet $(TORCH) -r $(LOCK)
	$(BIN)/python $(PIP) install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python $(PIP) check
	$(BIN)/python requirements/lock.py check $(LOCK)
	@touch $(STAMP)

# The demo builds the quickstart video suite, evaluates the random baseline, the trained
# needle-finder and a random-weight Qwen2-VL on it, the finder on negative twins, and the others
# on an image-grid (MMNeedle) and a sound (Audio NIAH) suite generated on the fly.
demo: setup
	$(BIN)/mmhay build configs/quickstart.yaml --out $(DEMO)/data --num-proc $(NPROC)
	$(BIN)/mmhay tiny-model needle-finder --out $(DEMO)/needle-finder
	$(BIN)/mmhay tiny-model qwen2-vl --out $(DEMO)/tiny-qwen2-vl
	$(BIN)/mmhay eval --model random --data $(DEMO)/data --out $(DEMO)/runs/random
	$(BIN)/mmhay eval --model hf:$(DEMO)/needle-finder --data $(DEMO)/data --out $(DEMO)/runs/needle-finder --frames 8 --batch-size 8
	$(BIN)/mmhay eval --model hf:$(DEMO)/needle-finder --data recipes/calibration/negative.yaml --limit 40 --out $(DEMO)/runs/needle-finder-negative --frames 8 --batch-size 8
	$(BIN)/mmhay eval --model hf:$(DEMO)/tiny-qwen2-vl --data $(DEMO)/data --out $(DEMO)/runs/tiny-qwen2-vl --frames 8 --batch-size 4
	$(BIN)/mmhay eval --model random --data configs/mmneedle.yaml --limit 24 --out $(DEMO)/runs/random-mmneedle
	$(BIN)/mmhay eval --model hf:$(DEMO)/tiny-qwen2-vl --data configs/mmneedle.yaml --limit 24 --out $(DEMO)/runs/tiny-qwen2-vl-mmneedle
	$(BIN)/mmhay eval --model random --data configs/audio_niah.yaml --limit 20 --out $(DEMO)/runs/random-audio
	$(BIN)/mmhay eval --model hf:$(DEMO)/tiny-qwen2-vl --data configs/audio_niah.yaml --limit 20 --out $(DEMO)/runs/tiny-qwen2-vl-audio
	$(BIN)/mmhay tiny-model qwen2-audio --out $(DEMO)/tiny-qwen2-audio
	$(BIN)/mmhay eval --model hf:$(DEMO)/tiny-qwen2-audio --data configs/audio_niah.yaml --limit 20 --out $(DEMO)/runs/tiny-qwen2-audio-audio
	$(BIN)/mmhay report $(DEMO)/runs/random $(DEMO)/runs/needle-finder $(DEMO)/runs/tiny-qwen2-vl \
		$(DEMO)/runs/needle-finder-negative $(DEMO)/runs/random-mmneedle \
		$(DEMO)/runs/tiny-qwen2-vl-mmneedle $(DEMO)/runs/random-audio $(DEMO)/runs/tiny-qwen2-vl-audio \
		$(DEMO)/runs/tiny-qwen2-audio-audio --out $(DEMO)/report
	$(BIN)/mmhay export lmms-eval $(DEMO)/data --out $(DEMO)/lmms-eval-task
	@echo "demo outputs: $(DEMO)/data (dataset), $(DEMO)/runs/*/ (samples.jsonl, metrics.json, results.md, report.html), $(DEMO)/report/report.html, $(DEMO)/lmms-eval-task/ (the suite as an lmms-eval task)"

# MMHAY_LOCKED turns on the test that the venv still holds the locked versions (tests/test_lock.py).
test: setup
	MMHAY_LOCKED=1 $(BIN)/python -m pytest -q

# Refresh the lock: after changing a dependency range in pyproject.toml, or to take upgrades once
# `make test-latest` passes. It asks the package index, so it needs the network.
lock: $(UV)
	$(PYTHON) requirements/lock.py compile --uv $(UV) --torch "$(TORCH)" --out $(LOCK)

$(UV):
	$(PYTHON) -m venv .venv-uv/$(UV_VERSION)
	.venv-uv/$(UV_VERSION)/bin/python $(PIP) install --quiet uv==$(UV_VERSION)

# Not in CI: the newest versions pyproject's ranges allow (with the same TORCH), in a venv of their
# own, and the whole suite on them: what the next `make lock` would break. It lists how they differ
# from the lock first.
test-latest:
	@test -x $(LATEST)/bin/python || $(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python $(PIP) install --quiet --upgrade --upgrade-strategy eager $(TORCH) -e '.[test]'
	$(LATEST)/bin/python requirements/lock.py diff $(LOCK)
	$(LATEST)/bin/python -m pytest -q

clean:
	rm -rf $(DEMO) .pytest_cache
