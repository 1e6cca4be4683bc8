# Testimony — the two commands in README.md are `make run` and `make test`.
# Everything installs into a local virtual environment (.venv) from PyPI.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= data
PORT   ?= 8000

# The PostgreSQL tests use this server; each run makes its own schema there.
# Set it empty (TESTIMONY_TEST_POSTGRES_URL=) to skip them outside CI.
TESTIMONY_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export TESTIMONY_TEST_POSTGRES_URL

WEB    := service/web/js

.PHONY: install run test coverage browser-deps deploy-deps bundle-deps bench clean

$(STAMP): pyproject.toml
	@# PyICU compiles against the system's ICU (the workstation's transliterating search).
	@pkg-config --exists icu-i18n 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends libicu-dev pkg-config; \
	  else \
	    echo "PyICU needs ICU's headers: sudo apt-get install libicu-dev pkg-config" >&2; exit 1; \
	  fi; }
	@# WeasyPrint (the bundle's report as PDF) draws with Pango and DejaVu's glyphs; the
	@# report's tests read the PDF back with poppler's pdftotext.
	@{ ! dpkg-query -W -f='$${db:Status-Status}\n' libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core 2>&1 | grep -qvx installed && command -v pdftotext >/dev/null; } || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core poppler-utils; \
	  else \
	    echo "the bundle's PDF report needs Pango (its tests pdftotext): sudo apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core poppler-utils" >&2; exit 1; \
	  fi; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --editable '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# A local instance on the embedded default (SQLite and blobs under $(DATA)).
# The first run makes a demo intake key pair in $(KEYS): its private half
# stays outside the data dir, as it must (in production it lives with the
# reviewers, never on the server).
KEYS ?= keys
run: $(STAMP)
	@if [ ! -f $(DATA)/log-key ]; then \
	  mkdir -p $(KEYS) && chmod 700 $(KEYS) && \
	  $(BIN)/testimony intake-key new --private $(KEYS)/intake.seed --public $(KEYS)/intake.pub && \
	  $(BIN)/testimony init --data-dir $(DATA) --intake-public-key $(KEYS)/intake.pub; \
	fi
	$(BIN)/testimony serve --data-dir $(DATA) --port $(PORT)

# The browser tests drive Debian's Chromium (never a downloaded browser) and
# rebuild the sealing module from its pinned npm lockfile.
browser-deps: $(WEB)/node_modules/.package-lock.json
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	  else \
	    echo "the browser tests need Debian's chromium: sudo apt-get install chromium chromium-driver" >&2; exit 1; \
	  fi; }

# The deployment tests (tests/deploy) run deploy/'s nginx site in front of a
# real server and check deploy/tor/torrc with tor itself (Debian's packages;
# the services the packages may start are stopped and disabled again).
deploy-deps:
	@{ [ -x /usr/sbin/nginx ] && [ -x /usr/sbin/tor ]; } || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx-light tor && \
	    { systemctl disable --now nginx tor >/dev/null 2>&1 || true; }; \
	  else \
	    echo "the deployment tests need Debian's nginx and tor: sudo apt-get install nginx-light tor" >&2; exit 1; \
	  fi; }

# The bundle tests (tests/client/bundle) check that an encrypted bundle opens with
# the recipient's standard tool: Debian's age and age-keygen.
bundle-deps:
	@{ command -v age >/dev/null && command -v age-keygen >/dev/null; } || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends age; \
	  else \
	    echo "the bundle tests need Debian's age: sudo apt-get install age" >&2; exit 1; \
	  fi; }

$(WEB)/node_modules/.package-lock.json: $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error

test: $(STAMP) browser-deps deploy-deps bundle-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	mkdir -p $(VENV)/mypy-root/testimony
	for d in crypto client service forms migrations workstation; do ln -sfn "$(CURDIR)/$$d" $(VENV)/mypy-root/testimony/$$d; done
	$(BIN)/lint-imports --no-cache architecture.ini
	$(BIN)/mypy
	@# No coverage here: its tracer made the suite a quarter slower (past 15 minutes on
	@# 2 cores); `make coverage` measures it.
	$(BIN)/pytest

coverage: $(STAMP) browser-deps deploy-deps bundle-deps
	$(BIN)/pytest --cov --cov-report=term

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
