# kura: `make run` serves with the built-in defaults; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian packages the tests drive: the real registry, real clients, a headless browser
# for the status page, and wrk for the benchmark.
TEST_PACKAGES := docker-registry skopeo containerd podman chromium wrk
TEST_BINARIES := docker-registry skopeo containerd ctr podman chromium wrk

.PHONY: run test test-unit test-integration test-e2e system-deps bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/kura serve $(if $(CONFIG),--config $(CONFIG))

# Installs what the tests need when running as root and it is missing.
system-deps:
	@missing=""; for b in $(TEST_BINARIES); do command -v $$b >/dev/null 2>&1 || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TEST_PACKAGES) >/dev/null; \
	  else echo "missing:$$missing (run as root or apt-get install -y $(TEST_PACKAGES))"; fi; \
	fi

test: $(STAMP) system-deps
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

test-integration: $(STAMP)
	$(PY) -m pytest -q tests/integration

test-e2e: $(STAMP) system-deps
	$(PY) -m pytest -q tests/e2e

# kura against Distribution's proxy mode (bench/run.py); BENCH_ARGS=--quick for tiny sizes.
bench: $(STAMP) system-deps
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache
