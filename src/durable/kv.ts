// Node-variable storage (spec §5.19, §7.3): the engine's KeyValuePort as Redis hashes in Upstash, one field per
// variable, each value JSON [new] (never pickles). Unlike the caches this is data: failures throw, and the
// node-variable plugin turns them into its 22900. Without Upstash credentials the deployment's D1 keeps the hashes
// (variables must outlive the run object, which is one per run); an in-isolate map is the last resort.
import { Redis } from "@upstash/redis/cloudflare";
import type { KeyValuePort } from "../engine/plugin.ts";

export interface KvOptions {
  /** bound of one Upstash call (default 2000 ms) */
  timeoutMs?: number;
  /** expiry of a hash, refreshed on every write; none by default, like the original (spec §5.19) */
  ttlSeconds?: number;
}

export const DEFAULT_KV_TIMEOUT_MS = 2000;

function encodeFields(fields: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(fields)) {
    const json = JSON.stringify(value);
    if (json !== undefined) out[name] = json;
  }
  return out;
}

function decodeValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // a value not written by us (not JSON): hand it over as the string it is
    return text;
  }
}

export class UpstashKv implements KeyValuePort {
  readonly #redis: Redis;
  readonly #ttl: number;

  constructor(url: string, token: string, opts: KvOptions = {}) {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_KV_TIMEOUT_MS;
    this.#ttl = Math.ceil(opts.ttlSeconds ?? 0);
    this.#redis = new Redis({
      url,
      token,
      automaticDeserialization: false,
      retry: false,
      signal: () => AbortSignal.timeout(timeoutMs),
      enableAutoPipelining: false,
      readYourWrites: false,
      enableTelemetry: false,
    });
  }

  async hgetall(key: string): Promise<Record<string, unknown>> {
    // HGETALL answers a flat [field, value, …] list over the REST protocol
    const flat = (await this.#redis.exec<string[] | null>(["HGETALL", key])) ?? [];
    const out: Record<string, unknown> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i] as string] = decodeValue(flat[i + 1] as string);
    return out;
  }

  async hset(key: string, fields: Record<string, unknown>): Promise<void> {
    const encoded = encodeFields(fields);
    if (Object.keys(encoded).length === 0) return;
    if (this.#ttl <= 0) {
      await this.#redis.hset(key, encoded);
      return;
    }
    const tx = this.#redis.multi();
    tx.hset(key, encoded);
    tx.expire(key, this.#ttl);
    await tx.exec();
  }
}

/** The port in this isolate's memory: values kept as JSON text, so reads return copies, as from Redis. */
export class IsolateKv implements KeyValuePort {
  readonly #hashes = new Map<string, Map<string, string>>();

  async hgetall(key: string): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const [name, json] of this.#hashes.get(key) ?? []) out[name] = JSON.parse(json);
    return out;
  }

  async hset(key: string, fields: Record<string, unknown>): Promise<void> {
    const encoded = Object.entries(encodeFields(fields));
    if (encoded.length === 0) return;
    const hash = this.#hashes.get(key) ?? new Map<string, string>();
    for (const [name, json] of encoded) hash.set(name, json);
    this.#hashes.set(key, hash);
  }
}

/** The port in D1 (table `variable_pool`, migration 0002): durable across runs and isolates. */
export class D1Kv implements KeyValuePort {
  readonly #db: D1Database;

  constructor(db: D1Database) {
    this.#db = db;
  }

  async hgetall(key: string): Promise<Record<string, unknown>> {
    const rows = await this.#db
      .prepare(`SELECT field, value FROM variable_pool WHERE key = ?`)
      .bind(key)
      .all<{ field: string; value: string }>();
    const out: Record<string, unknown> = {};
    for (const r of rows.results) out[r.field] = decodeValue(r.value);
    return out;
  }

  async hset(key: string, fields: Record<string, unknown>): Promise<void> {
    const encoded = Object.entries(encodeFields(fields));
    if (encoded.length === 0) return;
    await this.#db.batch(
      encoded.map(([field, value]) =>
        this.#db
          .prepare(
            `INSERT INTO variable_pool (key, field, value) VALUES (?, ?, ?) ON CONFLICT (key, field) DO UPDATE SET value = excluded.value`,
          )
          .bind(key, field, value),
      ),
    );
  }
}

export interface KvEnv {
  UPSTASH_REDIS_REST_URL?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
  /** optional expiry of node-variable hashes, in seconds */
  VARIABLE_TTL_SECONDS?: string;
}

let isolateKv: IsolateKv | undefined;

/** Upstash when both credentials are set, else D1 when bound, else one in-isolate store (said once in the log). */
export function createKv(env: KvEnv & { DB?: D1Database }, log: (line: string) => void = console.log): KeyValuePort {
  if (env.UPSTASH_REDIS_REST_URL && env.UPSTASH_REDIS_REST_TOKEN) {
    const ttl = Number(env.VARIABLE_TTL_SECONDS);
    return new UpstashKv(
      env.UPSTASH_REDIS_REST_URL,
      env.UPSTASH_REDIS_REST_TOKEN,
      Number.isFinite(ttl) && ttl > 0 ? { ttlSeconds: ttl } : {},
    );
  }
  if (env.DB) return new D1Kv(env.DB);
  if (!isolateKv) {
    log("no Upstash credentials: node-variable storage lives in this isolate only");
    isolateKv = new IsolateKv();
  }
  return isolateKv;
}
