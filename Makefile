# amg-bench: `make demo` and `make test` work on a fresh machine (Python 3.11, pip, apt as root).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

# System libraries: FFmpeg shared libraries for PyAV/torchcodec video IO, and Chromium +
# ChromeDriver for the leaderboard page's browser test. Installed with apt when missing.
SYSTEM_PACKAGES := ffmpeg chromium chromium-driver

.PHONY: install demo test lint format bench system-deps clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

system-deps:
	@missing=""; \
	ldconfig -p | grep -q 'libavcodec\.so' || missing="$$missing ffmpeg"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  if ! command -v apt-get >/dev/null 2>&1; then \
	    echo "error: missing system packages:$$missing. Install them with your package manager" \
	         "(FFmpeg shared libraries for video IO; Chromium and ChromeDriver for the browser test)." >&2; \
	    exit 1; \
	  fi; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO="sudo"; \
	  echo "installing system packages:$$missing"; \
	  $$SUDO apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $(SYSTEM_PACKAGES); \
	fi

demo: install
	$(BIN)/amg-bench demo

test: install
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) tests

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) runs demo_data leaderboard/demo .pytest_cache
