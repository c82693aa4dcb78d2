# The front door: CMake does the building, in build/.
#   make         install missing packages, build everything (Release), get CIFAR-10 if absent
#   make data    put CIFAR-10 in data/cifar-10-batches-bin (tools/get-cifar10.sh)
#   make test    build, then run the test suite through ctest
#   make test-other-kernels   the suite again on another CPU's kernels (tools/test-other-kernels.sh)
#   make bench   build, then run the benchmarks
#   make format  format the sources with clang-format (make format-check: only report)
#   make clean   remove build/ and the program links
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PROGRAMS := sav_train sav_viz

.PHONY: all deps configure build data test test-other-kernels bench format format-check clean

all: build data

deps:
	@tools/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt: CMakeLists.txt | deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

configure: $(BUILD_DIR)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD_DIR) --parallel $(JOBS)
	@for p in $(PROGRAMS); do \
	  if [ -x $(BUILD_DIR)/$$p ]; then ln -sf $(BUILD_DIR)/$$p $$p; fi; \
	done

data:
	@tools/get-cifar10.sh

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

test-other-kernels: build
	tools/test-other-kernels.sh $(BUILD_DIR)

bench: build
	$(BUILD_DIR)/sav_bench

format: deps
	tools/format.sh

format-check: deps
	tools/format.sh --check

clean:
	rm -rf $(BUILD_DIR)
	rm -f $(PROGRAMS)
