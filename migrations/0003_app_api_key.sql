-- Authentication looks apps up by api_key (key mode without X-Consumer-Username, and every HMAC request, spec §1.4).
CREATE INDEX IF NOT EXISTS app_by_api_key ON app (api_key);
