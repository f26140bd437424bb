// The flow catalog in D1 (spec §3, §9.2, §9.3): flows, versions, comparisons, apps, licences, publishing and run
// history. Every statement is parameterised.
//
// Cache hook points (spec §7.2): the reads a cache may wrap are the `FlowReader` methods below; every write that
// changes what they return (update, publish, delete, comparison save/delete) is followed in its route by
// `invalidateFlow(cache, flowId, version)` of store/cache.ts, which drops `flows:flow_info:new:{id}`,
// `flows:flow_info:new:{id}:latest` and `flows:flow_info:new:{id}:{version}` (its `flowKeys`).
import { Codes, WorkflowError } from "../../engine/index.ts";
import { newId } from "../ids.ts";

export interface FlowRow {
  id: string;
  group_id: string;
  name: string;
  data: unknown;
  release_data: unknown;
  description: string;
  version: string;
  status: number;
  release_status: number;
  app_id: string;
  source: number;
  tag: number;
  create_at: string;
  update_at: string;
}

/** The flow reads a cache layer wraps (keys of spec §7.2 in the comments). */
export interface FlowReader {
  /** `flows:flow_info:new:{id}` — the row with that id, draft or not */
  getFlow(id: string): Promise<FlowRow | undefined>;
  /** `flows:flow_info:new:{id}:latest` — the latest published row of the flow's group (spec §9.2); 20201, 20204 */
  getLatestPublished(flowId: string): Promise<FlowRow>;
  /** `flows:flow_info:new:{id}:{version}` — the published row of that version; 20201, 20204 */
  getVersion(flowId: string, version: string): Promise<FlowRow>;
}

/** One flow of the console's list (GET /flows). */
export interface FlowListing {
  id: string;
  name: string;
  description: string;
  updatedAt: string;
  /** the latest published row of the group is live for open runs */
  published: boolean;
  /** published versions, newest first */
  versions: string[];
  lastRun: { id: string; status: string; code: number; startedAt: number; endedAt: number } | null;
}

export interface AppRow {
  id: number;
  name: string;
  alias_id: string;
  api_key: string;
  api_secret: string;
  is_tenant: number;
  source: number;
  actual_source: number;
  plat_release_auth: number;
  status: number;
  audit_policy: number;
}

// spec §9.3: release-status bits per (operation, platform); -1 = not allowed
const PUBLISH_BITS: Record<number, Record<number, number>> = {
  1: { 1: 1, 2: 4, 4: 32 },
  2: { 1: 8, 2: 8, 4: -1 },
  3: { 1: 2, 2: 16, 4: 64 },
};
const ALL_TAKEN_OFF = 2 | 16 | 64;

/** "Published" for open runs (spec §9.3): some release bit set and not taken off on all three platforms. */
export function isPublished(releaseStatus: number): boolean {
  return releaseStatus !== 0 && (releaseStatus & ALL_TAKEN_OFF) !== ALL_TAKEN_OFF;
}

/** The sort key of a version, parsed as v<major>.<minor> like the original; "-1" and anything else sort last. */
export function versionKey(version: string): [number, number] {
  const m = /^v(\d+)(?:\.(\d+))?/.exec(version);
  if (!m) return [-1, -1];
  return [Number(m[1]), Number(m[2] ?? 0)];
}

/** spec §9.2: major, then minor, descending; the most recently updated first among equals. */
export function compareVersions(a: FlowRow, b: FlowRow): number {
  const [am, an] = versionKey(a.version);
  const [bm, bn] = versionKey(b.version);
  return bm - am || bn - an || (b.update_at > a.update_at ? 1 : b.update_at < a.update_at ? -1 : 0);
}

/** Release bits that make a row "published" for open runs and lookups (spec §9.2: Xingchen 1, Open platform 4). */
const LISTED_BITS = 1 | 4;

function parseJson(v: unknown): unknown {
  if (typeof v !== "string" || v === "") return null;
  try {
    return JSON.parse(v);
  } catch {
    return null;
  }
}

function toFlow(r: Record<string, unknown>): FlowRow {
  return {
    id: String(r.id),
    group_id: String(r.group_id),
    name: String(r.name ?? ""),
    data: parseJson(r.data),
    release_data: parseJson(r.release_data),
    description: String(r.description ?? ""),
    version: String(r.version ?? "-1"),
    status: Number(r.status ?? 0),
    release_status: Number(r.release_status ?? 0),
    app_id: String(r.app_id ?? ""),
    source: Number(r.source ?? 0),
    tag: Number(r.tag ?? 0),
    create_at: String(r.create_at ?? ""),
    update_at: String(r.update_at ?? ""),
  };
}

function jsonOrNull(v: unknown): string | null {
  return v === undefined || v === null ? null : JSON.stringify(v);
}

export class Catalog implements FlowReader {
  readonly #db: D1Database;
  readonly #newId: () => string;

  /** `ids` makes the ids of version and comparison rows (injected in tests). */
  constructor(db: D1Database, ids: () => string = newId) {
    this.#db = db;
    this.#newId = ids;
  }

  // ---- apps and licences ------------------------------------------------------------------------------------------

  async app(alias: string): Promise<AppRow | undefined> {
    const r = await this.#db.prepare(`SELECT * FROM app WHERE alias_id = ?`).bind(alias).first<AppRow>();
    return r ?? undefined;
  }

  async appByKey(apiKey: string): Promise<AppRow | undefined> {
    const r = await this.#db.prepare(`SELECT * FROM app WHERE api_key = ?`).bind(apiKey).first<AppRow>();
    return r ?? undefined;
  }

  /** Strict HMAC's replay guard: takes a nonce unless an unexpired row holds it (one statement, so two racing
   * requests cannot both win). */
  async claimNonce(key: string, expiresAt: number, now: number): Promise<boolean> {
    const r = await this.#db
      .prepare(
        `INSERT INTO auth_nonce (nonce_key, expires_at) VALUES (?, ?)
         ON CONFLICT (nonce_key) DO UPDATE SET expires_at = excluded.expires_at WHERE auth_nonce.expires_at < ?`,
      )
      .bind(key, expiresAt, now)
      .run();
    return (r.meta.changes ?? 0) > 0;
  }

  async requireApp(alias: string): Promise<AppRow> {
    const app = await this.app(alias);
    if (!app) throw WorkflowError.of(Codes.APP_NOT_FOUND_ERROR, alias);
    return app;
  }

  async requireTenant(alias: string): Promise<AppRow> {
    const app = await this.app(alias);
    if (!app || app.is_tenant !== 1) throw WorkflowError.of(Codes.APP_TENANT_NOT_FOUND_ERROR, alias);
    return app;
  }

  async upsertApp(app: Partial<AppRow> & { alias_id: string }): Promise<void> {
    await this.#db
      .prepare(
        `INSERT INTO app (name, alias_id, api_key, api_secret, is_tenant, source, actual_source, plat_release_auth, status, audit_policy)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (alias_id) DO UPDATE SET name = excluded.name, api_key = excluded.api_key, api_secret = excluded.api_secret,
           is_tenant = excluded.is_tenant, source = excluded.source, actual_source = excluded.actual_source,
           plat_release_auth = excluded.plat_release_auth, status = excluded.status, audit_policy = excluded.audit_policy`,
      )
      .bind(
        app.name ?? "",
        app.alias_id,
        app.api_key ?? "",
        app.api_secret ?? "",
        app.is_tenant ?? 0,
        app.source ?? 1,
        app.actual_source ?? app.source ?? 1,
        app.plat_release_auth ?? 0,
        app.status ?? 1,
        app.audit_policy ?? 0,
      )
      .run();
  }

  /** spec §9.2: a licence row for (app, group) must exist (20004) and be enabled (20005). */
  async checkLicence(alias: string, groupId: string): Promise<void> {
    const lic = await this.#db
      .prepare(
        `SELECT l.status AS status FROM license l JOIN app a ON a.id = l.app_id WHERE a.alias_id = ? AND l.group_id = ?`,
      )
      .bind(alias, groupId)
      .first<{ status: number }>();
    if (!lic) throw WorkflowError.of(Codes.APP_FLOW_NOT_AUTH_BOND_ERROR);
    if (Number(lic.status) !== 1) throw WorkflowError.of(Codes.APP_FLOW_NO_LICENSE_ERROR);
  }

  async bindLicence(appId: number, groupId: string, status = 1): Promise<void> {
    await this.#db
      .prepare(`INSERT OR IGNORE INTO license (app_id, group_id, status) VALUES (?, ?, ?)`)
      .bind(appId, groupId, status)
      .run();
  }

  async setLicenceStatus(appId: number, groupId: string, status: number): Promise<void> {
    await this.#db
      .prepare(`UPDATE license SET status = ? WHERE app_id = ? AND group_id = ?`)
      .bind(status, appId, groupId)
      .run();
  }

  // ---- flows ------------------------------------------------------------------------------------------------------

  async createFlow(input: {
    id: string;
    name: string;
    description: string;
    appId: string;
    status: number;
    data: unknown;
    source: number;
  }): Promise<void> {
    await this.#db
      .prepare(
        `INSERT INTO flow (id, group_id, name, data, release_data, description, version, status, release_status, app_id, source, tag)
         VALUES (?, ?, ?, ?, ?, ?, '-1', ?, 0, ?, ?, 0)`,
      )
      .bind(
        input.id,
        input.id,
        input.name,
        jsonOrNull(input.data),
        input.status > 0 ? jsonOrNull(input.data) : null,
        input.description,
        input.status,
        input.appId,
        input.source,
      )
      .run();
  }

  async getFlow(id: string): Promise<FlowRow | undefined> {
    const r = await this.#db.prepare(`SELECT * FROM flow WHERE id = ?`).bind(id).first<Record<string, unknown>>();
    return r ? toFlow(r) : undefined;
  }

  /**
   * Any app's flow, for paths that check access another way: a licence (open runs, hooks) or a tenant (publish,
   * licences). Routes that act on a flow's records use `ownFlow`.
   */
  async requireFlow(id: string): Promise<FlowRow> {
    const f = await this.getFlow(id);
    if (!f) throw WorkflowError.of(Codes.FLOW_NOT_FOUND_ERROR, id);
    return f;
  }

  /** The flow when it belongs to `app`; another app's flow is "not found" like a missing one (issue 13). */
  async ownFlow(id: string, app: string): Promise<FlowRow> {
    const r = app
      ? await this.#db
          .prepare(`SELECT * FROM flow WHERE id = ? AND app_id = ?`)
          .bind(id, app)
          .first<Record<string, unknown>>()
      : null;
    if (!r) throw WorkflowError.of(Codes.FLOW_NOT_FOUND_ERROR, id);
    return toFlow(r);
  }

  /**
   * spec §1.5.7: only the given fields change; a status > 0 copies `data` (the new one, else the stored one) into
   * `release_data`, the console's legacy publish on save.
   * Decision ([new], spec §11.12 lists the original's truthiness as a bug): `status: 0` IS honoured (the original
   * skipped every falsy field, so a flow could never go back to draft) and so is an empty `description` (it can be
   * cleared). An empty `name` or `app_id` and a null `data` still mean "unchanged": a flow always keeps a name, an
   * owner once it has one, and its DSL.
   */
  async updateFlow(
    id: string,
    patch: { name?: string; description?: string; data?: unknown; appId?: string; status?: number },
  ): Promise<void> {
    const sets: string[] = [];
    const args: unknown[] = [];
    const set = (sql: string, value: unknown): void => {
      sets.push(sql);
      args.push(value);
    };
    if (patch.name) set("name = ?", patch.name);
    if (patch.description !== undefined) set("description = ?", patch.description);
    if (patch.data !== undefined && patch.data !== null) set("data = ?", JSON.stringify(patch.data));
    if (patch.appId) set("app_id = ?", patch.appId);
    if (patch.status !== undefined) {
      set("status = ?", patch.status);
      if (patch.status > 0) set("release_data = COALESCE(?, data)", jsonOrNull(patch.data));
    }
    sets.push("update_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')");
    await this.#db
      .prepare(`UPDATE flow SET ${sets.join(", ")} WHERE id = ?`)
      .bind(...args, id)
      .run();
  }

  async deleteFlow(id: string, appId: string): Promise<boolean> {
    const r = await this.#db.prepare(`DELETE FROM flow WHERE id = ? AND app_id = ?`).bind(id, appId).run();
    return (r.meta.changes ?? 0) > 0;
  }

  /** spec §1.5.10: a comparison copy (tag 1) of the flow row in the same group. */
  async saveComparison(flow: FlowRow, data: unknown, version: string): Promise<void> {
    try {
      await this.#db
        .prepare(
          `INSERT INTO flow (id, group_id, name, data, release_data, description, version, status, release_status, app_id, source, tag)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
        )
        .bind(
          this.#newId(),
          flow.group_id,
          flow.name,
          JSON.stringify(data),
          JSON.stringify(data),
          flow.description,
          version,
          flow.status,
          flow.release_status,
          flow.app_id,
          flow.source,
        )
        .run();
    } catch (e) {
      console.log(`comparison save failed: ${e instanceof Error ? e.message : String(e)}`);
      throw WorkflowError.of(Codes.PROTOCOL_CREATE_ERROR, "the comparison could not be saved");
    }
  }

  /** [new] spec §1.5.10: deletes only comparison rows (tag 1), never a real version. */
  async deleteComparisons(flow: FlowRow, version: string): Promise<number> {
    const r = await this.#db
      .prepare(`DELETE FROM flow WHERE group_id = ? AND version = ? AND tag = 1`)
      .bind(flow.group_id, version)
      .run();
    return r.meta.changes ?? 0;
  }

  async groupRows(groupId: string): Promise<FlowRow[]> {
    const r = await this.#db
      .prepare(`SELECT * FROM flow WHERE group_id = ?`)
      .bind(groupId)
      .all<Record<string, unknown>>();
    return r.results.map(toFlow);
  }

  /** spec §9.2: the published row of the group, by version or the latest. */
  async publishedRow(flow: FlowRow, version: string): Promise<FlowRow> {
    const rows = (await this.groupRows(flow.group_id)).filter((r) => (r.release_status & LISTED_BITS) !== 0);
    if (version) {
      const row = rows.find((r) => r.version === version);
      if (!row) throw WorkflowError.of(Codes.FLOW_NOT_PUBLISH_ERROR, `version ${version}`);
      return row;
    }
    // comparison copies (tag 1) are only ever run by their version; they never become "latest"
    const row = rows.filter((r) => r.tag !== 1).sort(compareVersions)[0];
    if (!row || !isPublished(row.release_status)) throw WorkflowError.of(Codes.FLOW_NOT_PUBLISH_ERROR);
    return row;
  }

  async getLatestPublished(flowId: string): Promise<FlowRow> {
    return this.publishedRow(await this.requireFlow(flowId), "");
  }

  async getVersion(flowId: string, version: string): Promise<FlowRow> {
    if (!version) throw WorkflowError.of(Codes.FLOW_NOT_PUBLISH_ERROR, "no version given");
    return this.publishedRow(await this.requireFlow(flowId), version);
  }

  /** The flow an open run executes (spec §1.5.1 steps 1–3). */
  async openFlow(flowId: string, appAlias: string, version: string): Promise<FlowRow> {
    const flow = await this.requireFlow(flowId);
    await this.checkLicence(appAlias, flow.group_id);
    const row = await this.publishedRow(flow, version);
    if (!isPublished(row.release_status)) throw WorkflowError.of(Codes.FLOW_NOT_PUBLISH_ERROR);
    return row;
  }

  // ---- publishing (spec §9.3) -------------------------------------------------------------------------------------

  async publish(input: {
    tenantAlias: string;
    flowId: string;
    op: number;
    plat: number;
    version: string;
    data: unknown;
  }): Promise<void> {
    const tenant = await this.requireTenant(input.tenantAlias);
    const plat = input.plat === 0 ? tenant.source : input.plat;
    const flow = await this.requireFlow(input.flowId);
    if (
      (tenant.plat_release_auth & plat) === 0 ||
      (flow.source !== 0 && (tenant.plat_release_auth & flow.source) === 0)
    ) {
      throw WorkflowError.of(Codes.APP_TENANT_PLATFORM_UNAUTHORIZED_ERROR);
    }
    const bit = PUBLISH_BITS[input.op]?.[plat];
    if (bit === undefined || bit === -1) throw WorkflowError.of(Codes.APP_PLAT_NOT_RELEASE_OP_ERROR);
    let status = flow.release_status;
    const publishBit = PUBLISH_BITS[1]?.[plat] ?? 0;
    const apiBit = Math.max(0, PUBLISH_BITS[2]?.[plat] ?? 0);
    const offBit = PUBLISH_BITS[3]?.[plat] ?? 0;
    if (input.op === 3) status &= ~(publishBit | apiBit);
    else status &= ~offBit;
    status |= bit;
    const data = input.op === 1 && input.data ? input.data : flow.data;
    try {
      const statements: D1PreparedStatement[] = [
        this.#db
          .prepare(
            `UPDATE flow SET data = ?, release_data = ?, update_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?`,
          )
          .bind(jsonOrNull(data), jsonOrNull(data), flow.id),
      ];
      if (input.op === 1 && input.version) {
        statements.push(
          this.#db
            .prepare(
              `INSERT INTO flow (id, group_id, name, data, release_data, description, version, status, release_status, app_id, source, tag)
               VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, 0)
               ON CONFLICT (group_id, version) DO UPDATE SET data = excluded.data, release_data = excluded.release_data,
                 update_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`,
            )
            .bind(
              this.#newId(),
              flow.group_id,
              flow.name,
              jsonOrNull(data),
              jsonOrNull(data),
              flow.description,
              input.version,
              status,
              flow.app_id,
              flow.source,
            ),
          this.#db.prepare(`UPDATE flow SET version = '-1' WHERE id = ?`).bind(flow.id),
        );
      }
      statements.push(
        this.#db.prepare(`UPDATE flow SET release_status = ? WHERE group_id = ?`).bind(status, flow.group_id),
      );
      await this.#db.batch(statements);
    } catch (e) {
      // storage text stays in the log (issue 13: no internal text reaches a client)
      console.log(`publish of ${flow.id} failed: ${e instanceof Error ? e.message : String(e)}`);
      throw WorkflowError.of(Codes.FLOW_PUBLISH_ERROR, "Error details: the flow could not be stored");
    }
  }

  /** spec §1.5.15: bind an app to a published flow. */
  async authorize(tenantAlias: string, flowId: string, appAlias: string): Promise<void> {
    await this.requireTenant(tenantAlias);
    const app = await this.app(appAlias);
    if (!app) throw WorkflowError.of(Codes.APP_FLOW_AUTH_BOND_ERROR, `app ${appAlias} not found`);
    const flow = await this.requireFlow(flowId);
    if (!isPublished(flow.release_status)) throw WorkflowError.of(Codes.FLOW_NOT_PUBLISH_ERROR);
    await this.bindLicence(app.id, flow.group_id);
  }

  /**
   * The app's flows for the console (issue 16): each working row (not a version or comparison copy) with the
   * published versions of its group and the app's latest finished run of it. Metadata only, never the DSL.
   */
  async listFlows(app: string): Promise<FlowListing[]> {
    const [rows, runs] = await this.#db.batch<Record<string, unknown>>([
      this.#db
        .prepare(
          `SELECT id, group_id, name, description, version, status, release_status, tag, update_at FROM flow
           WHERE group_id IN (SELECT group_id FROM flow WHERE app_id = ?) ORDER BY update_at DESC`,
        )
        .bind(app),
      // SQLite takes the bare columns from the row of MAX(started_at)
      this.#db
        .prepare(
          `SELECT flow_id, event_id, status, code, MAX(started_at) AS started_at, ended_at FROM run_history
           WHERE app_id = ? GROUP BY flow_id`,
        )
        .bind(app),
    ]);
    const last = new Map((runs?.results ?? []).map((r) => [String(r.flow_id), r]));
    const all = rows?.results ?? [];
    const out: FlowListing[] = [];
    for (const r of all) {
      if (String(r.version) !== "-1" || Number(r.tag) !== 0) continue;
      const versions = all
        .filter((v) => v.group_id === r.group_id && Number(v.tag) === 0 && String(v.version) !== "-1")
        .filter((v) => (Number(v.release_status) & LISTED_BITS) !== 0)
        .map((v) => String(v.version))
        .sort((a, b) => {
          const [am, an] = versionKey(a);
          const [bm, bn] = versionKey(b);
          return bm - am || bn - an;
        });
      const run = last.get(String(r.id));
      out.push({
        id: String(r.id),
        name: String(r.name ?? ""),
        description: String(r.description ?? ""),
        updatedAt: String(r.update_at ?? ""),
        published: isPublished(Number(r.release_status)),
        versions,
        lastRun: run
          ? {
              id: String(run.event_id),
              status: String(run.status),
              code: Number(run.code),
              startedAt: Number(run.started_at),
              endedAt: Number(run.ended_at),
            }
          : null,
      });
    }
    return out;
  }

  // ---- run history ------------------------------------------------------------------------------------------------

  async runHistory(
    flowId: string,
    limit: number,
    before?: number,
    appId?: string,
    status?: string,
  ): Promise<Record<string, unknown>[]> {
    const r = await this.#db
      .prepare(
        `SELECT * FROM run_history WHERE flow_id = ? AND started_at < ? AND (? IS NULL OR app_id = ?) AND (? IS NULL OR status = ?) ORDER BY started_at DESC LIMIT ?`,
      )
      .bind(
        flowId,
        before ?? Number.MAX_SAFE_INTEGER,
        appId ?? null,
        appId ?? null,
        status ?? null,
        status ?? null,
        limit,
      )
      .all<Record<string, unknown>>();
    return r.results;
  }
}
