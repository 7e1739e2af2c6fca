#!/usr/bin/env bash
# The API contract (#27), run by `make test` (scripts/test.sh) and alone:
#   1. edge/openapi.json is valid OpenAPI 3.1 (openapi-spec-validator);
#   2. Schemathesis generates requests from it (examples, coverage and
#      fuzzing phases) against an edge of its own that is closed (a token;
#      the token is sent) and may fetch only loopback
#      (ALLOWED_HOSTS=127.0.0.1), so no generated URL reaches anything else.
#      Every check runs but one, positive_data_acceptance ("a request the
#      schema allows gets a 2xx"): the API has rules JSON Schema cannot
#      state, so some schema-valid requests are rightly refused with a 4xx
#      that names the rule: a target the deployment does not fetch
#      (`blocked_target`), `retry.base_ms` above `retry.max_ms`, a crawl's
#      `max_pages` below its start pages, `urls` and `sitemap` together, the
#      deployment's own limits. negative_data_rejection (what the schema
#      forbids is refused) runs, and so do the others.
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
  --var MAX_WATCHES:20 \
  > tests/artifacts/wrangler-contract.log 2>&1 &
PID=$!
trap 'kill -TERM -- "-$PID" 2>/dev/null || true' EXIT INT TERM
for i in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/api/v1/health" > /dev/null && break
  kill -0 "$PID" 2>/dev/null || { echo "contract: wrangler dev exited"; exit 1; }
  [[ $i == 120 ]] && { echo "contract: wrangler dev did not answer within 120 s"; exit 1; }
  sleep 1
done
# The document the edge serves is the one in the repo.
curl -sf "http://127.0.0.1:$PORT/api/v1/openapi.json" | cmp -s - edge/openapi.json \
  || { echo "contract: the edge serves another document than edge/openapi.json"; exit 1; }
"$VENV/bin/schemathesis" run edge/openapi.json --url "http://127.0.0.1:$PORT" \
  --header "Authorization: Bearer $TOKEN" \
  --phases examples,coverage,fuzzing --checks all --exclude-checks positive_data_acceptance \
  --generation-with-security-parameters false \
  --max-examples "${FANOUT_CONTRACT_EXAMPLES:-10}" --max-time "${FANOUT_CONTRACT_MAX_S:-240}" \
  --request-timeout 30 --seed "${FANOUT_CONTRACT_SEED:-20261207}" --no-color \
  --report junit --report-dir tests/artifacts/schemathesis
