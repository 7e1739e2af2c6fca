#!/usr/bin/env bash
# Start `wrangler dev` (workerd) for local use or tests, offline.
#   scripts/wrangler-dev.sh PORT [extra wrangler args…]
# Private targets are allowed here, explicitly: local upstreams live on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${1:-8787}
shift || true
export CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_SEND_METRICS=false
exec node_modules/.bin/wrangler dev --ip 127.0.0.1 --port "$PORT" \
  --var ALLOW_PRIVATE_TARGETS:true "$@"
