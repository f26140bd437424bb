-- Webhooks (issue 6): endpoints that start a published flow from an HTTPS POST. Secrets are Standard Webhooks
-- secrets (whsec_…, several active while one is rotated out); a bearer token is stored only as its SHA-256 hash.
CREATE TABLE IF NOT EXISTS webhook (
  hook_id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL,
  flow_id TEXT NOT NULL,
  version TEXT NOT NULL DEFAULT '',
  mode TEXT NOT NULL,                -- sync | async | stream
  auth TEXT NOT NULL,                -- signature | bearer
  secrets TEXT NOT NULL DEFAULT '[]', -- JSON [{secret, created_at, expires_at|null}]
  token_hash TEXT,                   -- bearer: hex SHA-256 of the token
  mapping TEXT NOT NULL DEFAULT '{}', -- JSON {start parameter: path into the request}
  callback_url TEXT,
  callback_secret TEXT,
  sync_timeout_ms INTEGER NOT NULL,
  rate_per_minute INTEGER NOT NULL,
  max_body_bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_by_app ON webhook (app_id, flow_id);
