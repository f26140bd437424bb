#!/usr/bin/env bash
# The main job: the local runtime on miniflare (wrangler dev) with local D1/R2/Durable Object storage and the
# example flows loaded. No Cloudflare account and no API key needed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
export CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_SEND_METRICS=false
PORT="${PORT:-8787}"
# redis-server/PostgreSQL are for the tests and the database node; the runtime itself starts without them
bash scripts/setup-system.sh --no-browser || echo "start: setup-system failed (continuing: the runtime does not need it)" >&2
wrangler d1 migrations apply DB --local >/dev/null
# the browser console's static files (wrangler.toml [assets])
node scripts/build-console.mjs
# seed hook: loads the example flows into the local D1 (skipped while that step does not exist)
if [ -f scripts/seed.mjs ]; then node scripts/seed.mjs; fi
cat <<MSG

Astron workflow runtime on http://127.0.0.1:${PORT}
  console: http://127.0.0.1:${PORT}/console/  (sign in with the app id d1590f30)
  app id (X-Consumer-Username): d1590f30     key:secret  demo-key:demo-secret
  example flows (published and licensed to that app):
    7364501960118599680  start → llm → end      (calls Spark: needs network and real keys in the flow)
    7364501960118599681  start → if-else → message | text-joiner → end
  try:
    curl -sN http://127.0.0.1:${PORT}/workflow/v1/chat/completions -H 'X-Consumer-Username: d1590f30' \\
      -H 'Content-Type: application/json' \\
      -d '{"flow_id":"7364501960118599681","parameters":{"AGENT_USER_INPUT":"hello","score":80}}'

MSG
exec wrangler dev --ip 127.0.0.1 --port "$PORT" --local
