# mosaik — the two commands a newcomer needs are `make demo` and `make test`.
#
#   make            build (installs missing Debian packages when run as root)
#   make demo       build and run the demo
#   make test       build and run every test: the quick mutation checks, then
#                   plain, ASan+UBSan, fuzzers
#   make mutants    every targeted mutant of the verifiers must be killed by
#                   its tests (scripts/mutants.sh, tests/mutants/)
#   make bench      run the benchmarks
#   make fuzz       build and run each libFuzzer target (FUZZ_SECONDS each)
#   make install    install library, headers, mosaik.pc, CMake package, the CLI
#                   with mosaik(1), bash completion, mosaik.service and
#                   etc/mosaik/node.conf (PREFIX, DESTDIR); builds only these,
#                   not the tests
#   make uninstall  remove what `make install` installed (node.conf is kept)
#   make format     clang-format the tree

PREFIX       ?= /usr/local
JOBS         ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 20
CMAKE_FLAGS  ?=
BUILD        := build
ASAN_BUILD   := build-asan
FUZZ_BUILD   := build-fuzz
# What `make install` builds, and the manifest it keeps for `make uninstall`
# (its own copy: a test's `cmake --install` elsewhere rewrites the build
# tree's install_manifest.txt).
INSTALL_TARGETS := mosaik mosaik_static mosaik_cli mosaik_man
INSTALL_MANIFEST := $(BUILD)/make-install-manifest.txt

# Quiet: no "Entering directory" lines from the sub-makes CMake runs.
MAKEFLAGS += --no-print-directory

.PHONY: all deps build configure demo test test-plain test-asan mutants fuzz bench install uninstall format clean

all: build

deps:
	@scripts/deps.sh build

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@scripts/demo.sh $(BUILD)

# The quick mutants (tests/mutants/*.mut, "quick") first: a minute, and a
# survivor means the tests below would pass with a broken verifier.
test: deps
	@scripts/deps.sh builder || true
	@JOBS=$(JOBS) scripts/mutants.sh --quick
	@scripts/test.sh

mutants: deps
	@JOBS=$(JOBS) scripts/mutants.sh

test-plain: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DMOSAIK_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

fuzz: deps
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh $(FUZZ_BUILD)

bench: deps
	@scripts/deps.sh bench || true
	@cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	@bench/run.sh $(BUILD)

install: configure
	@cmake --build $(BUILD) -j $(JOBS) --target $(INSTALL_TARGETS)
	@cmake --install $(BUILD) --prefix $(PREFIX)
	@cp $(BUILD)/install_manifest.txt $(INSTALL_MANIFEST)

uninstall:
	@cmake -DMANIFEST=$(INSTALL_MANIFEST) -P cmake/uninstall.cmake
	@rm -f $(INSTALL_MANIFEST)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
