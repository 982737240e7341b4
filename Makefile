# Two entry points: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
PIP := $(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test bench mutation venv clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

venv: $(VENV)/bin/python

demo: venv
	$(PIP) -e ".[ann,ranking,serve]"
	$(VENV)/bin/shortlist demo

# obp (the OPE reference tests/evaluation/test_ope.py compares against) is a wheel-less sdist
# pinned to ancient numpy/pandas: installed without its dependencies, as `make bench` does
OBP := --no-deps --ignore-requires-python --no-binary obp "obp==0.5.7"

test: venv
	$(PIP) -e ".[ann,ranking,serve,neural,ray,test]"
	$(PIP) $(OBP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/python -m pytest

bench: venv
	$(PIP) -e ".[ann,ranking,test,bench,ray]"
	# benchmarks/distributed_als.py compares with Spark MLlib's ALS: pyspark and a Java 17 runtime
	$(PIP) "pyspark>=3.5,<5"
	command -v java >/dev/null 2>&1 || apt-get install -y -qq openjdk-17-jre-headless || \
		sudo apt-get install -y -qq openjdk-17-jre-headless || echo "no Java: distributed_als.py skips Spark"
	# peers that need special install flags: LightFM builds with Cython, obp ships as an sdist
	$(PIP) setuptools wheel cython
	$(PIP) --no-build-isolation lightfm
	$(PIP) $(OBP)
	# wrk drives the HTTP load benchmark (serve_load.py falls back to an httpx client without it)
	command -v wrk >/dev/null 2>&1 || apt-get install -y -qq wrk || sudo apt-get install -y -qq wrk || \
		echo "wrk not installed: benchmarks/serve_load.py will use its httpx client"
	@echo "benchmarks: $(VENV)/bin/python benchmarks/<script>.py (see benchmarks/README.md)"

# mutation testing of the core modules (docs/testing.md): cosmic-ray in scratch copies under
# build/mutation/, only each module's own fast tests; MODULES="ope metrics" picks some, JOBS runs
# modules side by side. Prints the score per module; survivors in build/mutation/<module>/survivors.txt
MODULES ?=
JOBS ?= 1
mutation: venv
	$(PIP) -e ".[ann,ranking,serve,test,bench]"
	nice -n 10 $(VENV)/bin/python .ci/mutation.py --jobs $(JOBS) $(MODULES)

clean:
	rm -rf $(VENV) build .pytest_cache
