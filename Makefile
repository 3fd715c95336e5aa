# Two commands on a fresh machine: `make demo` and `make test`. Each sets up .venv itself;
# the install is a no-op while pyproject.toml is unchanged.
VENV   := .venv
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
JOBS   ?= 2

.PHONY: venv demo test test-fast clean-results

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

# The whole DAG on the embedded demo corpus (config/config.yaml): report in results/report/.
demo: $(STAMP)
	snakemake --profile profiles/local --cores $(JOBS)
	@echo "Demo finished: open results/report/report.html (summary in results/report/report.md)"

# Every test, including the real one-node SLURM and the headless-Chromium report check.
test: $(STAMP)
	bash tests/setup/install_system_deps.sh
	pytest -q

# The unit tests only (no SLURM cluster, no browser).
test-fast: $(STAMP)
	pytest -q -m "not slurm and not browser"

clean-results:
	rm -rf results .snakemake
