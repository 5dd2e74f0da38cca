# Two commands do all set-up on a fresh machine (Python 3.11+ with venv):
#   make demo   scan the bundled sample captures: terminal summary + HTML report in out/
#   make test   run the whole test suite (installs and starts PostgreSQL and Chromium for it)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test system lint lock bench soak clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p out
	$(BIN)/minescope scan samples/pcap --registry samples/org-registry.csv --db out/minescope.db
	$(BIN)/minescope scan samples/pcap --registry samples/org-registry.csv --no-store --format html -o out/report.html
	$(BIN)/minescope scan samples/pcap --registry samples/org-registry.csv --no-store --format json -o out/report.json
	@echo "out/report.html, out/report.json, out/minescope.db"

# The store tests run on SQLite and on a real PostgreSQL server; the console is walked through in Chromium.
# system-deps.sh installs the Debian packages that needs (sudo when not root), start-postgres.sh starts it.
# Two pytest workers (pytest-xdist), one per core: the suite takes about half as long.
TEST_PG ?= postgresql+psycopg://minescope:minescope@127.0.0.1:5432/minescope

test: $(STAMP) system
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/mypy
	MINESCOPE_TEST_PG=$(TEST_PG) MINESCOPE_REQUIRE_PG=1 MINESCOPE_REQUIRE_BROWSER=1 MINESCOPE_NO_SKIP=1 $(BIN)/pytest -q -n 2

system:
	bash scripts/system-deps.sh
	bash scripts/start-postgres.sh
	bash scripts/fetch-miners.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/mypy

# Re-pin dependencies after changing pyproject.toml (needs network access to PyPI).
lock:
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

bench: $(STAMP)
	$(BIN)/python benchmarks/capture_speed.py

# The fault-injection suite (tests/faults/) as a soak: new seeds and four times the cases, round after round,
# for MINUTES minutes (docs/reliability.md, "How it is tested"). make test runs it once, with seed 0.
MINUTES ?= 30
soak: $(STAMP) system
	MINESCOPE_TEST_PG=$(TEST_PG) MINESCOPE_REQUIRE_PG=1 $(BIN)/python benchmarks/soak.py --minutes $(MINUTES)

clean:
	rm -rf $(VENV) out benchmarks/work
