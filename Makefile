# odegrad: the two commands a user needs are `make experiments` and `make test`.
# Both install missing Debian packages first (scripts/install-deps.sh) and build with CMake.

BUILD      ?= build
TESTBUILD  ?= build-test
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
ODEGRAD    := $(BUILD)/odegrad

.PHONY: all deps test experiments experiments-full plots bench clean

all: $(BUILD)/.configured
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/install-deps.sh

$(BUILD)/.configured: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	@touch $@

# The test build: the same optimisation as Release, warnings as errors.
$(TESTBUILD)/.configured: CMakeLists.txt | deps
	cmake -S . -B $(TESTBUILD) -DCMAKE_BUILD_TYPE=Release -DODG_WERROR=ON
	@touch $@

test: $(TESTBUILD)/.configured
	cmake --build $(TESTBUILD) -j $(JOBS)
	cd $(TESTBUILD) && ctest --output-on-failure -j $(JOBS)

experiments: all
	@scripts/experiments.sh default $(ODEGRAD)

experiments-full: all
	@scripts/experiments.sh full $(ODEGRAD)

# make plots RESULTS=DIR PLOTS=DIR2: the figures of any results folder, into any folder
RESULTS ?= results
PLOTS   ?= plots
plots: all
	@scripts/plots.sh $(RESULTS) $(PLOTS) $(ODEGRAD)

bench: all
	@scripts/bench.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(TESTBUILD)
