-- The data model of spec §3 (MySQL tables of the original, in D1). Ids are 64-bit decimal strings.
CREATE TABLE IF NOT EXISTS flow (
  id TEXT PRIMARY KEY,
  group_id TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '',
  data TEXT,
  release_data TEXT,
  description TEXT NOT NULL DEFAULT '',
  version TEXT NOT NULL DEFAULT '-1',
  status INTEGER NOT NULL DEFAULT 0,
  release_status INTEGER NOT NULL DEFAULT 0,
  app_id TEXT NOT NULL DEFAULT '',
  source INTEGER NOT NULL DEFAULT 0,
  tag INTEGER NOT NULL DEFAULT 0,
  create_by TEXT NOT NULL DEFAULT '',
  update_by TEXT NOT NULL DEFAULT '',
  create_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  update_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  UNIQUE (group_id, version)
);

CREATE TABLE IF NOT EXISTS app (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL DEFAULT '',
  alias_id TEXT NOT NULL UNIQUE,
  api_key TEXT NOT NULL DEFAULT '',
  api_secret TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT '',
  is_tenant INTEGER NOT NULL DEFAULT 0,
  source INTEGER NOT NULL DEFAULT 1,
  actual_source INTEGER NOT NULL DEFAULT 1,
  plat_release_auth INTEGER NOT NULL DEFAULT 0,
  status INTEGER NOT NULL DEFAULT 1,
  audit_policy INTEGER NOT NULL DEFAULT 0,
  create_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  update_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE IF NOT EXISTS app_source (
  source INTEGER PRIMARY KEY,
  source_id TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS license (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  app_id INTEGER NOT NULL,
  group_id TEXT NOT NULL,
  status INTEGER NOT NULL DEFAULT 1,
  create_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  UNIQUE (app_id, group_id)
);

CREATE TABLE IF NOT EXISTS workflow_node_history (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  node_id TEXT NOT NULL,
  uid TEXT NOT NULL DEFAULT '',
  chat_id TEXT,
  raw_question TEXT NOT NULL,
  raw_answer TEXT NOT NULL,
  create_time TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  flow_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS workflow_node_history_lookup ON workflow_node_history (flow_id, uid, node_id);

-- one row per finished run (RunObject writes it when a run ends)
CREATE TABLE IF NOT EXISTS run_history (
  event_id TEXT PRIMARY KEY,
  flow_id TEXT NOT NULL,
  app_id TEXT NOT NULL DEFAULT '',
  uid TEXT NOT NULL DEFAULT '',
  chat_id TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL,
  code INTEGER NOT NULL DEFAULT 0,
  message TEXT NOT NULL DEFAULT '',
  started_at INTEGER NOT NULL,
  ended_at INTEGER NOT NULL,
  usage TEXT,
  mode TEXT NOT NULL DEFAULT 'debug'
);
CREATE INDEX IF NOT EXISTS run_history_by_flow ON run_history (flow_id, started_at);
