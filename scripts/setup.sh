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
#
# Build tools do not need their authors' release settings: trunk's manifest
# asks for fat LTO and one codegen unit, the slowest there are. The installs
# use thin-local LTO, 16 codegen units and opt-level 2 instead, share one
# target directory so crates common to all three are built once when they
# match, and run beside `npm ci` and apt (started first, in the background).
# Measured on 2 cores: the three installs took 14 min; the whole setup took
# 43 min with the tools' own release settings. The shared target directory is removed
# afterwards (about 2 GB).
has_version() { command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -q -- "$2"; }
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  CARGO_PROFILE_RELEASE_OPT_LEVEL=2 CARGO_PROFILE_RELEASE_DEBUG=false \
  CARGO_PROFILE_RELEASE_INCREMENTAL=false
INSTALL_TARGET=${CARGO_INSTALL_TARGET_DIR:-${CARGO_HOME:-$HOME/.cargo}/fanout-install-target}
install_tool() { CARGO_TARGET_DIR="$INSTALL_TARGET" cargo install --quiet "$@"; }

# For the browser tests: Debian's Chromium and chromedriver, fetched while
# cargo compiles.
APT_PID=""
if [[ $want_browser == 1 ]] && { ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; }; then
  say "installing chromium and chromium-driver from Debian (in the background)"
  SUDO=""; [[ $(id -u) != 0 ]] && SUDO=sudo
  mkdir -p target
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver; } \
    > target/apt.log 2>&1 &
  APT_PID=$!
fi

# 3. npm packages: wrangler (with workerd), binaryen's wasm-opt, playwright-core.
# Started in the background so it overlaps the cargo builds.
NPM_PID=""
if [[ ! -x node_modules/.bin/wrangler || ! -x node_modules/.bin/wasm-opt || package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "installing npm packages (npm ci, beside the cargo installs)"
  mkdir -p target
  npm ci --no-audit --no-fund > target/npm-ci.log 2>&1 &
  NPM_PID=$!
fi

if ! has_version worker-build "${WORKER_BUILD_VERSION}"; then
  say "installing worker-build ${WORKER_BUILD_VERSION}"
  install_tool --locked worker-build --version "${WORKER_BUILD_VERSION}"
fi
if ! has_version wasm-bindgen "wasm-bindgen ${WASM_BINDGEN_VERSION}"; then
  # Not --locked: its lockfile pins a webpki-roots that no longer resolves.
  say "installing wasm-bindgen-cli ${WASM_BINDGEN_VERSION}"
  install_tool wasm-bindgen-cli --version "${WASM_BINDGEN_VERSION}"
fi
if ! has_version trunk "trunk ${TRUNK_VERSION}"; then
  # Without the update check (it asks crates.io at every start); TLS stays.
  say "installing trunk ${TRUNK_VERSION}"
  install_tool --locked trunk --version "${TRUNK_VERSION}" --no-default-features --features rustls
fi
if [[ -z "${CARGO_INSTALL_TARGET_DIR:-}" ]]; then rm -rf "$INSTALL_TARGET"; fi
if [[ -n "$NPM_PID" ]] && ! wait "$NPM_PID"; then
  cat target/npm-ci.log >&2
  say "npm ci failed"; exit 1
fi
if [[ -n "$APT_PID" ]] && ! wait "$APT_PID"; then
  cat target/apt.log >&2
  say "installing chromium failed"; exit 1
fi

say "ready: $(rustc --version | cut -d' ' -f1-2), trunk ${TRUNK_VERSION}, worker-build ${WORKER_BUILD_VERSION}, wasm-bindgen ${WASM_BINDGEN_VERSION}, wrangler $(node_modules/.bin/wrangler --version 2>/dev/null | tail -1)"
