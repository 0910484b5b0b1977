# The README's two commands: `make demo` and `make test`. Each installs what is
# missing (tools/install-deps.sh), configures with CMake + Ninja, builds, then
# runs the demo or every test. `make` alone builds.
BUILD_DIR ?= build
CMAKE_FLAGS ?=
TJ := $(BUILD_DIR)/bin/tensorjit

.PHONY: all deps build demo test clean

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

clean:
	rm -rf $(BUILD_DIR)
