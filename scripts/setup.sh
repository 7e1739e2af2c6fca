#!/usr/bin/env bash
# Install what Fanout needs to build and test, and only what is missing.
# Everything comes from crates.io, the npm registry or Debian's packages:
# the build tools' own downloads (GitHub releases) are replaced by the
# cargo- and npm-installed binaries (see Makefile for the overrides).
#
#   scripts/setup.sh          toolchain, cargo tools, npm packages
#   scripts/setup.sh --test   also Chromium and chromedriver for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }
want_browser=0
[[ "${1:-}" == "--test" ]] && want_browser=1

TOOLCHAIN=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
TRUNK_VERSION=0.21.14
WORKER_BUILD_VERSION=$(sed -n '/^name = "worker"$/{n;s/^version = "\(.*\)"/\1/p;}' Cargo.lock)
WASM_BINDGEN_VERSION=$(sed -n '/^name = "wasm-bindgen"$/{n;s/^version = "\(.*\)"/\1/p;}' Cargo.lock)

# 1. The pinned Rust toolchain with the wasm32 target, clippy and rustfmt.
if ! rustup toolchain list | grep -q "^${TOOLCHAIN}-"; then
  say "installing Rust ${TOOLCHAIN}"
  rustup toolchain install "${TOOLCHAIN}" --profile minimal --component clippy,rustfmt --target wasm32-unknown-unknown
fi
if ! rustup target list --installed --toolchain "${TOOLCHAIN}" | grep -q '^wasm32-unknown-unknown$'; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add --toolchain "${TOOLCHAIN}" wasm32-unknown-unknown
fi
for comp in clippy rustfmt; do
  if ! rustup component list --installed --toolchain "${TOOLCHAIN}" | grep -q "^${comp}"; then
    say "adding ${comp}"
    rustup component add --toolchain "${TOOLCHAIN}" "${comp}"
  fi
done

# 2. Cargo-installed tools, each only when missing or at the wrong version.
has_version() { command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -q -- "$2"; }
if ! has_version trunk "trunk ${TRUNK_VERSION}"; then
  say "installing trunk ${TRUNK_VERSION} (about 15 min on 2 cores)"
  cargo install --locked trunk --version "${TRUNK_VERSION}"
fi
if ! has_version worker-build "${WORKER_BUILD_VERSION}"; then
  say "installing worker-build ${WORKER_BUILD_VERSION} (about 5 min)"
  cargo install --locked worker-build --version "${WORKER_BUILD_VERSION}"
fi
if ! has_version wasm-bindgen "wasm-bindgen ${WASM_BINDGEN_VERSION}"; then
  # Not --locked: its lockfile pins a webpki-roots that no longer resolves.
  say "installing wasm-bindgen-cli ${WASM_BINDGEN_VERSION} (about 8 min)"
  cargo install wasm-bindgen-cli --version "${WASM_BINDGEN_VERSION}"
fi

# 3. npm packages: wrangler (with workerd), binaryen's wasm-opt, playwright-core.
if [[ ! -x node_modules/.bin/wrangler || ! -x node_modules/.bin/wasm-opt || package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund
fi

# 4. For the browser tests: Debian's Chromium and chromedriver.
if [[ $want_browser == 1 ]] && { ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; }; then
  say "installing chromium and chromium-driver from Debian"
  SUDO=""; [[ $(id -u) != 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

say "ready: $(rustc --version | cut -d' ' -f1-2), trunk ${TRUNK_VERSION}, worker-build ${WORKER_BUILD_VERSION}, wasm-bindgen ${WASM_BINDGEN_VERSION}, wrangler $(node_modules/.bin/wrangler --version 2>/dev/null | tail -1)"
