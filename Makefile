# The README's two commands: `make demo` and `make test`. Each installs what is
# missing (tools/install-deps.sh), configures with CMake + Ninja, builds, then
# runs the demo or every test. `make` alone builds; `make bench` measures
# (bench/results/, and the README's table).
BUILD_DIR ?= build
CMAKE_FLAGS ?=
TJ := $(BUILD_DIR)/bin/tensorjit

PYTHON := /usr/bin/python3
RESULTS := bench/results

.PHONY: all deps build demo test bench clean

all: build

deps:
	@./tools/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR)

demo: build
	@./examples/demo.sh $(TJ)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 600 -j2

bench: build
	mkdir -p $(RESULTS)
	$(BUILD_DIR)/bench/bench_kernels --benchmark_min_time=0.2 --benchmark_repetitions=3 \
	  --benchmark_report_aggregates_only=true \
	  --benchmark_out=$(RESULTS)/bench_kernels.json --benchmark_out_format=json | tee $(RESULTS)/bench_kernels.txt
	$(PYTHON) bench/kernels_table.py $(RESULTS)/bench_kernels.json > $(RESULTS)/bench_kernels.md
	PYTHONPATH=$(BUILD_DIR)/python $(PYTHON) bench/compare.py --out $(RESULTS)
	$(PYTHON) bench/update_readme.py README.md $(RESULTS)/compare.md $(RESULTS)/bench_kernels.md

clean:
	rm -rf $(BUILD_DIR)
