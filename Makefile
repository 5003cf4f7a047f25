# Parley: `make dev` runs it, `make test` tests it. See README.md.
PYTHON ?= python3
VENV ?= .venv
PY := $(CURDIR)/$(VENV)/bin/python
PIP := $(PY) -m pip
, := ,
PACKAGES := $(patsubst %/pyproject.toml,%,$(wildcard libs/*/pyproject.toml services/*/pyproject.toml clients/*/pyproject.toml))
IMPORT_NAMES := $(foreach p,$(PACKAGES),parley_$(notdir $(p)))
STAMP := $(VENV)/.parley-installed

.PHONY: install local-model dev test test-e2e test-deploy lint format asyncapi bench migrate clean

$(STAMP): constraints.txt requirements-dev.txt $(wildcard libs/*/pyproject.toml services/*/pyproject.toml clients/*/pyproject.toml)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing Python dependencies into $(VENV)"
	@$(PIP) install -q --disable-pip-version-check -c constraints.txt -r requirements-dev.txt \
		$(foreach p,$(PACKAGES),-e $(p)) > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@$(PY) -c "import $(subst $() ,$(,),$(IMPORT_NAMES))"
	@touch $@

install: $(STAMP)

# The default local model (llama.cpp server + SmolLM2-135M); its runtime is built once per machine.
local-model: install
	@$(PY) -m parley_localmodel install --constraints constraints.txt

dev: install local-model
	@$(PY) scripts/dev.py

# Every test, against the real RabbitMQ named by AMQP_URL (default: the local server).
test: install local-model
	@set -e; for p in $(PACKAGES); do \
		echo "=== $$p"; (cd $$p && $(PY) -m pytest -q); \
	done
	@$(MAKE) --no-print-directory test-deploy
	@$(MAKE) --no-print-directory test-e2e

# The deployment files: Dockerfiles, compose and the Helm chart, rendered and validated.
test-deploy: install
	@echo "=== tests/deploy"; $(PY) -m pytest -q tests/deploy

test-e2e: install local-model
	@if [ -d tests/e2e ]; then echo "=== tests/e2e"; $(PY) -m pytest -q tests/e2e; fi

lint: install
	@$(PY) -m ruff check .
	@$(PY) -m mypy $(foreach n,$(IMPORT_NAMES),-p $(n))
	@$(PY) -m mypy scripts bench tests/e2e tests/deploy tools deploy/docker
	@$(PY) tools/check_deploy.py

format: install
	@$(PY) -m ruff check --fix .
	@$(PY) -m ruff format .

asyncapi: install
	@$(PY) -m parley_contracts.asyncapi > docs/asyncapi.yaml
	@echo "wrote docs/asyncapi.yaml"

bench: install local-model
	@$(PY) bench/stream_bench.py
	@$(PY) bench/local_model_bench.py

# Each database-owning service runs its own migrations (PARLEY_<SVC>_DATABASE_URL; SQLite by default).
migrate: install
	@for svc in auth history; do \
		if [ -f services/$$svc/alembic.ini ]; then echo "=== migrate $$svc"; (cd services/$$svc && $(PY) -m parley_$$svc migrate) || exit 1; fi; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
