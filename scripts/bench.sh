#!/usr/bin/env bash
# `make bench`: Fanout through its API vs the ideal vs the asyncio+aiohttp
# crawler, on a loopback upstream. Starts (and stops, by PID) its own
# wrangler dev with limits raised so one request can carry all 200 URLs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"

if [[ ! -x bench/.venv/bin/python ]] || ! bench/.venv/bin/python -c 'import aiohttp, tenacity' 2>/dev/null; then
  echo "bench: installing aiohttp and tenacity from PyPI into bench/.venv"
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install -q -r bench/requirements.txt
fi

PORT=${FANOUT_BENCH_PORT:-8798}
setsid scripts/wrangler-dev.sh "$PORT" --var MAX_URLS_PER_REQUEST:1000 --var MAX_CONCURRENCY:200 > bench/wrangler.log 2>&1 &
PID=$!
trap 'kill -TERM -- "-$PID" 2>/dev/null || true' EXIT INT TERM
for i in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/api/v1/health" > /dev/null && break
  [[ $i == 120 ]] && { echo "wrangler dev did not start"; exit 1; }
  sleep 1
done
FANOUT_URL="http://127.0.0.1:$PORT" node bench/run.mjs
