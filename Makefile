# Two commands do all the set-up on a fresh machine (Python 3.10/3.11):
#   make train   pack scikit-learn's digits and train on them with 2 Horovod CPU workers
#   make test    run the test suite (unit + multi-process integration tests; make test-long: the cluster and fault tests)
# Both create .venv on first use; later runs reuse it and start in seconds.

VENV  ?= .venv
BIN    = $(VENV)/bin
STAMP  = $(VENV)/.mxdl-installed
DIGITS = runs/data/digits

.PHONY: train test test-fast test-long bench env clean

$(STAMP): setup.py requirements/constraints.txt scripts/bootstrap.sh scripts/horovod_wheel.sh
	bash scripts/bootstrap.sh $(VENV)
	touch $(STAMP)

env: $(STAMP)

train: $(STAMP)
	$(BIN)/mxdl-pack digits $(DIGITS)-images
	$(BIN)/mxdl-pack build $(DIGITS)-images $(DIGITS)-shards --split-sizes train=0.8,val=0.2 --png --gray --shards 2 --seed 0
	PATH=$(abspath $(BIN)):$$PATH launch/train.sh configs/digits.yaml --np 2 --fresh

# The suite in three tiers (pytest.ini's markers): test-fast under a minute, test under five
# minutes (two processes: much of it waits on Horovod workers), test-long the cluster and fault
# work that CI runs as well.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not long" tests

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" tests

test-long: $(STAMP)
	$(BIN)/python -m pytest -q -m long tests

bench: $(STAMP)
	$(BIN)/python bench/run_all.py
	$(BIN)/python bench/readme_table.py --write README.md

clean:
	rm -rf runs .pytest_cache
