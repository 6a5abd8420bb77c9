# A thin wrapper around meson. `make run` and `make test` work on a fresh
# Debian 12 machine as root: scripts/setup installs what is missing from
# scripts/debian-packages first.

BUILD ?= build
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME ?= 60
CONFIG ?= examples/tandem.conf
MESON_OPTS ?=

.PHONY: all setup build run test test-fast test-asan test-tsan bench fuzz clean

all: build

setup:
	@sh scripts/setup

build: setup
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) $(MESON_OPTS)
	@ninja -C $(BUILD)

# Start one node in the foreground on the default configuration
# (127.0.0.1:5060). Stop it with Ctrl-C.
run: build
	$(BUILD)/tandemd --config $(CONFIG)

# Every suite, then the sanitizer builds.
test: test-fast test-asan test-tsan
	@echo "make test: all suites passed"

# $(call meson_test,BUILD_DIR,ARGS): meson test, then every suite's count.
# meson test shows a passing test's output only in its log, so
# scripts/test-summary prints Criterion's "[====] Synthesis" lines and
# unittest's "Ran N tests" from that log. The exit status is meson test's.
meson_test = echo "meson test -C $(1) $(2)"; rc=0; \
	meson test -C $(1) $(2) || rc=$$?; \
	python3 scripts/test-summary $(1); exit $$rc

# The optimised build: unit, integration and acceptance suites.
test-fast: build
	@$(call meson_test,$(BUILD),--print-errorlogs --num-processes 2)

# AddressSanitizer + UndefinedBehaviorSanitizer over the unit and
# integration suites (jemalloc is off in this build).
test-asan: setup
	@[ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
	@ninja -C build-asan
	@export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1; \
		$(call meson_test,build-asan,--print-errorlogs --num-processes 2 --suite unit --suite integration)

# ThreadSanitizer over the tests that run threads against each other.
test-tsan: setup
	@[ -f build-tsan/build.ninja ] || meson setup build-tsan -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug
	@ninja -C build-tsan
	@export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1; \
		$(call meson_test,build-tsan,--print-errorlogs --suite tsan)

bench: build
	bench/run

# The libFuzzer targets (clang; tests/fuzz/README.md): build them, run every
# seed and every input saved so far through them once, then fuzz for
# FUZZ_TIME seconds each. New inputs go to $(FUZZ_BUILD)/tests/fuzz/corpus-*/.
fuzz: setup
	@[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true
	@ninja -C $(FUZZ_BUILD) tests/fuzz/fuzz_sip_parse tests/fuzz/fuzz_replication tests/fuzz/fuzz_netstack
	@$(call meson_test,$(FUZZ_BUILD),--no-rebuild --print-errorlogs --suite fuzz)
	FUZZ_TIME=$(FUZZ_TIME) ninja -C $(FUZZ_BUILD) fuzz-sip-parse
	FUZZ_TIME=$(FUZZ_TIME) ninja -C $(FUZZ_BUILD) fuzz-replication
	FUZZ_TIME=$(FUZZ_TIME) ninja -C $(FUZZ_BUILD) fuzz-netstack

clean:
	rm -rf $(BUILD) build-asan build-tsan $(FUZZ_BUILD)
