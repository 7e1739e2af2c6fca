# Fanout's two commands, and the build they share.
#
#   make dev    set up, build, and serve the whole app on http://127.0.0.1:8787
#   make test   set up, then lint, unit, integration and browser tests
#   make bench  the benchmarks (see BENCHMARKS.md); make bench-load only load mode vs oha,
#               make bench-history only the 10,000-row run-history save,
#               make bench-native the scheduler and extraction figures,
#               make bench-crawl the demo shop crawled vs the same pages as a list,
#               make bench-jobs a 10,000-URL background job vs the ideal and aiohttp,
#               make bench-click the long tasks when Run is pressed on the dashboard,
#               make bench-dev wrangler dev (make dev) against plain workerd and aiohttp,
#               make bench-isolate the isolate's own CPU per URL (V8's profiler),
#               make bench-production the figures under production's connection limit,
#               make bench-watches watches started by the scheduler's alarm (one due now, 1,000 in a minute)
#
# Every tool comes from crates.io or npm (scripts/setup.sh). The variables
# below stop worker-build and trunk from downloading their own binaries.

SHELL := /bin/bash
ROOT := $(CURDIR)
export PATH := $(ROOT)/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
export WASM_BINDGEN_BIN := wasm-bindgen
export WASM_OPT_BIN := $(ROOT)/node_modules/.bin/wasm-opt
export ESBUILD_BIN := $(ROOT)/node_modules/.bin/esbuild
export CLOUDFLARE_CF_FETCH_ENABLED := false
export WRANGLER_SEND_METRICS := false

SHARED_SRC := Cargo.toml Cargo.lock shared/Cargo.toml $(shell find shared/src -name '*.rs')
EDGE_SRC := $(SHARED_SRC) edge/Cargo.toml edge/openapi.json $(shell find edge/src -name '*.rs')
FRONTEND_SRC := $(SHARED_SRC) frontend/Cargo.toml frontend/index.html frontend/style.css Trunk.toml \
	$(shell find frontend/src -name '*.rs')

.PHONY: setup setup-test build dev test bench bench-load bench-history bench-native bench-crawl bench-jobs bench-click bench-dev bench-isolate bench-production bench-watches bench-revalidate openapi clean

setup:
	@scripts/setup.sh

setup-test:
	@scripts/setup.sh --test

build: edge/build/index.js dist/index.html

edge/build/index.js: $(EDGE_SRC)
	cd edge && worker-build --release
	@touch $@

dist/index.html: $(FRONTEND_SRC)
	trunk build --release
	@touch $@

dev: setup build
	@scripts/dev.sh

test:
	@scripts/test.sh

bench: setup build
	@scripts/bench.sh

bench-load: setup build
	@scripts/bench.sh load

bench-history: setup build
	@scripts/bench.sh history

bench-native: setup build
	@scripts/bench.sh native

bench-crawl: setup build
	@scripts/bench.sh crawl

bench-jobs: setup build
	@scripts/bench.sh jobs

bench-click: setup build
	@scripts/bench.sh click

bench-dev: setup build
	@scripts/bench.sh dev

bench-isolate: setup build
	@scripts/bench.sh isolate

bench-production: setup build
	@scripts/bench.sh production

bench-watches: setup build
	@scripts/bench.sh watches

bench-revalidate: setup build
	@scripts/bench.sh revalidate

# Regenerate edge/openapi.json from the wire types (shared/tests/openapi.rs).
openapi:
	FANOUT_WRITE_OPENAPI=1 cargo test -p fanout-shared --features extract,crawl,watch,schema --test openapi

clean:
	rm -rf dist edge/build target/wasm32-unknown-unknown
