# Switchboard: `make run` starts the whole system locally; `make test` runs the whole suite;
# `make install` sets up .venv and node_modules (both of the others do it first).
PY      := .venv/bin/python
PIP     := .venv/bin/pip
STAMP   := .venv/.installed
HVD_ENV := HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 \
           HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 MAKEFLAGS=-j2 PATH=$(CURDIR)/.venv/bin:$$PATH
REQS    := requirements-dev.txt requirements.lock training_jobs/requirements*.txt function_app/requirements.txt \
           inference_container/requirements.txt nlu/requirements.txt admin_site/requirements.txt

BENCHES := quality serving tiers startup turns workers transport admin retrain oos faults soak fuzz cost

.PHONY: install run lint test test-fast bench clean manifest $(addprefix bench-,$(BENCHES))

install: $(STAMP) node_modules/.installed

$(STAMP): $(REQS)
	test -x $(PY) || python3.11 -m venv .venv || python3 -m venv .venv
	$(PIP) install -q --upgrade pip==24.3.1 setuptools==69.5.1 wheel==0.45.1
	$(PIP) install -q -c requirements.lock -r requirements-dev.txt
	$(PIP) install -q --no-deps -c requirements.lock -r training_jobs/requirements-azureml.txt
	$(PIP) install -q --no-deps -r training_jobs/requirements-pretrained.txt
	$(PIP) install -q -c requirements.lock cloudpickle psutil packaging cmake
	$(PY) -c "import horovod" 2>/dev/null || $(HVD_ENV) $(PIP) install -q --no-build-isolation \
		--no-deps -c requirements.lock -r training_jobs/requirements-horovod.txt
	touch $@

# checkov scans infra/ (tests/infra/test_checkov.py); its own venv keeps its dependencies off the project's pins
.venv-checkov/.installed: infra/requirements-checkov.txt
	test -x .venv-checkov/bin/python || python3.11 -m venv .venv-checkov || python3 -m venv .venv-checkov
	.venv-checkov/bin/pip install -q --no-deps -r infra/requirements-checkov.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p admin_site/static/vendor  # the admin site serves its charting library itself (no CDN)
	cp node_modules/chart.js/dist/chart.umd.js admin_site/static/vendor/  # as the image has it (no source map)
	touch $@

run: install function_app/local.settings.json manifest
	$(PY) -m devstack run

# The branch manifest: the function app's branches, replies and default routes as the admin site knows
# them (switchboard/branches.json, in git; a test fails when it is stale). Written again when a branch
# or the routes change.
MANIFEST := switchboard/branches.json
manifest: $(MANIFEST)
$(MANIFEST): function_app/branches/*.py function_app/core/routing.py switchboard/templates.py
	cd function_app && PYTHONPATH=$(CURDIR) ../$(PY) -m core.manifest ../$(MANIFEST)

# Core Tools (`func start`) and the local host read the function app's settings from here; made once
# from the sample, then yours to edit (it is not in git)
function_app/local.settings.json:
	cp local.settings.sample.json $@

# Style and types, before any test: ruff (the rules in pyproject.toml's [tool.ruff]) and pyright
# (pyrightconfig.json: basic everywhere, strict in the modules that define the ports and shared contracts).
lint: install
	$(PY) -m ruff check .
	$(PY) -m switchboard.bundle function_app >/dev/null  # pyright reads the app's own copy, if it has one
	node_modules/.bin/pyright

test: install .venv-checkov/.installed manifest lint
	$(PY) -m pytest

# The unit tier alone (tests/conftest.py gives every test its tier): no server, no trained model, no
# worker process; under a minute, for every change. `make test` runs every tier.
test-fast: install manifest
	$(PY) -m pytest -m unit -q -p no:cacheprovider

bench: $(addprefix bench-,$(BENCHES))

bench-serving bench-tiers: bench-%: install  # wrk drives the serving benchmarks
	command -v wrk >/dev/null || (apt-get update -q && apt-get install -y -q wrk)
	$(PY) bench/$*.py

$(addprefix bench-,$(filter-out serving tiers,$(BENCHES))): bench-%: install  # bench-quality: bench/quality.py, ...
	$(PY) bench/$*.py

clean:
	rm -rf .venv .venv-checkov node_modules .pytest_cache
