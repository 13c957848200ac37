# The two commands of the README:
#   make demo   -- main job: set up, build, run the demos (real comparisons, printed and plotted)
#   make test   -- set up, build, run the whole default test suite (what .ci/run calls)
# Both create .venv with the CPU build of torch 2.13.0 and build the C extension.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.mushin-installed
CC     ?= gcc
CFLAGS_KERNEL := -O2 -g -Wall -Wextra -std=c11

.PHONY: setup build demo test test-slow test-all ckernels sanitize bench clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test,plot]'
	touch $(STAMP)

setup: $(STAMP)

# Rebuild the extension in place whenever a C file changed.
build: setup
	$(PY) setup.py --quiet build_ext --inplace

# every demo in examples/; plots (PNG), saved results and report.md land in demo-output/
demo: build
	$(PY) -m mushin demo

test: build ckernels
	$(PY) -m pytest -q

test-slow: build
	$(PY) -m pytest -q -m slow

test-all: test test-slow

# The C kernels alone: no Python, no NumPy.
ckernels:
	$(CC) $(CFLAGS_KERNEL) -pthread -Icsrc csrc/test_kernels.c csrc/confusion.c csrc/logits.c csrc/parallel.c csrc/stats.c csrc/ranktests.c csrc/scores.c -lm -o csrc/test_kernels
	./csrc/test_kernels

# AddressSanitizer + UBSan build of the extension, then the test suite under it.
sanitize: setup
	MUSHIN_SANITIZE=1 $(PY) setup.py --quiet build_ext --inplace --force
	ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD=$$($(CC) -print-file-name=libasan.so) $(PY) -m pytest -q -x -p no:cacheprovider
	$(PY) setup.py --quiet build_ext --inplace --force

bench: build
	$(PY) benchmarks/bench_confusion.py
	$(PY) benchmarks/bench_classification.py --threads 1
	$(PY) benchmarks/bench_fused.py

clean:
	rm -rf build dist *.egg-info mushin/*.so csrc/test_kernels
