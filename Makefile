# A thin wrapper around meson. `make run` and `make test` work on a fresh
# Debian 12 machine as root: scripts/setup installs what is missing from
# scripts/debian-packages first.

BUILD ?= build
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

# The optimised build: unit, integration and acceptance suites.
test-fast: build
	meson test -C $(BUILD) --print-errorlogs --num-processes 2

# AddressSanitizer + UndefinedBehaviorSanitizer over the unit and
# integration suites (jemalloc is off in this build).
test-asan: setup
	@[ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
	@ninja -C build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C build-asan --print-errorlogs --num-processes 2 --suite unit --suite integration

# ThreadSanitizer over the tests that run threads against each other.
test-tsan: setup
	@[ -f build-tsan/build.ninja ] || meson setup build-tsan -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug
	@ninja -C build-tsan
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
		meson test -C build-tsan --print-errorlogs --suite tsan

bench: build
	bench/run

clean:
	rm -rf $(BUILD) build-asan build-tsan
