# Thin wrapper over CMake: the source lists live in CMakeLists.txt only.
BUILD ?= build
TYPE  ?= RelWithDebInfo
JOBS  ?= $(shell nproc)
LISTEN ?= 127.0.0.1:8080
DATA  ?= ./data

.PHONY: all deps configure run run-cluster bench-cluster test test-asan test-tsan test-valgrind fuzz bench clean format \
	check-format

all: configure
	@cmake --build $(BUILD) -j $(JOBS)

configure:
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(TYPE) >/dev/null

deps:
	@scripts/install-deps.sh

run:
	@scripts/install-deps.sh
	@$(MAKE) --no-print-directory all
	@mkdir -p $(DATA)
	@echo "Parley is starting: open http://$(LISTEN)/ (Ctrl-C stops it)"
	@exec $(BUILD)/parleyd --listen $(LISTEN) --data $(DATA)

# PostgreSQL + Redis + two nodes + HAProxy on loopback (scripts/run-cluster.sh),
# data in ./data-cluster; Ctrl-C stops all of it. Needs postgresql,
# redis-server and haproxy (install-deps.sh --cluster), which plain `make run`
# does not.
run-cluster:
	@scripts/install-deps.sh --cluster
	@$(MAKE) --no-print-directory all
	@DATA=./data-cluster BUILD=$(BUILD) exec scripts/run-cluster.sh

# CTEST_REPEAT: a failing test runs once more before it fails the run; its
# first attempt's output stays in the log. The cluster suites passed 20 of 20
# repeated runs after their flakes were fixed (issue 13); the guard stays for
# the browser suites (e2e, e2e-tls), which start Chromium and many servers on
# 2 cores. A test that needed its second attempt is a bug to chase, not noise.
# `make test CTEST_REPEAT=` runs every test once.
CTEST_REPEAT ?= --repeat until-pass:2
test:
	@scripts/install-deps.sh --test
	@$(MAKE) --no-print-directory all
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 300 $(CTEST_REPEAT)

# The unit and integration suites built with AddressSanitizer +
# UndefinedBehaviorSanitizer (the browser suite runs in `make test`).
test-asan:
	@scripts/install-deps.sh --test
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPL_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ctest --output-on-failure -j $(JOBS) --timeout 600 -LE 'e2e|pg' $(CTEST_REPEAT)

# The unit and integration suites built with ThreadSanitizer. Every test
# process and every parleyd it starts stops at its first report (exit 66),
# which fails the test; the reports (build-tsan/tsan-reports) are printed at
# the end, and any report fails the run even if no test noticed (a parleyd
# killed with SIGKILL). tests/tsan.supp lists the suppressions. setarch -R
# (no address randomisation) keeps TSan's fixed memory layout working on
# kernels with a high vm.mmap_rnd_bits; it is skipped where not permitted.
TSAN_RUN := $(shell setarch $$(uname -m) -R true >/dev/null 2>&1 && echo setarch $$(uname -m) -R)
test-tsan:
	@scripts/install-deps.sh --test
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DPL_TSAN=ON >/dev/null
	@cmake --build build-tsan -j $(JOBS)
	@rm -rf build-tsan/tsan-reports && mkdir -p build-tsan/tsan-reports
	@cd build-tsan && $(TSAN_RUN) ctest --output-on-failure -j $(JOBS) --timeout 900 -LE 'e2e|pg' $(CTEST_REPEAT); \
		rc=$$?; for f in tsan-reports/*; do [ -f "$$f" ] || continue; rc=1; \
		echo "== build-tsan/$$f"; cat "$$f"; done; exit $$rc

# The libFuzzer targets (tests/fuzz, clang, ASan+UBSan) built into build-fuzz,
# each run for FUZZ_SECONDS on a copy of its seed corpus (build-fuzz/fuzz-work);
# any crash fails. Long runs, new targets: tests/README.md.
FUZZ_SECONDS ?= 25
fuzz:
	@scripts/install-deps.sh --test
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DPL_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_all
	@cd build-fuzz && FUZZ_SECONDS=$(FUZZ_SECONDS) ctest --output-on-failure -j $(JOBS) -L fuzz

# The format gate: lists the tracked C files that `make format` would change.
check-format:
	@scripts/check-format.sh

# The cross-node scenario (issue 13): redis-server + two nodes, one sender.
bench-cluster: all
	@scripts/install-deps.sh --cluster
	@$(BUILD)/bench_cluster 5 500 200

# The protocol suite against parleyd running under valgrind memcheck.
test-valgrind: all
	@PARLEYD_REAL=$(abspath $(BUILD))/parleyd PARLEYD=$(abspath scripts/valgrind-parleyd.sh) \
		$(BUILD)/it_test_protocol

# Short version of every benchmark scenario (< 3 min). The load generator
# starts its own parleyd (pinned to CPU 0; generator on CPU 1) with
# argon2_opslimit=1 argon2_memlimit=8k. Long runs: see bench/README.md.
bench: all
	@cmake --build $(BUILD) -j $(JOBS) --target loadgen bench_tls_mem
	@$(BUILD)/loadgen --short $(BENCH_ARGS)
	@$(BUILD)/bench_tls_mem

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
