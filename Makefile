# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

PEERS := $(VENV)/peers
PEERS_STAMP := $(PEERS)/.installed
PYROGRAM_PEERS := 2.0.93 2.0.106
PEER_PINS := tests/peers/schemas.sha256 $(PYROGRAM_PEERS:%=tests/peers/pyrogram/requirements-%.txt) \
	tests/peers/gramjs/package.json tests/peers/gramjs/package-lock.json

.PHONY: demo test lint typecheck imports unit emulator bench clean

# hls.js, which the watch page loads from tgstream's own /static to play HLS: npm installs the
# exact version npm/package-lock.json pins (and checks its integrity hash), and its built
# file is copied beside watch.js. Built, never committed; npm comes from Debian (see
# .ci/debian-packages). Order-only for the stamp: a new hls.js does not reinstall the venv.
HLS_JS := tgstream/web/static/hls.min.js
NPM_BUILD := $(VENV)/npm

$(HLS_JS): npm/package.json npm/package-lock.json
	command -v npm >/dev/null || .ci/debian-packages
	rm -rf $(NPM_BUILD) && mkdir -p $(NPM_BUILD)
	cp npm/package.json npm/package-lock.json $(NPM_BUILD)/
	cd $(NPM_BUILD) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	cp $(NPM_BUILD)/node_modules/hls.js/LICENSE tgstream/web/static/hls.js.LICENSE
	cp $(NPM_BUILD)/node_modules/hls.js/dist/hls.min.js $@

$(STAMP): requirements.txt requirements-demo.txt requirements-dev.txt pyproject.toml | $(HLS_JS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# Older clients the emulator answers in their own API layer, all pinned: Pyrogram's source
# distributions (their compiler/api/source/main_api.tl is the layer-151 and -158 schema),
# stock Pyrogram 2.0.93 and 2.0.106 for the peer checks (--target: their `pyrogram` must not
# meet Kurigram's), and GramJS from npm (its tl/apiTl.js is the layer-198 schema; node runs it).
$(PEERS_STAMP): $(STAMP) $(PEER_PINS)
	.ci/debian-packages
	rm -rf $(PEERS) && mkdir -p $(PEERS)/sdist $(PEERS)/gramjs
	for file in $$(awk '{print $$2}' tests/peers/schemas.sha256); do \
		version=$${file#Pyrogram-}; \
		$(BIN)/pip download --quiet --no-binary :all: --no-deps -d $(PEERS)/sdist \
			pyrogram==$${version%.tar.gz} || exit 1; \
	done
	cd $(PEERS)/sdist && sha256sum --check --quiet $(CURDIR)/tests/peers/schemas.sha256
	for version in $(PYROGRAM_PEERS); do \
		$(BIN)/pip install --quiet --no-deps --require-hashes --target $(PEERS)/pyrogram-$$version \
			-r tests/peers/pyrogram/requirements-$$version.txt || exit 1; \
	done
	cp tests/peers/gramjs/package.json tests/peers/gramjs/package-lock.json $(PEERS)/gramjs/
	cd $(PEERS)/gramjs && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(PEERS_STAMP)

demo: $(STAMP)
	$(BIN)/tgstream demo

emulator: $(STAMP)
	$(BIN)/tgstream emulator

bench: $(STAMP)
	$(BIN)/tgstream bench

lint: $(STAMP)
	$(BIN)/ruff check tgstream tgemu tgbench tests
	$(BIN)/ruff format --check tgstream tgemu tgbench tests

typecheck: $(STAMP)
	$(BIN)/mypy

# The import contracts in pyproject.toml: layers, the product alone, no cycles.
imports: $(STAMP)
	$(BIN)/lint-imports

# Three workers on two cores: most of the suite waits on timers and sockets, not the CPU.
# A file's tests stay on one worker (loadfile), so module fixtures start once; each worker
# has its own emulator.
test: lint typecheck imports $(PEERS_STAMP)
	.ci/debian-packages
	$(BIN)/pytest -q -n 3 --dist loadfile

clean:
	rm -rf $(VENV) $(HLS_JS) tgstream/web/static/hls.js.LICENSE .mypy_cache .ruff_cache .pytest_cache .hypothesis
