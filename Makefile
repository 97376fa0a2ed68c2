# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
# pytest-xdist workers for `make test`: most of the suite waits on subprocesses, servers and
# clock minutes, so two workers overlap those waits even on a busy 2-core machine.
TEST_WORKERS ?= 2
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export ENRICHMENT_HOME ?= $(CURDIR)/.enrichment
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: install run test dev clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## run: import the demo listings and run the main job on the embedded defaults
run: $(STAMP)
	$(BIN)/enrichment import demo
	$(BIN)/enrichment run

## test: the whole test suite; starts PostgreSQL and Redis, installs chromium and the LiteLLM
## proxy (own venv, .venv-proxy) when missing (their tests skip without them, unless CI is set)
test: $(STAMP)
	./scripts/ensure-postgres.sh
	./scripts/ensure-chromium.sh
	./scripts/ensure-redis.sh
	./scripts/ensure-litellm-proxy.sh
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadscope

## dev: the Dagster UI on 127.0.0.1:3000 with the same definitions and instance
dev: $(STAMP)
	DAGSTER_HOME=$$($(BIN)/python -c 'from enrichment_assets.settings import prepare_dagster_home; print(prepare_dagster_home())') \
	  $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

clean:
	rm -rf $(ENRICHMENT_HOME)
