# The two commands a newcomer types: `make demo` and `make test`.
# Both create .venv on first use and install the project into it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The CPU build of torch is pinned here, before the project, so that pip does not
# resolve `torch>=2.1` to the newest CUDA build with several GB of GPU packages.
TORCH_PIN ?= torch==2.13.0
# Two workers: CI and this project's reference machine have 2 cores.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=
# The demo's two tiny models (built locally, nothing downloaded): the subnet's model, and the
# model of another seed that the demo's cheating miner serves. DEMO_ARGS go to `subnet localnet`.
TINY := models/tiny
TINY_OTHER := models/tiny-other
TINY_BUILT := models/.built
DEMO_ARGS ?=

.PHONY: demo test lint venv clean

venv: $(INSTALLED)

$(INSTALLED): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_PIN)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# Both builds are single-threaded, so they run side by side.
$(TINY_BUILT): $(INSTALLED) inference/tiny.py inference/tiny_text.py
	$(BIN)/python -m inference.tiny --out $(TINY) --seed 0 & honest=$$!; \
	$(BIN)/python -m inference.tiny --out $(TINY_OTHER) --seed 1 & other=$$!; \
	wait $$honest; h=$$?; wait $$other; o=$$?; test $$h -eq 0 && test $$o -eq 0
	touch $@

demo: $(TINY_BUILT)
	$(BIN)/subnet localnet --model $(TINY) --cheat-model $(TINY_OTHER) $(DEMO_ARGS)

clean:
	rm -rf $(VENV) runs models .pytest_cache .ruff_cache .hypothesis
