#!/usr/bin/env bash
# Everything `make test` (and CI) runs, in order, stopping at the first failure:
#   setup → fmt → clippy (native + wasm32) → native tests → wasm32 build of shared
#   → build both artefacts → the bundle's size budget → the deploy dry run
#   and its size → wrangler dev on a loopback port → integration tests
#   → browser end-to-end tests.
# It stops what it started (by PID, on success and on failure) and exits non-zero
# on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never
# The test edges are open on loopback (wrangler-dev.sh), and every request of
# the tests comes from one client: their rate limit is raised far above what
# the tests send (the access tests start an edge with a small one).
export FANOUT_RATE_LIMIT=1000000

step() { printf '\n== %s\n' "$*"; }
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do
    # wrangler was started in its own session: end its whole group (workerd too).
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  if [[ $rc != 0 ]]; then
    echo "test: FAILED (exit $rc)"
    [[ -f "$ROOT/tests/artifacts/wrangler.log" ]] && { echo "-- last lines of wrangler.log:"; tail -n 40 "$ROOT/tests/artifacts/wrangler.log"; }
  fi
  exit $rc
}
trap cleanup EXIT INT TERM

step "setup"
scripts/setup.sh --test

step "cargo fmt --check"
cargo fmt --all --check

step "clippy: shared (native, all targets), edge and frontend (wasm32)"
cargo clippy -p fanout-shared --features extract,crawl,watch,schema --all-targets -- -D warnings
cargo clippy -p fanout-shared -p fanout-edge -p fanout-frontend --target wasm32-unknown-unknown -- -D warnings

step "native unit and property tests (virtual time), extraction fixtures"
cargo test -p fanout-shared --features extract,crawl,watch,schema

step "shared builds for wasm32 (with and without extraction)"
cargo build -p fanout-shared --target wasm32-unknown-unknown
cargo build -p fanout-shared --features extract,crawl,watch --target wasm32-unknown-unknown

step "build the edge (worker-build) and the frontend (trunk)"
make --no-print-directory build

step "bundle budget: a first visit (the dashboard) downloads at most 160 KB gzip"
node bench/bundle.mjs --check

step "deploy, checked offline: wrangler deploy --dry-run, its size within the Free plan's 3 MiB, every Durable Object migrated"
node scripts/deploy-check.mjs

step "start wrangler dev"
PORT=${FANOUT_TEST_PORT:-8799}
mkdir -p tests/artifacts
# Fresh local state (the run history's D1) for every test run.
rm -rf target/wrangler-test tests/artifacts/wrangler-*.log
# TEST_FAULTS lets a test make a shard die mid-run (objects/shard.rs).
FANOUT_NO_BUILD=1 FANOUT_PERSIST=target/wrangler-test setsid scripts/wrangler-dev.sh "$PORT" --var TEST_FAULTS:true \
  > tests/artifacts/wrangler.log 2>&1 &
PIDS+=($!)
export FANOUT_URL="http://127.0.0.1:$PORT"
# A second, locked-down edge as production runs it: private targets refused,
# an API token set, a small request-body limit.
LOCKED_PORT=${FANOUT_LOCKED_PORT:-8797}
# Its local D1 is left without the history schema, so saving fails there
# and the tests can see that a run's stream survives it.
rm -rf target/wrangler-locked
FANOUT_NO_BUILD=1 FANOUT_LOCKED=1 FANOUT_PERSIST=target/wrangler-locked FANOUT_MIGRATE=0 setsid scripts/wrangler-dev.sh "$LOCKED_PORT" \
  --var API_TOKEN:test-token-7f3a --var MAX_REQUEST_BYTES:4096 > tests/artifacts/wrangler-locked.log 2>&1 &
PIDS+=($!)
export FANOUT_LOCKED_URL="http://127.0.0.1:$LOCKED_PORT" FANOUT_LOCKED_TOKEN=test-token-7f3a
# The watches tests start (and restart) an edge of their own, on
# FANOUT_RESTART_PORT (8794), with its own local state.
for url in "$FANOUT_URL" "$FANOUT_LOCKED_URL"; do
  for i in $(seq 1 120); do
    if curl -sf "$url/api/v1/health" > /dev/null; then break; fi
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || { echo "a wrangler dev exited"; exit 1; }; done
    [[ $i == 120 ]] && { echo "wrangler dev at $url did not answer within 120 s"; exit 1; }
    sleep 1
  done
  echo "wrangler dev answers on $url"
done

step "integration tests (client → wrangler dev → loopback upstream)"
node --test --test-concurrency=1 tests/integration/*.test.mjs

step "browser end-to-end tests (headless Chromium)"
node --test --test-concurrency=1 tests/e2e/*.test.mjs

step "API contract: edge/openapi.json is valid OpenAPI 3.1, and Schemathesis finds nothing against an edge"
scripts/contract.sh

step "the test servers ran as started (no restart)"
# The tests serve the build made above, with no build step or file watcher
# (FANOUT_NO_BUILD): a restart would mean a server was swapped mid-test.
if grep -l "restarting" tests/artifacts/wrangler*.log; then
  echo "a test wrangler dev restarted (see the logs above)"; exit 1
fi
echo "no restarts"

echo
echo "test: all passed; screenshots in tests/artifacts/"
