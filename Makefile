# ccproxy: convenience targets around CMake. The two README commands are `make run` and `make test`.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
ARGS       ?=

.PHONY: all deps deps-test build run test test-unit test-e2e e2e-deps build-asan test-asan format format-check clean

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

# Everything CI runs: format check; gcc build + unit + e2e; clang ASan+UBSan build + unit + e2e.
test: deps-test format-check
	$(MAKE) --no-print-directory test-unit test-e2e BUILD=$(BUILD) CC=gcc
	$(MAKE) --no-print-directory test-asan

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

format:
	clang-format -i lib/*.c lib/*.h daemon/*.c tests/unit/*.c tests/unit/*.h

format-check:
	clang-format --dry-run --Werror lib/*.c lib/*.h daemon/*.c tests/unit/*.c tests/unit/*.h

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
