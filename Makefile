# A newcomer's two commands: `make fit` and `make test`. Both create .venv and install the project first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The torch build to install when the venv has none (e.g. TORCH_SPEC="torch==2.13.0" for the CPU wheel).
TORCH_SPEC ?=
ARGS ?=

.PHONY: install browser fit test lint mutation clean

# The stamp is rebuilt only when pyproject.toml changes, so the second `make` starts at once.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(if $(TORCH_SPEC),$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)")
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@# Build the compiled recurrences now, so that no first request or first training step waits for them.
	$(BIN)/python -c "from rnn_lightning.models.compiled import recurrence_kernel; recurrence_kernel()"
	touch $@

install: $(VENV)/.installed

fit: install
	$(BIN)/rnn-lightning fit $(ARGS)

# The serving tests drive the page in Debian's chromium (Playwright cannot download browsers here): install it
# where it is missing and this user may (CI runs as root); otherwise say how.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -qq chromium >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null; }; }; } || \
	  echo "make: no chromium, and it cannot be installed here: run 'apt-get install chromium' as root"

test: install browser
	$(BIN)/python -m pytest $(ARGS)

lint: install
	$(BIN)/ruff check rnn_lightning scripts tests

# Mutation testing of the core modules against the fast tests ([tool.mutmut] in pyproject.toml); long.
mutation: install
	$(BIN)/mutmut run --max-children 2 || true
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info mutants
