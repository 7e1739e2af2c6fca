#!/usr/bin/env bash
# Start `wrangler dev` (workerd) for local use or tests, offline.
#   scripts/wrangler-dev.sh PORT [extra wrangler args…]
# Env: FANOUT_LOCKED=1 (production's target rules), FANOUT_PERSIST=DIR (local
# state directory), FANOUT_MIGRATE=0 (leave the local D1 unmigrated),
# FANOUT_NO_BUILD=1 (serve what `make build` built, with no build step and no
# file watcher: what the tests and benchmarks use; with it, FANOUT_RATE_LIMIT=N
# sets the open API's requests per client a minute), FANOUT_CLOSED=1 (leave
# the API closed, as a deployment without a token is), FANOUT_INSPECTOR=1 (keep
# wrangler's DevTools inspector proxy, off by default: see below).
# Private targets are allowed here, explicitly: local upstreams live on loopback.
# FANOUT_LOCKED=1 keeps production's rule instead (the tests' locked-down edge).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${1:-8787}
shift || true
export CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_SEND_METRICS=false
# Each instance gets its own inspector port, so several can run at once.
ARGS=(--ip 127.0.0.1 --port "$PORT" --inspector-port "$((PORT + 1000))")
# wrangler's inspector proxy turns on the runtime's Network domain and posts
# every inspector event to wrangler's Node process as a request of its own:
# about four per subrequest, on connections that are never closed. A
# wrangler dev that had fetched 20,000 pages ran out of file descriptors
# (workerd: "Too many open files") and stopped answering; 500 pages took 4x
# as long as without it (BENCHMARKS.md). wrangler skips its inspector proxy
# in a VS Code debug terminal, which it detects by VSCODE_INSPECTOR_OPTIONS,
# so that is how it is switched off here. FANOUT_INSPECTOR=1 keeps it, for
# DevTools and CPU profiles. Console output does not need it: wrangler reads
# it from workerd's structured logs either way.
if [[ "${FANOUT_INSPECTOR:-0}" != 1 ]]; then
  export VSCODE_INSPECTOR_OPTIONS="${VSCODE_INSPECTOR_OPTIONS:-fanout: inspector proxy off}"
fi
[[ "${FANOUT_LOCKED:-0}" == 1 ]] || ARGS+=(--var ALLOW_PRIVATE_TARGETS:true)
# Open to anyone on loopback (a deployment is closed by default: README,
# Deploy), unless FANOUT_CLOSED=1 or FANOUT_LOCKED=1 (the tests' closed and
# locked-down edges).
[[ "${FANOUT_LOCKED:-0}" == 1 || "${FANOUT_CLOSED:-0}" == 1 ]] || ARGS+=(--var OPEN_ACCESS:true)
# FANOUT_PERSIST=DIR keeps this instance's local state (D1) in DIR.
PERSIST=()
[[ -n "${FANOUT_PERSIST:-}" ]] && PERSIST=(--persist-to "$FANOUT_PERSIST")
# Without [build], wrangler neither runs `make build` nor watches the sources.
# Its watcher restarts every instance once right after start-up, and under
# load the restarted server can lose the race for its own port; the tests and
# benchmarks build everything first and need neither. The copy (one per
# port, as instances start side by side) lives in target/, so its paths point
# one folder up.
CONFIG=()
if [[ "${FANOUT_NO_BUILD:-0}" == 1 ]]; then
  mkdir -p target
  awk '
    /^\[/ { skip = ($0 == "[build]") }
    skip { next }
    /^main = "/ || /^directory = "/ || /^migrations_dir = "/ { sub(/= "/, "= \"../") }
    /^simple = \{ limit = / && ratelimit != "" { sub(/limit = [0-9]+/, "limit = " ratelimit) }
    { print }
  ' ratelimit="${FANOUT_RATE_LIMIT:-}" wrangler.toml > "target/wrangler.nobuild.$PORT.toml"
  CONFIG=(--config "target/wrangler.nobuild.$PORT.toml")
fi
# The run history's schema (migrations/) is applied to the local D1 first;
# FANOUT_MIGRATE=0 skips it (the tests' unmigrated edge, where saving fails).
if [[ "${FANOUT_MIGRATE:-1}" != 0 ]]; then
  CI=true node_modules/.bin/wrangler d1 migrations apply fanout --local "${PERSIST[@]}" "${CONFIG[@]}" >&2
fi
ARGS+=("${PERSIST[@]}" "${CONFIG[@]}")
exec node_modules/.bin/wrangler dev "${ARGS[@]}" "$@"
