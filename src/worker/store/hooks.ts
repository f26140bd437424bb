// Webhook endpoints in D1 (issue 6, migration 0004). Secrets leave this module only when they are created or
// rotated (the one answer that shows them); listings show ids, mode, mapping and limits.
import * as z from "zod";
import { LruMap } from "../../engine/lru.ts";
import { base64, hex, randomBytes, sha256 } from "../bytes.ts";

export type HookMode = "sync" | "async" | "stream";
export type HookAuth = "signature" | "bearer";

export interface HookSecret {
  secret: string;
  created_at: number;
  /** null while current; set when rotated out (the old secret keeps working until then) */
  expires_at: number | null;
}

export interface HookRow {
  hook_id: string;
  app_id: string;
  flow_id: string;
  version: string;
  mode: HookMode;
  auth: HookAuth;
  secrets: HookSecret[];
  token_hash: string | null;
  mapping: Record<string, string>;
  callback_url: string | null;
  callback_secret: string | null;
  sync_timeout_ms: number;
  rate_per_minute: number;
  max_body_bytes: number;
  created_at: number;
  updated_at: number;
}

export const HOOK_DEFAULTS = {
  syncTimeoutMs: 30_000,
  /** a sustained 10 requests per second; 0 turns the limit off */
  ratePerMinute: 600,
  maxBodyBytes: 1024 * 1024,
} as const;

/** A mapping path: `body`, `query` or `headers`, then dot-separated keys or array indexes. */
const MAPPING_PATH = /^(body|query|headers)(\.[^.\s]+)*$/;

export const CreateHook = z.object({
  flow_id: z.union([z.string().min(1), z.number().transform((n) => String(n))]),
  version: z.string().default(""),
  mode: z.enum(["sync", "async", "stream"]).default("sync"),
  auth: z.enum(["signature", "bearer"]).default("signature"),
  mapping: z
    .record(z.string().min(1), z.string().regex(MAPPING_PATH, "a path such as body.user.name, query.q or headers.x-id"))
    .default({}),
  callback_url: z
    .url({ protocol: /^https?$/ })
    .nullable()
    .default(null),
  sync_timeout_ms: z.number().int().min(100).max(300_000).default(HOOK_DEFAULTS.syncTimeoutMs),
  rate_per_minute: z.number().int().min(0).max(1_000_000).default(HOOK_DEFAULTS.ratePerMinute),
  max_body_bytes: z
    .number()
    .int()
    .min(1)
    .max(100 * 1024 * 1024)
    .default(HOOK_DEFAULTS.maxBodyBytes),
});
export type CreateHook = z.infer<typeof CreateHook>;

export const RotateHook = z.object({
  /** how long the previous secret keeps verifying, seconds (default a day; 0 = at once) */
  keep_previous_seconds: z
    .number()
    .int()
    .min(0)
    .max(30 * 24 * 3600)
    .default(24 * 3600),
});

/** A Standard Webhooks secret: `whsec_` + base64 of 24 random bytes. */
export function newSecret(): string {
  return `whsec_${base64(randomBytes(24))}`;
}

export function newBearerToken(): string {
  return `wht_${base64(randomBytes(32)).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "")}`;
}

export function newHookId(): string {
  return `hk_${hex(randomBytes(12))}`;
}

export async function sha256Hex(text: string): Promise<string> {
  return hex(await sha256(text));
}

/** how many presented bearer tokens an isolate remembers the digest of, and the longest it remembers */
const TOKEN_DIGESTS = 1024;
const TOKEN_DIGEST_MAX_CHARS = 128; // ours are 47: a longer one is wrong anyway and would only fill memory
const tokenDigests = new LruMap<string, string>(TOKEN_DIGESTS);

/**
 * The SHA-256 of a presented bearer token, remembered per isolate (issue 15): the digest is an asynchronous Web
 * Crypto call on every webhook request, the same token each time from a given sender. Only the digest of what was
 * presented is kept — the caller still compares it with the hook's current hash every time, so a rotated or
 * deleted token stops working at once. Bounded in entries and in their length: the least recently used entry goes
 * first, and a miss costs no more than before.
 */
export async function bearerDigest(token: string): Promise<string> {
  const known = tokenDigests.get(token);
  if (known !== undefined) return known;
  const digest = await sha256Hex(token);
  if (token.length <= TOKEN_DIGEST_MAX_CHARS) tokenDigests.set(token, digest);
  return digest;
}

/** The secrets that still verify at `now` (the current one and any rotated out less than their grace ago). */
export function activeSecrets(row: HookRow, now: number): string[] {
  return row.secrets.filter((s) => s.expires_at === null || s.expires_at > now).map((s) => s.secret);
}

/** What a listing shows: everything but secrets and the token hash. */
export function publicHook(row: HookRow, origin: string): Record<string, unknown> {
  return {
    hook_id: row.hook_id,
    url: `${origin}/hooks/${row.hook_id}`,
    flow_id: row.flow_id,
    version: row.version,
    mode: row.mode,
    auth: row.auth,
    mapping: row.mapping,
    callback_url: row.callback_url,
    sync_timeout_ms: row.sync_timeout_ms,
    rate_per_minute: row.rate_per_minute,
    max_body_bytes: row.max_body_bytes,
    active_secrets: row.auth === "signature" ? activeSecrets(row, Date.now()).length : 0,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

function fromDb(r: Record<string, unknown>): HookRow {
  return {
    hook_id: String(r.hook_id),
    app_id: String(r.app_id),
    flow_id: String(r.flow_id),
    version: String(r.version ?? ""),
    mode: String(r.mode) as HookMode,
    auth: String(r.auth) as HookAuth,
    secrets: JSON.parse(String(r.secrets ?? "[]")) as HookSecret[],
    token_hash: r.token_hash === null || r.token_hash === undefined ? null : String(r.token_hash),
    mapping: JSON.parse(String(r.mapping ?? "{}")) as Record<string, string>,
    callback_url: r.callback_url === null || r.callback_url === undefined ? null : String(r.callback_url),
    callback_secret: r.callback_secret === null || r.callback_secret === undefined ? null : String(r.callback_secret),
    sync_timeout_ms: Number(r.sync_timeout_ms),
    rate_per_minute: Number(r.rate_per_minute),
    max_body_bytes: Number(r.max_body_bytes),
    created_at: Number(r.created_at),
    updated_at: Number(r.updated_at),
  };
}

export class HookStore {
  readonly #db: D1Database;
  constructor(db: D1Database) {
    this.#db = db;
  }

  async insert(row: HookRow): Promise<void> {
    await this.#db
      .prepare(
        `INSERT INTO webhook (hook_id, app_id, flow_id, version, mode, auth, secrets, token_hash, mapping, callback_url, callback_secret,
          sync_timeout_ms, rate_per_minute, max_body_bytes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(
        row.hook_id,
        row.app_id,
        row.flow_id,
        row.version,
        row.mode,
        row.auth,
        JSON.stringify(row.secrets),
        row.token_hash,
        JSON.stringify(row.mapping),
        row.callback_url,
        row.callback_secret,
        row.sync_timeout_ms,
        row.rate_per_minute,
        row.max_body_bytes,
        row.created_at,
        row.updated_at,
      )
      .run();
  }

  async get(hookId: string): Promise<HookRow | undefined> {
    const r = await this.#db
      .prepare(`SELECT * FROM webhook WHERE hook_id = ?`)
      .bind(hookId)
      .first<Record<string, unknown>>();
    return r ? fromDb(r) : undefined;
  }

  async list(appId: string, flowId?: string): Promise<HookRow[]> {
    const q = flowId
      ? this.#db
          .prepare(`SELECT * FROM webhook WHERE app_id = ? AND flow_id = ? ORDER BY created_at`)
          .bind(appId, flowId)
      : this.#db.prepare(`SELECT * FROM webhook WHERE app_id = ? ORDER BY created_at`).bind(appId);
    const { results } = await q.all<Record<string, unknown>>();
    return results.map(fromDb);
  }

  async updateSecrets(hookId: string, secrets: HookSecret[], tokenHash: string | null, now: number): Promise<void> {
    await this.#db
      .prepare(`UPDATE webhook SET secrets = ?, token_hash = ?, updated_at = ? WHERE hook_id = ?`)
      .bind(JSON.stringify(secrets), tokenHash, now, hookId)
      .run();
  }

  async delete(hookId: string): Promise<boolean> {
    const r = await this.#db.prepare(`DELETE FROM webhook WHERE hook_id = ?`).bind(hookId).run();
    return (r.meta.changes ?? 0) > 0;
  }
}
