# Two commands on a fresh machine: `make demo` and `make test`. Each sets up .venv itself from
# the pinned versions of requirements.lock; the install is a no-op while the lock and
# pyproject.toml are unchanged. `make lock` refreshes the pins on purpose.
VENV   := .venv
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
JOBS   ?= 2

.PHONY: venv lock lint demo test test-fast reliability clean-results

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --no-deps -r requirements.lock
	$(VENV)/bin/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# Resolve pyproject.toml's ranges afresh and rewrite requirements.lock and envs/minisuperb.yaml.
lock:
	bash envs/lock.sh

# Snakemake's linter and snakefmt, as the snakemake-workflows catalog expects (also in `make test`).
lint: $(STAMP)
	snakemake --lint --cores 1
	snakefmt --check Snakefile rules

# The whole DAG on the embedded demo corpus (config/config.yaml): report in results/report/.
demo: $(STAMP)
	snakemake --profile profiles/local --cores $(JOBS)
	@echo "Demo finished: open results/report/report.html (summary in results/report/report.md)"

# Every test, including the real one-node SLURM, the headless-Chromium report check and the
# fault-injection suite (tests/reliability, a few minutes).
test: lint
	bash tests/setup/install_system_deps.sh
	pytest -q

# The unit tests only (no SLURM cluster, no browser, no fault-injection suite).
test-fast: $(STAMP)
	pytest -q -m "not slurm and not browser and not reliability"

# The fault-injection suite alone (kill -9, full disk, damaged inputs, concurrency, fuzz; also
# part of `make test`; its disk-full faults need root for a small tmpfs and are skipped, saying
# so, without it) and its tally: writes tests/reliability/outcomes.json and RELIABILITY.md.
reliability: $(STAMP)
	rm -f tests/reliability/outcomes.json
	MINISUPERB_RELIABILITY_JSON=$(CURDIR)/tests/reliability/outcomes.json pytest -q -p no:cacheprovider tests/reliability; \
	status=$$?; python tests/reliability/render.py tests/reliability/outcomes.json RELIABILITY.md && exit $$status

clean-results:
	rm -rf results .snakemake
