# The two front doors: `make run` (the whole product on the embedded default) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint assets messages bench bench-chat clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt constraints.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt -c constraints.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt constraints.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt -c constraints.txt
	touch $@ $(VENV)/.runtime

# The Node packages the realtime tests and the chat bench drive (socket.io-client, pinned by lockfiles
# that name no registry host); reinstalled only when a lockfile changes.
JS_TESTS := live/tests/js
$(JS_TESTS)/node_modules/.installed: $(JS_TESTS)/package-lock.json
	npm ci --prefix $(JS_TESTS) --no-audit --no-fund
	touch $@

# The pages' front end (docs/pages.md): npm packages pinned by static/package-lock.json, bundled by
# esbuild into static/dist/ (git-ignored; the only static folder of the pages). Rebuilt when a source
# or the lockfile changes.
static/node_modules/.installed: static/package-lock.json
	npm ci --prefix static --no-audit --no-fund
	touch $@

ASSET_SOURCES := static/build.mjs $(wildcard static/src/*.js static/src/*.css static/src/img/*)
static/dist/.built: static/node_modules/.installed $(ASSET_SOURCES)
	npm run --prefix static --silent build
	touch $@

assets: static/dist/.built

# Translations: extract the pages' and the API's messages into locale/*/django.po and compile the
# committed .mo files, with Babel (no GNU gettext needed). `manage.py translations --check` is a test.
messages: $(VENV)/.dev
	$(BIN)/python manage.py translations

bench/node_modules/.installed: bench/package-lock.json
	npm ci --prefix bench --no-audit --no-fund
	touch $@

run: $(VENV)/.runtime static/dist/.built
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py seed_demo
	@echo "Serving http://$(HOST):$(PORT)/  (API docs: /api/docs/, admin: /admin/, health: /healthz)"
	@# The background jobs (expiry, earnings release, missed classes) run beside the server: one Celery
	@# worker with its beat, on the filesystem broker in .celery/ (no Redis needed); stopped with it.
	@$(BIN)/celery -A tutoring worker --beat --pool=solo --loglevel=WARNING & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/daphne -b $(HOST) -p $(PORT) tutoring.asgi:application

test: $(VENV)/.dev $(JS_TESTS)/node_modules/.installed static/dist/.built
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# The benchmarks' extra packages (the plot, uvicorn's uvloop/httptools/websockets, py-spy).
$(VENV)/.bench: requirements-bench.txt requirements-dev.txt requirements.txt constraints.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-bench.txt -c constraints.txt
	touch $@ $(VENV)/.dev $(VENV)/.runtime

# Every benchmark in one run, written to bench/report/REPORT.md with a latency plot (bench/README.md).
# Not part of `make test`. Set DATABASE_URL and REDIS_URL for production-like figures.
bench: $(VENV)/.bench bench/node_modules/.installed
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

# Realtime chat under load: our stack against a plain Node socket.io server (see bench/README.md).
bench-chat: $(VENV)/.dev bench/node_modules/.installed
	$(BIN)/python bench/chat_bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) staticfiles db.sqlite3 .celery node_modules $(JS_TESTS)/node_modules bench/node_modules \
		static/node_modules static/dist test-artifacts
