#!/usr/bin/env bash
# `make bench`: Fanout through its API vs the ideal vs the asyncio+aiohttp
# crawler, then each page's bundle size, then load-test mode vs oha, on a loopback upstream, then saving
# 10,000 rows to the run history, then the native scheduler and extraction
# figures with extraction inside workerd, then the demo shop crawled against the
# same pages as a list, then background jobs against the ideal and aiohttp,
# then the long tasks when Run is pressed, then wrangler dev against plain
# workerd, then the isolate's own CPU per URL, then watches on their alarms; first of all the figures under
# production's connection limit (production.mjs)
# (`scripts/bench.sh production|fanout|load|history|native|crawl|jobs|click|dev|isolate|watches` runs one). Starts (and stops, by PID) its own
# wrangler dev with limits raised so one request can carry all 200 URLs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"

if [[ ! -x bench/.venv/bin/python ]] || ! bench/.venv/bin/python -c 'import aiohttp, tenacity' 2>/dev/null; then
  echo "bench: installing aiohttp and tenacity from PyPI into bench/.venv"
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install -q -r bench/requirements.txt
fi

# oha, the load tester the load-test mode is compared with, from crates.io.
if [[ "${1:-all}" == load || "${1:-all}" == all ]] && ! command -v oha > /dev/null; then
  echo "bench: installing oha from crates.io (a few minutes)"
  cargo install oha --locked
fi

# The benchmarks' edge is open on loopback, and all of their requests come
# from one client: its rate limit is raised out of their way.
export FANOUT_RATE_LIMIT=1000000
PORT=${FANOUT_BENCH_PORT:-8798}
# Its own local state (the run history's D1), fresh each time.
rm -rf target/wrangler-bench
FANOUT_NO_BUILD=1 FANOUT_PERSIST=target/wrangler-bench setsid scripts/wrangler-dev.sh "$PORT" --var MAX_URLS_PER_REQUEST:10000 --var MAX_REQUEST_BYTES:4194304 --var MAX_CONCURRENCY:200 \
  --var MAX_LOAD_REQUESTS:10000 --var MAX_LOAD_CONCURRENCY:200 --var MAX_WATCHES:1000 > bench/wrangler.log 2>&1 &
PID=$!
# jobs.mjs reads the CPU time and memory of this session's workerd.
export FANOUT_BENCH_SID=$PID
trap 'kill -TERM -- "-$PID" 2>/dev/null || true' EXIT INT TERM
# wait_up PORT NAME SECONDS: until the edge on PORT answers its health check.
wait_up() {
  for i in $(seq 1 "$3"); do
    curl -sf "http://127.0.0.1:$1/api/v1/health" > /dev/null && return 0
    sleep 1
  done
  echo "$2 did not start within $3 s"
  exit 1
}
wait_up "$PORT" "wrangler dev" 120
export FANOUT_URL="http://127.0.0.1:$PORT"
# The same built worker under workerd alone (bench/workerd.capnp), for the
# fan-out benchmark's "plain workerd" column: what wrangler dev's local
# plumbing costs.
start_plain() {
  PLAIN_PORT=${FANOUT_PLAIN_PORT:-8792}
  setsid node_modules/.bin/workerd serve bench/workerd.capnp --socket-addr "http=127.0.0.1:$PLAIN_PORT" > bench/workerd.log 2>&1 &
  PLAIN_PID=$!
  # dev.mjs reads the CPU time of this session's processes.
  export FANOUT_PLAIN_SID=$PLAIN_PID
  trap 'kill -TERM -- "-$PID" 2>/dev/null || true; kill -TERM -- "-$PLAIN_PID" 2>/dev/null || true' EXIT INT TERM
  wait_up "$PLAIN_PORT" workerd 60
  export FANOUT_PLAIN_URL="http://127.0.0.1:$PLAIN_PORT"
}
case "${1:-all}" in
  load) start_plain; node bench/load.mjs ;;
  fanout) start_plain; node bench/run.mjs && node bench/bundle.mjs ;;
  history) node bench/history.mjs ;;
  native) node bench/native.mjs ;;
  crawl) node bench/crawl.mjs ;;
  jobs) node bench/jobs.mjs ;;
  click) node bench/click.mjs ;;
  dev) start_plain; node bench/dev.mjs ;;
  isolate) node --experimental-websocket bench/isolate.mjs ;;
  production) node bench/production.mjs ;;
  watches) node bench/watches.mjs ;;
  revalidate) node bench/revalidate.mjs ;;
  *) start_plain; node bench/production.mjs && node bench/run.mjs && node bench/bundle.mjs && node bench/load.mjs && node bench/history.mjs && node bench/native.mjs && node bench/crawl.mjs && node bench/jobs.mjs && node bench/click.mjs && node bench/dev.mjs && node --experimental-websocket bench/isolate.mjs && node bench/watches.mjs && node bench/revalidate.mjs ;;
esac
