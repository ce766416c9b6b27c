# ccproxy: convenience targets around CMake. The two README commands are `make run` and `make test`.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
ARGS       ?=

.PHONY: all deps deps-test build run test test-unit test-e2e e2e-deps build-asan test-asan fuzz format format-check clean test-container \
        package test-package

all: build

deps:
	@scripts/install-deps.sh

deps-test:
	@scripts/install-deps.sh --test

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCCPROXY_TESTS=OFF $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# Builds and starts the proxy in the foreground on the configured port (8082 by default).
run: build
	./$(BUILD)/ccproxy server $(ARGS)

# Everything CI runs: format check; gcc build + unit + e2e; the .deb built, installed, checked and
# purged; clang ASan+UBSan build + unit + e2e; then, side by side, each libFuzzer target for
# FUZZ_SECONDS and the container image built and run (mostly downloads and disk: the fuzzers, bounded
# in time, only get fewer runs while it builds).
test: deps-test format-check
	@tests/container/run.sh --base-only >/tmp/ccproxy-container-base.log 2>&1 & \
	  echo "the container test's base image is made in the background (/tmp/ccproxy-container-base.log)"
	$(MAKE) --no-print-directory test-unit test-e2e BUILD=$(BUILD) CC=gcc
	$(MAKE) --no-print-directory test-package
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory -j2 fuzz test-container

# The container image (Dockerfile, docker-compose.yml) built with podman on a locally made Debian 12
# base and checked, and the .deb installed on that bare base (tests/container/run.sh; root). About 3
# minutes the first time (debootstrap).
test-container: deps-test package
	tests/container/run.sh

test-unit:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCCPROXY_TESTS=ON $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure

e2e-deps:
	@if [ ! -d tests/e2e/node_modules/@anthropic-ai/sdk ] || \
	    [ tests/e2e/package-lock.json -nt tests/e2e/node_modules/.package-lock.json ]; then \
	  cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error; fi

test-e2e: e2e-deps
	CCPROXY_BIN=$(CURDIR)/$(BUILD)/ccproxy node --test --test-concurrency=1 tests/e2e/

test-asan:
	CC=clang $(MAKE) --no-print-directory test-unit test-e2e BUILD=$(ASAN_BUILD) \
	  CMAKE_ARGS="-DCCPROXY_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"

# libFuzzer targets (tests/fuzz/fuzz_*.c, clang only), each run for FUZZ_SECONDS with its -max_len on
# a fresh copy of its seeds in $(FUZZ_BUILD)/corpus/TARGET (tests/fuzz/run.sh): the committed corpus
# tests/fuzz/corpus/TARGET/ plus the FUZZ_SEEDS_TARGET files below; what a run adds stays in the build
# directory. Fails on any finding, leaving the input in $(FUZZ_BUILD)/crash/TARGET/. Every target runs
# even when one fails. FUZZ_JOBS targets run at once (one per core): 7 targets x 45 s on 2 cores take
# about 4 minutes with the build.
FUZZ_SECONDS ?= 45
FUZZ_JOBS    ?= $(JOBS)
FUZZ_TARGETS := $(basename $(notdir $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_STREAMS := $(filter-out %/long-2000.sse,$(wildcard tests/fixtures/stream/*.sse))
FUZZ_SEEDS_fuzz_sse         := $(FUZZ_STREAMS)
FUZZ_SEEDS_fuzz_oai_resp    := $(FUZZ_STREAMS) $(wildcard tests/fixtures/oai/resp-*.openai.json)
FUZZ_SEEDS_fuzz_oai_req     := $(wildcard tests/fixtures/oai/req-*.anthropic.json)
FUZZ_SEEDS_fuzz_anth_req    := $(wildcard tests/fixtures/oai/req-*.anthropic.json)
FUZZ_SEEDS_fuzz_jsonck      := $(wildcard tests/fixtures/oai/schema-*.input.json)
FUZZ_SEEDS_fuzz_config      := conf/settings.example.json
FUZZ_MAX_LEN_fuzz_sse       := 4096
FUZZ_MAX_LEN_fuzz_oai_resp  := 8192
FUZZ_MAX_LEN_fuzz_oai_req   := 20000
FUZZ_MAX_LEN_fuzz_anth_req  := 20000
FUZZ_MAX_LEN_fuzz_jsonck    := 4096
FUZZ_MAX_LEN_fuzz_config    := 4096
FUZZ_MAX_LEN_fuzz_http_head := 8192

fuzz: deps-test
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCCPROXY_FUZZ=ON -DCCPROXY_TESTS=OFF >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz
	@$(MAKE) --no-print-directory -k -j $(FUZZ_JOBS) $(addprefix fuzz-run-,$(FUZZ_TARGETS))

# One target's run (FUZZ_JOBS of them at once, one per core: each fuzzer is single-threaded).
fuzz-run-%:
	@tests/fuzz/run.sh $(FUZZ_BUILD) $* $(FUZZ_SECONDS) $(or $(FUZZ_MAX_LEN_$*),4096) $(FUZZ_SEEDS_$*)

# The Debian package (cmake/package.cmake, packaging/debian/, docs/ccproxy.1): $(PKG_BUILD)/
# ccproxy_<version>_<arch>.deb from a RelWithDebInfo build with Debian's hardening flags
# (dpkg-buildflags), stripped by CPack. test-package installs it on this machine, checks it and
# purges it (scripts/test-package.sh; root, refuses to run if ccproxy is installed already).
PKG_BUILD ?= build-pkg
PKG_FLAGS  = DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get

package: deps
	cmake -S . -B $(PKG_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCCPROXY_TESTS=OFF \
	  -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_C_FLAGS="$$($(PKG_FLAGS) CFLAGS) $$($(PKG_FLAGS) CPPFLAGS)" \
	  -DCMAKE_EXE_LINKER_FLAGS="$$($(PKG_FLAGS) LDFLAGS)" $(CMAKE_ARGS) >/dev/null
	cmake --build $(PKG_BUILD) -j $(JOBS)
	rm -f $(PKG_BUILD)/ccproxy_*.deb
	cd $(PKG_BUILD) && cpack -G DEB
	@ls -l $(PKG_BUILD)/ccproxy_*.deb

test-package: package
	scripts/test-package.sh $(PKG_BUILD)/ccproxy_*.deb

FORMAT_FILES = $(wildcard lib/*/*.c lib/*/*.h lib/*/*/*.c lib/*/*/*.h daemon/*.c daemon/*.h \
                 tests/unit/*.c tests/unit/*.h tests/fuzz/*.c)

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
