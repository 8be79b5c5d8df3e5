# odegrad: the two commands a user needs are `make experiments` and `make test`.
# Both install missing Debian packages first (scripts/install-deps.sh) and build with CMake.

BUILD      ?= build
TESTBUILD  ?= build-test
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
ODEGRAD    := $(BUILD)/odegrad

.PHONY: all deps deps-mpi peers install test test-sanitize experiments experiments-full experiments-peers experiments-peers-full plots bench fuzz ranks clean

all: $(BUILD)/.configured
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/install-deps.sh

# make install [PREFIX=DIR]: the headers, libodegrad.so and .a, odegrad.pc and the command under
# DIR (default /usr/local); docs/api.md shows a first program built against them.
PREFIX ?= /usr/local
install: all
	cmake --install $(BUILD) --prefix $(PREFIX)

# Optional: Open MPI, for sweeps across ranks and `odegrad run --mpi`; the next configure finds
# it (ODG_MPI=auto; cmake -DODG_MPI=off leaves it out, on requires it).
deps-mpi:
	@scripts/install-deps.sh mpi

# The optional peers (--solver torch, --solver cvodes): Debian's python3-torch, python3-numpy and
# libsundials-dev.  Build again afterwards (CMake finds SUNDIALS when it configures).
peers:
	@scripts/install-deps.sh peers

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

# The same tests built with AddressSanitizer and UBSan (CI runs them after `make test`).  What
# the sanitizers distort or cannot run is skipped there and says so: the resident-memory
# assertions, the address-space limit, valgrind (CMakeLists.txt: ODG_SANITIZE in the tests'
# environment).
SANBUILD ?= build-sanitize
$(SANBUILD)/.configured: CMakeLists.txt | deps
	cmake -S . -B $(SANBUILD) -DCMAKE_BUILD_TYPE=Release -DODG_WERROR=ON -DODG_SANITIZE=ON
	@touch $@

test-sanitize: $(SANBUILD)/.configured
	cmake --build $(SANBUILD) -j $(JOBS)
	cd $(SANBUILD) && ctest --output-on-failure -j $(JOBS)

experiments: all
	@scripts/experiments.sh default $(ODEGRAD)

experiments-full: all
	@scripts/experiments.sh full $(ODEGRAD)

# odegrad against PyTorch and CVODES (make peers first): experiments/time-to-accuracy.ini, its
# figure and its table of time ratios; about 10 minutes on two cores, so not in the default set
experiments-peers: all
	@scripts/experiments.sh peers $(ODEGRAD)

# the same at full scale, D = 2 ... 256 (experiments/full/time-to-accuracy.ini; about an hour)
experiments-peers-full: all
	@scripts/experiments.sh peers-full $(ODEGRAD)

# make plots RESULTS=DIR PLOTS=DIR2: the figures of any results folder, into any folder
RESULTS ?= results
PLOTS   ?= plots
plots: all
	@scripts/plots.sh $(RESULTS) $(PLOTS) $(ODEGRAD)

# The "ranks" experiment (needs MPI: make deps-mpi, then a rebuild): one gradient over MPI
# ranks x threads, strong and weak scaling, into results/ranks/ and plots/ranks.png
# (scripts/ranks.sh; under Slurm, scripts/ranks.sbatch).
ranks: all
	@scripts/ranks.sh $(ODEGRAD)

bench: all
	@scripts/bench.sh $(BUILD)

# make fuzz [FUZZ_SECONDS=N] [FUZZ_TARGETS="sweep npy argv"]: the sweep-file parser, the .npy
# reader and the command line under libFuzzer, ASan and UBSan, N seconds each (fuzz/run.sh,
# build in build-fuzz/, seeds from tests/data/TARGET/, which make test replays).  Optional, so
# `make deps` leaves its compiler out: apt-get install clang libclang-rt-14-dev libomp-dev
FUZZBUILD    ?= build-fuzz
FUZZ_SECONDS ?= 60
fuzz:
	@fuzz/run.sh $(FUZZBUILD) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(TESTBUILD) $(SANBUILD) $(FUZZBUILD)
