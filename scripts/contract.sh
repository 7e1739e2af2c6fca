#!/usr/bin/env bash
# The API contract (#27), run by `make test` (scripts/test.sh) and alone:
#   1. edge/openapi.json is valid OpenAPI 3.1 (openapi-spec-validator);
#   2. Schemathesis generates requests from it (examples, coverage and
#      fuzzing phases) against an edge of its own that is closed (a token;
#      the token is sent) and may fetch only loopback
#      (ALLOWED_HOSTS=127.0.0.1), so no generated URL reaches anything else.
#      Every check runs, with tests/contract/schemathesis.toml: a
#      schema-valid request may also get 422 (a rule the schema cannot
#      state: two options that do not go together), and the sitemap reader
#      its documented 502 (the sitemap could not be read).
#      Then the stateful phase, on its own time budget. NDJSON answers are
#      checked line by line (tests/contract/ndjson_hooks.py).
#   3. The document is the one the edge serves: the committed file with
#      this edge's own limits in its bounds (shared::contract::with_limits);
#      the contract edge runs with small limits, so what is generated
#      stays small and quick.
# Needs the build `make test` made (edge/build). Bounded: Schemathesis has
# a time budget and a request timeout; the edge is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
VENV=tests/contract/.venv
if [[ ! -x $VENV/bin/schemathesis ]] || ! $VENV/bin/pip freeze 2>/dev/null | grep -qx -f <(grep -v '^#' tests/contract/requirements.txt); then
  echo "contract: installing Schemathesis and openapi-spec-validator from PyPI into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r tests/contract/requirements.txt
fi
"$VENV/bin/openapi-spec-validator" edge/openapi.json

PORT=${FANOUT_CONTRACT_PORT:-8786}
TOKEN=contract-token-3d9e
mkdir -p tests/artifacts
rm -rf target/wrangler-contract
FANOUT_NO_BUILD=1 FANOUT_CLOSED=1 FANOUT_PERSIST=target/wrangler-contract setsid scripts/wrangler-dev.sh "$PORT" \
  --var API_TOKEN:$TOKEN --var ALLOWED_HOSTS:127.0.0.1 --var MAX_URLS_PER_REQUEST:20 --var MAX_CONCURRENCY:20 \
  --var MAX_LOAD_REQUESTS:50 --var MAX_TIMEOUT_MS:2000 --var MAX_DEADLINE_MS:5000 --var MAX_BACKOFF_MS:200 \
  --var MAX_WATCHES:20 --var MAX_LOAD_DURATION_MS:3000 --var MAX_JOB_URLS:20 --var MAX_CRAWL_PAGES:20 \
  > tests/artifacts/wrangler-contract.log 2>&1 &
PID=$!
trap 'kill -TERM -- "-$PID" 2>/dev/null || true' EXIT INT TERM
for i in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/api/v1/health" > /dev/null && break
  kill -0 "$PID" 2>/dev/null || { echo "contract: wrangler dev exited"; exit 1; }
  [[ $i == 120 ]] && { echo "contract: wrangler dev did not answer within 120 s"; exit 1; }
  sleep 1
done
# The edge serves the committed document with its own limits: the same
# paths and schemas, and this edge's bounds.
curl -sf "http://127.0.0.1:$PORT/api/v1/openapi.json" > tests/artifacts/openapi-served.json
"$VENV/bin/openapi-spec-validator" tests/artifacts/openapi-served.json
"$VENV/bin/python" - tests/artifacts/openapi-served.json edge/openapi.json <<'PY'
import json, sys
served, committed = (json.load(open(p)) for p in sys.argv[1:3])
assert served["paths"] == committed["paths"], "the edge serves other paths than edge/openapi.json"
assert served["components"]["schemas"].keys() == committed["components"]["schemas"].keys(), "other schemas"
run = served["components"]["schemas"]["RunRequest"]["properties"]
assert (run["concurrency"]["maximum"], run["urls"]["maxItems"]) == (20, 20), "the edge's own limits"
PY
"$VENV/bin/schemathesis" --config-file tests/contract/schemathesis.toml run "http://127.0.0.1:$PORT/api/v1/openapi.json" \
  --header "Authorization: Bearer $TOKEN" \
  --phases examples,coverage,fuzzing --checks all \
  --generation-with-security-parameters false \
  --max-examples "${FANOUT_CONTRACT_EXAMPLES:-10}" --max-time "${FANOUT_CONTRACT_MAX_S:-240}" \
  --request-timeout 30 --seed "${FANOUT_CONTRACT_SEED:-20261207}" --no-color \
  --report junit --report-dir tests/artifacts/schemathesis
# The stateful phase: sequences that follow the document's links (a job or
# a watch created, then read, run, changed, cancelled, deleted) and the
# links Schemathesis infers, with every check (use after free, resources
# that should exist). Its own time budget, so the phases above keep theirs.
"$VENV/bin/schemathesis" --config-file tests/contract/schemathesis.toml run "http://127.0.0.1:$PORT/api/v1/openapi.json" \
  --header "Authorization: Bearer $TOKEN" \
  --phases stateful --checks all \
  --generation-with-security-parameters false \
  --max-examples "${FANOUT_CONTRACT_EXAMPLES:-10}" --max-time "${FANOUT_CONTRACT_STATEFUL_S:-120}" \
  --request-timeout 30 --seed "${FANOUT_CONTRACT_SEED:-20261207}" --no-color \
  --report junit --report-dir tests/artifacts/schemathesis-stateful
