-- node-variable storage when no Upstash is configured (spec §5.19): one row per (hash key, field), JSON values.
CREATE TABLE IF NOT EXISTS variable_pool (
  key TEXT NOT NULL,
  field TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (key, field)
);
