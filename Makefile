# The two commands of the README. Both create .venv when it is missing and install the project into it.
SHELL  := /bin/bash
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

MODEL   ?= instruct-pix2pix
LIMIT   ?=
WEIGHTS ?=
DATA    ?=
OUT     ?= runs
SITE    ?= site
JUDGE   ?=
PROTOCOL ?=
ARGS    ?=
METRICS_ARGS ?=

# Paths are quoted: a data folder or output path may hold spaces.
RUN_ARGS := --model $(MODEL) --out "$(OUT)" $(ARGS) \
	$(if $(LIMIT),--limit $(LIMIT)) $(if $(WEIGHTS),--weights "$(WEIGHTS)") $(if $(DATA),--data-dir "$(DATA)")
# PROTOCOL=paper judges as the authors did (their prompts, snapshot, request and images), JUDGE or not.
JUDGE_ARGS := $(if $(JUDGE),--judge $(JUDGE)) $(if $(PROTOCOL),--protocol $(PROTOCOL))

.PHONY: eval test install browser clean help

help:
	@echo "make eval MODEL=instruct-pix2pix [LIMIT=N] [WEIGHTS=id|dir] [DATA=dir] [JUDGE=provider/model] [PROTOCOL=paper] [ARGS='-M steps=20'] [METRICS_ARGS=...]"
	@echo "make test"

$(STAMP): pyproject.toml
	@start=$$(date +%s); \
	  (test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)) && \
	  $(BIN)/python -m pip install -q --upgrade pip && \
	  $(BIN)/python -m pip install -q -e '.[test]' && \
	  echo "installed realedit into $(VENV) in $$(( $$(date +%s) - start )) s"
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

# Debian's chromium for the browser tests (never a browser download). Needs root, as on CI.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is not installed: browser tests will be skipped (apt-get install chromium)"; fi; }

test: $(STAMP) browser
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest -q

eval: $(STAMP)
	@# The judge's key is checked first: a missing key must not surface after hours of editing.
	@if [ -n "$(JUDGE)$(PROTOCOL)" ]; then $(BIN)/realedit judge --check $(JUDGE_ARGS); fi
	@# The default data folder is fetched when missing or incomplete; fetch never overwrites a file that
	@# differs from the release (it says so and stops). DATA=dir is used as it is.
	@if [ -z "$(DATA)" ]; then $(BIN)/realedit data verify >/dev/null 2>&1 || $(BIN)/realedit data fetch \
	  || { echo "(with make: DATA=dir evaluates a local copy of Real-Edit)"; exit 2; }; fi
	@set -o pipefail; run_dir=$$($(BIN)/realedit run $(RUN_ARGS) | tail -n 1); rc=$$?; \
	  if [ $$rc -ne 0 ] && [ $$rc -ne 1 ]; then exit $$rc; fi; \
	  if [ ! -d "$$run_dir" ]; then echo "realedit run printed no run directory; stopping"; exit 3; fi; \
	  echo "run: $$run_dir"; \
	  $(BIN)/realedit metrics --images "$$run_dir" $(METRICS_ARGS) $(if $(DATA),--data-dir "$(DATA)"); mrc=$$?; \
	  if [ $$mrc -eq 2 ]; then echo "metrics skipped (see the line above; METRICS_ARGS='--clip-weights DIR --dino-weights DIR' for local weights)"; \
	  elif [ $$mrc -gt 2 ]; then exit $$mrc; fi; \
	  jrc=0; if [ -n "$(JUDGE)$(PROTOCOL)" ]; then $(BIN)/realedit judge --images "$$run_dir" $(JUDGE_ARGS) $(if $(DATA),--data-dir "$(DATA)"); \
	    jrc=$$?; if [ $$jrc -ne 0 ] && [ $$jrc -ne 1 ]; then exit $$jrc; fi; fi; \
	  $(BIN)/realedit report --runs "$(OUT)" --out "$(SITE)" || exit $$?; \
	  if [ $$rc -eq 1 ] || [ $$mrc -eq 1 ] || [ $$jrc -eq 1 ]; then \
	    echo "done, but partly: some samples failed or some metrics were not measured (exit code 1): see the lines above"; exit 1; fi

clean:
	rm -rf $(VENV) build *.egg-info
