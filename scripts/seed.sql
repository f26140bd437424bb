-- Demo apps for local development (not a migration: never applied to a real database).
-- Load into the local D1 of `wrangler dev` with
--   npx wrangler d1 migrations apply DB --local && npx wrangler d1 execute DB --local --file=scripts/seed.sql
-- (`npm start` does this through scripts/seed.mjs, which also loads and licenses the example flows).
--
-- tenant01: the console's tenant app (publishes to Xingchen, Open platform and AIUI: plat_release_auth 1|2|4),
--           key:secret tenant-key:tenant-secret, also the HMAC api_key/secret.
-- d1590f30: the demo app that runs flows (X-Consumer-Username: d1590f30), key:secret demo-key:demo-secret.
INSERT OR IGNORE INTO app (name, alias_id, api_key, api_secret, description, is_tenant, source, actual_source, plat_release_auth, status, audit_policy)
VALUES ('tenant', 'tenant01', 'tenant-key', 'tenant-secret', 'demo tenant app (publishes and licenses flows)', 1, 1, 1, 7, 1, 0);
INSERT OR IGNORE INTO app (name, alias_id, api_key, api_secret, description, is_tenant, source, actual_source, plat_release_auth, status, audit_policy)
VALUES ('demo', 'd1590f30', 'demo-key', 'demo-secret', 'demo app (runs flows)', 0, 1, 1, 0, 1, 0);
INSERT OR IGNORE INTO app_source (source, source_id, description) VALUES (1, 'xingchen', 'Xingchen'), (2, 'open', 'Open platform'), (4, 'aiui', 'AIUI');
