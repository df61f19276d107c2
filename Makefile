# The two fresh-machine commands: `make demo` and `make test`.
# Each creates .venv when missing, installs the project, and makes sure the WordNet database
# (Debian package wordnet-base) is present, installing it when running as root.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEXT_STAMP := $(VENV)/.installed-text
SCALE_STAMP := $(VENV)/.installed-scale
MILVUS_VENV := .venv-milvus
MILVUS_STAMP := $(MILVUS_VENV)/.installed
WORDNET := /usr/share/wordnet/data.noun

.PHONY: demo test test-fast test-slow wordnet chromium lint clean text scale milvus-server

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The text and image extras (MiniLM, CLIP). torch==2.13.0 first: on this machine it is a CPU wheel on disk, while
# a bare `torch` (what sentence-transformers would ask for) is a multi-GB CUDA build.
$(TEXT_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test,text,image]'
	touch $(TEXT_STAMP)

text: $(TEXT_STAMP)

# The milvus and ray extras (Milvus index backend, Ray executor); their tests skip without them.
$(SCALE_STAMP): $(TEXT_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,text,milvus,ray]'
	touch $(SCALE_STAMP)

scale: $(SCALE_STAMP)

# A real Milvus server for the milvus_server tests, without docker: the `milvus` 2.3.5 wheel (PyPI,
# 58 MB, Linux x86_64, no dependencies) bundles a Milvus standalone binary with embedded etcd and
# RocksMQ; tests/index/milvus_launcher.py starts it from this separate venv (the project never
# imports it). Where it cannot install, the note below says so and those tests skip.
$(MILVUS_STAMP):
	@test -x $(MILVUS_VENV)/bin/python || $(PYTHON) -m venv $(MILVUS_VENV)
	@if $(MILVUS_VENV)/bin/python -m pip install --quiet milvus==2.3.5; then touch $(MILVUS_STAMP); else \
	  echo "note: milvus==2.3.5 did not install into $(MILVUS_VENV), so the milvus_server tests will be skipped"; \
	  rm -rf $(MILVUS_VENV); \
	fi

milvus-server: $(MILVUS_STAMP)

wordnet:
	@if [ ! -f $(WORDNET) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing WordNet 3.0 (Debian package wordnet-base)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base >/dev/null; \
	  else \
	    echo "error: $(WORDNET) is missing; run: sudo apt-get install -y wordnet-base" >&2; exit 1; \
	  fi; \
	fi

# The browser tests (pytest -m browser) drive Debian's chromium through Playwright.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing chromium (Debian package) for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "note: /usr/bin/chromium is missing, so the browser tests will be skipped; run: sudo apt-get install -y chromium"; \
	  fi; \
	fi

demo: $(STAMP) wordnet
	$(BIN)/seals demo

# Everything: slow tests (the full WordNet build and whole runs), every crash kill point, and the
# tests against a real Milvus server.
test: $(SCALE_STAMP) milvus-server wordnet chromium
	$(BIN)/python -m pytest -m "slow or not slow or crash"

test-fast: $(TEXT_STAMP)  # MiniLM tests need the text extra (torch is a CPU wheel on disk here)
	$(BIN)/python -m pytest -m "not slow and not crash and not milvus_server"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(MILVUS_VENV) seals-data demo-out .pytest_cache
