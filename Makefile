# memregion: the two commands a user needs.
#   make run    the main job: `mtree` on its built-in PC-like board
#   make test   the whole test suite: plain gcc build with -Werror, clang build
#               with ASan+UBSan, a ThreadSanitizer build of the stress test,
#               a short libFuzzer pass over every fuzz target, and a gcc
#               release build (-O3, -Werror) running the unit tests
# Each target first installs the Debian packages it needs, and only those
# (apt-get when root, otherwise it prints the exact command to run).

# Building the library and `mtree` (what `make run` needs).
BUILD_PACKAGES := meson ninja-build pkg-config gcc binutils liburcu-dev linux-libc-dev
# The test suites: cmocka, the clang sanitizer build, the header and export
# checks (binutils: nm, readelf; g++ for the C++ include check), the format
# check, Graphviz for `mtree dot --svg`, and valgrind, whose callgrind counts
# the hot paths' instructions (suite perf).
TEST_PACKAGES := $(BUILD_PACKAGES) libcmocka-dev clang libclang-rt-14-dev binutils g++ \
                 python3 clang-format git graphviz valgrind
# Benchmarks against Unicorn; the mini VMM links its guest with binutils.
BENCH_PACKAGES := $(BUILD_PACKAGES) libunicorn-dev
VM_PACKAGES := $(BUILD_PACKAGES) binutils

BUILD      ?= build
BUILD_SAN  ?= build-san
BUILD_TSAN ?= build-tsan
BUILD_FUZZ ?= build-fuzz
BUILD_REL  ?= build-release
# What `make fuzz` needs (clang's libFuzzer runtime comes with libclang-rt).
FUZZ_PACKAGES := meson ninja-build pkg-config clang libclang-rt-14-dev liburcu-dev
MESON_TEST := meson test --print-errorlogs --num-processes 2

.PHONY: all deps deps-test deps-bench deps-vm build run test test-plain test-san test-tsan \
        test-fuzz test-release fuzz bench vm clean

all: build

deps:
	@./scripts/ensure-deps $(BUILD_PACKAGES)
deps-test:
	@./scripts/ensure-deps $(TEST_PACKAGES)
deps-bench:
	@./scripts/ensure-deps $(BENCH_PACKAGES)
deps-vm:
	@./scripts/ensure-deps $(VM_PACKAGES)

# A first `make build` or `make run` configures without the tests (no
# cmocka needed); `make test` turns them on in the same build directory.
$(BUILD)/build.ninja:
	meson setup $(BUILD) --werror -Dtests=false

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# The main job: the mtree tool on its built-in PC-like board (tree and flat views).
run: deps $(BUILD)/build.ninja
	ninja -C $(BUILD) tools/mtree/mtree
	$(BUILD)/tools/mtree/mtree

test: deps-test
	@rm -f $(BUILD)/meson-logs/testlog.json $(BUILD_SAN)/meson-logs/testlog.json \
	       $(BUILD_TSAN)/meson-logs/testlog.json $(BUILD_FUZZ)/meson-logs/testlog.json \
	       $(BUILD_REL)/meson-logs/testlog.json
	-@$(MAKE) --no-print-directory test-plain
	-@$(MAKE) --no-print-directory test-san
	-@$(MAKE) --no-print-directory test-tsan
	-@$(MAKE) --no-print-directory test-fuzz
	-@$(MAKE) --no-print-directory test-release
	@python3 scripts/test-summary $(BUILD) $(BUILD_SAN) $(BUILD_TSAN) $(BUILD_FUZZ) $(BUILD_REL)

test-plain: $(BUILD)/build.ninja
	meson configure $(BUILD) -Dtests=true
	ninja -C $(BUILD)
	$(MESON_TEST) -C $(BUILD)

$(BUILD_SAN)/build.ninja:
	CC=clang meson setup $(BUILD_SAN) --werror -Db_sanitize=address,undefined -Db_lundef=false

test-san: $(BUILD_SAN)/build.ninja
	ninja -C $(BUILD_SAN)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=$(CURDIR)/tests/ubsan.supp \
	  $(MESON_TEST) -C $(BUILD_SAN)

$(BUILD_TSAN)/build.ninja:
	meson setup $(BUILD_TSAN) -Db_sanitize=thread -Db_lundef=false

test-tsan: $(BUILD_TSAN)/build.ninja
	ninja -C $(BUILD_TSAN)
	$(MESON_TEST) -C $(BUILD_TSAN) --suite stress
	$(MESON_TEST) -C $(BUILD_TSAN) unit-read_section

# The optimised build users ship (-O3): warning-free with -Werror too (gcc's
# -O3 warnings see through more inlining), and the unit tests pass in it.
$(BUILD_REL)/build.ninja:
	meson setup $(BUILD_REL) --buildtype=release --werror -Dtests=true

test-release: $(BUILD_REL)/build.ninja
	ninja -C $(BUILD_REL)
	$(MESON_TEST) -C $(BUILD_REL) --suite unit

# libFuzzer targets (tests/fuzz/README.md): clang with ASan and UBSan.
$(BUILD_FUZZ)/build.ninja:
	CC=clang meson setup $(BUILD_FUZZ) --werror -Dfuzz=true -Db_sanitize=address,undefined \
	  -Db_lundef=false

fuzz:
	@./scripts/ensure-deps $(FUZZ_PACKAGES)
	@$(MAKE) --no-print-directory $(BUILD_FUZZ)/build.ninja
	ninja -C $(BUILD_FUZZ)

# The short fuzz pass: each target runs a fixed number of inputs from its corpus.
test-fuzz: fuzz
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=$(CURDIR)/tests/ubsan.supp \
	  $(MESON_TEST) -C $(BUILD_FUZZ) --suite fuzz

# Benchmarks against Unicorn and a plain baseline (never part of `make test`).
# The KVM benchmark exits 77 when /dev/kvm is missing; that is a skip.
bench: deps-bench $(BUILD)/build.ninja
	ninja -C $(BUILD)
	$(BUILD)/bench/memregion-bench
	$(BUILD)/bench/kvm/kvm-bench || test $$? = 77

# The mini VMM: a real guest on /dev/kvm (exits 77 with a reason when KVM is missing).
vm: deps-vm $(BUILD)/build.ninja
	ninja -C $(BUILD)
	$(BUILD)/examples/vmm/vmm || test $$? = 77

clean:
	rm -rf $(BUILD) $(BUILD_SAN) $(BUILD_TSAN) $(BUILD_FUZZ) $(BUILD_REL)
