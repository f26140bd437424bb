-- Strict HMAC mode (issue 13, src/worker/auth.ts): every signed request carries a nonce, accepted once within the
-- clock-skew window. A row lives until it expires; a later request with the same key and nonce is a replay.
CREATE TABLE IF NOT EXISTS auth_nonce (
  nonce_key TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_nonce_expiry ON auth_nonce (expires_at);
