#!/usr/bin/env bash
# Serve the whole app (dashboard, API, demo shop) on http://127.0.0.1:8787.
# `make dev` runs setup and the build first.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "dev: Fanout on http://127.0.0.1:8787 (Ctrl-C to stop)"
exec scripts/wrangler-dev.sh 8787
