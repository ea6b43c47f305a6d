# twinflow developer commands. `make demo` and `make test` create .venv (Python 3.11) themselves.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LOCK   := constraints.txt

.PHONY: demo test unit lint venv pyc lock clean prometheus-install bench

include infra/kafka/Makefile.inc

# Installs exactly the versions in $(LOCK) (the ones the benchmarks were measured with);
# editing pyproject.toml or $(LOCK) re-installs.
$(STAMP): pyproject.toml $(LOCK)
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "make: $(PYTHON) not found (twinflow needs Python 3.11 or 3.12: Bytewax ships wheels for those only)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c $(LOCK) -e '.[test]'
	touch $(STAMP)

venv: $(STAMP) pyc

# The project's bytecode, compiled ahead: with PYTHONDONTWRITEBYTECODE set (as in some dev and CI
# environments) Python never caches it, and every process (each CLI call, each benchmark child)
# compiled every module it imports again at start-up. checked-hash: Python checks each .pyc against
# its source's hash, so an edited file is never run from stale bytecode (it is compiled in memory
# until the next `make pyc`). Recompiled when a source file changed; `make clean` removes it.
PYC_SRC   := $(shell find flows twin_models benchmarks -name '*.py' -not -path '*/__pycache__/*' 2>/dev/null)
PYC_STAMP := $(VENV)/.pyc

$(PYC_STAMP): $(STAMP) $(PYC_SRC)
	$(PY) -m compileall -q --invalidation-mode checked-hash flows twin_models benchmarks
	touch $(PYC_STAMP)

pyc: $(PYC_STAMP)

# Rewrites $(LOCK) from what .venv holds now (keep .venv to what make venv installed: anything
# else pip-installed by hand would be locked too). To move a dependency: change its range in
# pyproject.toml if needed, `$(PY) -m pip install -U -e '.[test]'` (or `pip install NAME==X.Y`),
# run the tests and benchmarks, then `make lock` and commit both files.
lock:
	@test -x $(PY) || { echo "make: no $(VENV) to lock (run make venv first)"; exit 1; }
	{ echo "# Every package of .venv at its exact version: written by 'make lock', read by 'make venv'"; \
	  echo "# (pip install -c $(LOCK) -e '.[test]'). Python $$($(PY) -c 'import platform; print(platform.python_version())')."; \
	  $(PY) -m pip freeze --exclude-editable; } > $(LOCK).tmp
	mv $(LOCK).tmp $(LOCK)
	touch $(STAMP)

demo: $(STAMP) pyc
	$(VENV)/bin/twin demo --sensor-faults 0.625

# Starts the local Apache Kafka broker (fetched from Maven Central), runs every test, stops it.
# The Prometheus integration test needs Debian's prometheus package: installed here if missing.
test: $(STAMP) pyc prometheus-install
	$(KAFKA_WITH) $(PY) -m pytest -q

prometheus-install:
	@command -v prometheus >/dev/null 2>&1 || { \
	  echo "installing Debian's prometheus package (for the real-Prometheus integration test)"; \
	  command -v apt-get >/dev/null 2>&1 || { echo "make: prometheus not found and no apt-get to install it"; exit 1; }; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null && \
	  command -v prometheus >/dev/null; } || { echo "make: could not install prometheus (apt-get failed)"; exit 1; }

# Every performance benchmark of issue 10 in turn, on the local broker (started and stopped here),
# each target checked; the JSON of the run goes to benchmarks/results/ (~6-10 min on the 2-vCPU VM:
# rounds 45-47's took 6-8; run it on a quiet machine: the figures are CPU time). BENCH_ONLY="waveform scalar" runs some of them.
bench: $(STAMP) pyc
	$(KAFKA_WITH) $(PY) benchmarks/run_all.py $(if $(BENCH_ONLY),--only $(BENCH_ONLY))

unit: $(STAMP) pyc
	$(PY) -m pytest -q tests/unit tests/contract

lint: $(STAMP)
	$(VENV)/bin/ruff check twin_models flows tests benchmarks infra
	$(VENV)/bin/mypy --strict twin_models
	$(VENV)/bin/mypy --strict flows

clean:
	rm -rf $(VENV) twin-data .pytest_cache
	find flows twin_models benchmarks tests -name __pycache__ -type d -prune -exec rm -rf {} +
