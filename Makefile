# Parley: `make dev` runs it, `make test` tests it. See README.md.
PYTHON ?= python3
VENV ?= .venv
PY := $(CURDIR)/$(VENV)/bin/python
PIP := $(PY) -m pip
, := ,
PACKAGES := $(patsubst %/pyproject.toml,%,$(wildcard libs/*/pyproject.toml services/*/pyproject.toml clients/*/pyproject.toml))
IMPORT_NAMES := $(foreach p,$(PACKAGES),parley_$(notdir $(p)))
STAMP := $(VENV)/.parley-installed

FRONTEND_SOURCES := $(shell find frontend/app frontend/components frontend/lib -type f 2>/dev/null) \
	$(wildcard frontend/*.ts frontend/*.mjs frontend/*.json)
FRONTEND_BUILT := frontend/out/index.html
export NEXT_TELEMETRY_DISABLED := 1

.PHONY: install local-model frontend browser dev test test-e2e test-deploy test-frontend test-browser \
	suite-rest suite-packages suite-deploy suite-frontend suite-browser suite-e2e suite-e2e-alone lint format asyncapi bench bench-quick migrate clean

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

# The browser app: node_modules from the lock file, then the static export the gateway serves.
frontend/node_modules/.package-lock.json: frontend/package-lock.json
	@echo "installing the frontend's packages (npm ci)"
	@cd frontend && npm ci --no-audit --no-fund --loglevel=error

$(FRONTEND_BUILT): frontend/node_modules/.package-lock.json $(FRONTEND_SOURCES)
	@echo "building the frontend (next build)"
	@cd frontend && npx next build > ../.frontend-build.log 2>&1 || { cat ../.frontend-build.log; exit 1; }

frontend: $(FRONTEND_BUILT)

# Debian's Chromium for the browser tests (never a downloaded browser).
browser:
	@command -v chromium >/dev/null || { echo "installing Debian's chromium"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

dev: install local-model frontend
	@$(PY) scripts/dev.py

# Every test, against the real RabbitMQ named by AMQP_URL (default: the local server). Two lanes
# run at once, each on RabbitMQ vhosts and databases of its own: the end-to-end suite (mostly
# waiting on processes) beside everything else. `-O` prints each lane's output whole when it ends.
# A test that stops the broker for everyone (`stops_broker`) runs alone, after both lanes.
test: install local-model frontend browser
	@$(MAKE) --no-print-directory -j2 -Otarget suite-e2e suite-rest
	@$(MAKE) --no-print-directory suite-e2e-alone

# The lanes' recipes (no set-up of their own: `test` and the test-* targets do that first).
suite-rest: suite-packages suite-deploy suite-frontend suite-browser

suite-packages:
	@set -e; for p in $(PACKAGES); do \
		echo "=== $$p"; (cd $$p && $(PY) -m pytest -q); \
	done
	@echo "=== bench (the benchmarks' own arithmetic and report)"; $(PY) -m pytest -q bench/test_report.py

suite-deploy:
	@echo "=== tests/deploy"; $(PY) -m pytest -q tests/deploy

suite-frontend:
	@echo "=== frontend (vitest)"; cd frontend && npm test --silent

suite-browser:
	@echo "=== tests/browser"; $(PY) -m pytest -q tests/browser

suite-e2e:
	@echo "=== tests/e2e"; $(PY) -m pytest -q -m "not stops_broker" tests/e2e

suite-e2e-alone:
	@echo "=== tests/e2e (stopping the broker: alone)"; $(PY) -m pytest -q -m stops_broker tests/e2e

# The frontend's logic and components (Vitest, jsdom).
test-frontend: frontend/node_modules/.package-lock.json
	@$(MAKE) --no-print-directory suite-frontend

# The app in a real headless Chromium against the whole stack.
test-browser: install frontend browser
	@$(MAKE) --no-print-directory suite-browser

# The deployment files: Dockerfiles, compose and the Helm chart, rendered and validated.
test-deploy: install
	@$(MAKE) --no-print-directory suite-deploy

test-e2e: install local-model frontend
	@$(MAKE) --no-print-directory suite-e2e suite-e2e-alone

lint: install
	@$(PY) -m ruff check .
	@$(PY) -m mypy $(foreach n,$(IMPORT_NAMES),-p $(n))
	@$(PY) -m mypy scripts bench tests/e2e tests/deploy tests/browser tools deploy/docker
	@$(PY) tools/check_deploy.py
	@$(PY) tools/lockfile_urls.py

format: install
	@$(PY) -m ruff check --fix .
	@$(PY) -m ruff format .

asyncapi: install
	@$(PY) -m parley_platform.asyncapi > docs/asyncapi.yaml
	@echo "wrote docs/asyncapi.yaml"

# The load-and-scale benchmarks (not part of `make test`): results in bench/results/*.json, then
# docs/benchmarks.md and its plots. About 35 minutes; the soak alone is 10.
bench: install local-model frontend browser
	@$(PY) bench/stream_bench.py
	@$(PY) bench/idle_sessions.py
	@$(PY) bench/replay_bench.py
	@$(PY) bench/flood.py
	@$(PY) bench/soak.py
	@$(PY) bench/ui_long_chat.py
	@$(PY) bench/provider_requests.py
	@$(PY) bench/window_bench.py
	@$(PY) bench/report.py
	@$(PY) bench/local_model_bench.py

# The same tools at a small size (a few minutes), into a scratch folder: checks the tooling, not Parley.
BENCH_QUICK := $${TMPDIR:-/tmp}/parley-bench-quick
bench-quick: install
	@$(PY) bench/stream_bench.py --streams 20 50 --configs 1w 2w 1w2g --rounds 2 --out $(BENCH_QUICK)/matrix.json
	@$(PY) bench/idle_sessions.py --sessions 300 --out $(BENCH_QUICK)/idle_sessions.json
	@$(PY) bench/replay_bench.py --conversations 100 --out $(BENCH_QUICK)/replay.json
	@$(PY) bench/flood.py --phase-s 6 --out $(BENCH_QUICK)/flood.json
	@$(PY) bench/soak.py --minutes 1 --out $(BENCH_QUICK)/soak.json
	@$(PY) bench/provider_requests.py --messages 1 10 --requests 50 --rounds 1 --out $(BENCH_QUICK)/provider_requests.json
	@$(PY) bench/window_bench.py --streams 20 --reps 1 --out $(BENCH_QUICK)/window.json
	@$(PY) bench/report.py --results $(BENCH_QUICK) --md $(BENCH_QUICK)/benchmarks.md

# Each database-owning service runs its own migrations (PARLEY_<SVC>_DATABASE_URL; SQLite by default).
migrate: install
	@for svc in auth history; do \
		if [ -f services/$$svc/alembic.ini ]; then echo "=== migrate $$svc"; (cd services/$$svc && $(PY) -m parley_$$svc migrate) || exit 1; fi; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
