#!/usr/bin/env bash
# Start `wrangler dev` (workerd) for local use or tests, offline.
#   scripts/wrangler-dev.sh PORT [extra wrangler args…]
# Private targets are allowed here, explicitly: local upstreams live on loopback.
# FANOUT_LOCKED=1 keeps production's rule instead (the tests' locked-down edge).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${1:-8787}
shift || true
export CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_SEND_METRICS=false
# Each instance gets its own inspector port, so several can run at once.
ARGS=(--ip 127.0.0.1 --port "$PORT" --inspector-port "$((PORT + 1000))")
[[ "${FANOUT_LOCKED:-0}" == 1 ]] || ARGS+=(--var ALLOW_PRIVATE_TARGETS:true)
exec node_modules/.bin/wrangler dev "${ARGS[@]}" "$@"
