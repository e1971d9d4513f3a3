# `make run` and `make test` work on a fresh machine with Python 3.11, Node.js 20 and make
# (run as root, `make test` also installs Debian's chromium and a Chinese font for the browser tests).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
CHROMIUM   := /usr/bin/chromium
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: install node_modules modeller chromium run test lint docs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# bpmn-js, dmn-js and playwright-core from package-lock.json (the embedded modeller, diagram rendering).
$(NODE_STAMP): package.json $(wildcard package-lock.json)
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "note: npm not found; install Node.js 20 for bpmn-js (browser tests are skipped, or fail under CI)"; \
	elif [ -f package-lock.json ]; then \
		npm ci --no-audit --no-fund && touch $(NODE_STAMP); \
	else \
		npm install --no-audit --no-fund && touch $(NODE_STAMP); \
	fi

node_modules: $(NODE_STAMP)

# The embedded modeller (bpmn-js/dmn-js + Camunda 7 properties panels) bundled by esbuild into
# webui/static/build/ (git-ignored, never committed): webui/static/modeller/build.mjs.
MODELLER := webui/static/build/modeller.js
$(MODELLER): $(NODE_STAMP) $(wildcard webui/static/modeller/*.js webui/static/modeller/*.css webui/static/modeller/*.mjs)
	@if [ -x node_modules/.bin/esbuild ]; then \
		node webui/static/modeller/build.mjs; \
	else \
		echo "note: esbuild missing (npm ci did not run); the embedded modeller is not built"; \
	fi

modeller: $(MODELLER)

# Headless Chromium for tools/render_bpmn.mjs, with a CJK font so that Chinese labels render.
chromium:
	@if [ -x $(CHROMIUM) ] && fc-list :lang=zh 2>/dev/null | grep -q .; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update && apt-get install -y chromium fonts-noto-cjk; \
	else \
		echo "note: $(CHROMIUM) or a Chinese font is missing; as root: apt-get install -y chromium fonts-noto-cjk" \
			"(browser tests are skipped, or fail under CI)"; \
	fi

run: install node_modules modeller
	$(BIN)/ybjg db upgrade
	$(BIN)/ybjg seed --demo
	$(BIN)/python -m webui --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .

test: install lint node_modules modeller chromium
	$(BIN)/pytest

# docs/processes.md and docs/processes/*.png from bpmn/ (tests/tools/test_catalogue.py checks it is current).
docs: install node_modules chromium
	$(BIN)/python -m tools.catalogue

bench: install
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) instance .pytest_cache node_modules webui/static/build
