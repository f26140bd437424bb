// Caches (ARCHITECTURE decision 3, spec §7): compiled plans and flow/app rows as JSON in Upstash Redis, every
// call bounded by a short timeout so an unreachable Redis only costs a miss; without credentials an in-isolate LRU.
import { Redis } from "@upstash/redis/cloudflare";

export interface CacheStats {
  hits: number;
  misses: number;
  errors: number;
  kind: "upstash" | "lru";
}

export interface Cache {
  get<T>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown, ttlSeconds: number): Promise<void>;
  del(keys: string[]): Promise<void>;
  /** members of a set (the per-flow index of plan keys) */
  members(key: string): Promise<string[]>;
  addMember(key: string, member: string, ttlSeconds: number): Promise<void>;
  stats(): CacheStats;
}

export const DEFAULT_TTL_S = 3600;

// ---- keys (spec §7.2; plans per issue 5) --------------------------------------------------------------------------

export function planKey(flowId: string, version: string, hash: string): string {
  return `plan:${flowId}:${version || "draft"}:${hash}`;
}

export function planIndexKey(flowId: string): string {
  return `plan-index:${flowId}`;
}

export function flowKeys(flowId: string, version?: string): string[] {
  const keys = [`flows:flow_info:new:${flowId}`, `flows:flow_info:new:${flowId}:latest`];
  if (version) keys.push(`flows:flow_info:new:${flowId}:${version}`);
  return keys;
}

export function appKey(alias: string): string {
  return `apps:app_info:new:${alias}`;
}

export async function contentHash(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest).slice(0, 12), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Read-through: the cache, else `load` (whose result is written back). */
export async function cached<T>(cache: Cache, key: string, ttl: number, load: () => Promise<T>): Promise<T> {
  const hit = await cache.get<T>(key);
  if (hit !== undefined) return hit;
  const value = await load();
  await cache.set(key, value, ttl);
  return value;
}

/** Invalidates exactly one flow's keys: its row caches and every plan compiled from it. */
export async function invalidateFlow(cache: Cache, flowId: string, version?: string): Promise<void> {
  const plans = await cache.members(planIndexKey(flowId));
  await cache.del([...flowKeys(flowId, version), ...plans, planIndexKey(flowId)]);
}

// ---- implementations ------------------------------------------------------------------------------------------------

export class LruCache implements Cache {
  readonly #max: number;
  readonly #now: () => number;
  readonly #map = new Map<string, { value: string; expires: number }>();
  readonly #stats: CacheStats = { hits: 0, misses: 0, errors: 0, kind: "lru" };

  constructor(max = 500, now: () => number = Date.now) {
    this.#max = max;
    this.#now = now;
  }

  async get<T>(key: string): Promise<T | undefined> {
    const e = this.#map.get(key);
    if (!e || e.expires <= this.#now()) {
      if (e) this.#map.delete(key);
      this.#stats.misses++;
      return undefined;
    }
    this.#map.delete(key);
    this.#map.set(key, e);
    this.#stats.hits++;
    return JSON.parse(e.value) as T;
  }

  async set(key: string, value: unknown, ttlSeconds: number): Promise<void> {
    this.#map.delete(key);
    this.#map.set(key, { value: JSON.stringify(value), expires: this.#now() + ttlSeconds * 1000 });
    while (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next().value;
      if (oldest === undefined) break;
      this.#map.delete(oldest);
    }
  }

  async del(keys: string[]): Promise<void> {
    for (const k of keys) this.#map.delete(k);
  }

  async members(key: string): Promise<string[]> {
    return (await this.get<string[]>(key)) ?? [];
  }

  async addMember(key: string, member: string, ttlSeconds: number): Promise<void> {
    const list = new Set((await this.get<string[]>(key)) ?? []);
    list.add(member);
    await this.set(key, [...list], ttlSeconds);
  }

  stats(): CacheStats {
    return { ...this.#stats };
  }
}

export class UpstashCache implements Cache {
  readonly #redis: Redis;
  readonly #timeoutMs: number;
  readonly #stats: CacheStats = { hits: 0, misses: 0, errors: 0, kind: "upstash" };
  readonly #log: (line: string) => void;

  constructor(url: string, token: string, timeoutMs: number, log: (line: string) => void) {
    // JSON values, never pickles (spec §7); automatic deserialisation off so we parse what we wrote
    this.#redis = new Redis({ url, token, automaticDeserialization: false, retry: false });
    this.#timeoutMs = timeoutMs;
    this.#log = log;
  }

  async #bounded<T>(op: string, work: () => Promise<T>): Promise<T | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), this.#timeoutMs);
      });
      const result = await Promise.race([work().then((v) => ({ v })), timeout]);
      if (result === undefined) {
        this.#stats.errors++;
        this.#log(`cache ${op}: no answer within ${this.#timeoutMs} ms`);
        return undefined;
      }
      return result.v;
    } catch (e) {
      this.#stats.errors++;
      this.#log(`cache ${op} failed: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  async get<T>(key: string): Promise<T | undefined> {
    const raw = await this.#bounded("get", () => this.#redis.get<string>(key));
    if (raw === undefined || raw === null) {
      this.#stats.misses++;
      return undefined;
    }
    this.#stats.hits++;
    return JSON.parse(raw) as T;
  }

  async set(key: string, value: unknown, ttlSeconds: number): Promise<void> {
    await this.#bounded("set", () => this.#redis.set(key, JSON.stringify(value), { ex: ttlSeconds }));
  }

  async del(keys: string[]): Promise<void> {
    if (keys.length) await this.#bounded("del", () => this.#redis.del(...keys));
  }

  async members(key: string): Promise<string[]> {
    return (await this.#bounded("smembers", () => this.#redis.smembers(key))) ?? [];
  }

  async addMember(key: string, member: string, ttlSeconds: number): Promise<void> {
    await this.#bounded("sadd", async () => {
      const p = this.#redis.pipeline();
      p.sadd(key, member);
      p.expire(key, ttlSeconds);
      await p.exec();
    });
  }

  stats(): CacheStats {
    return { ...this.#stats };
  }
}

let isolateLru: LruCache | undefined;
let warned = false;

/** Upstash when both credentials are set, else the in-isolate LRU (logged once). */
export function createCache(env: { UPSTASH_REDIS_REST_URL?: string; UPSTASH_REDIS_REST_TOKEN?: string; CACHE_TIMEOUT_MS?: string }, log: (line: string) => void = console.log): Cache {
  if (env.UPSTASH_REDIS_REST_URL && env.UPSTASH_REDIS_REST_TOKEN) {
    return new UpstashCache(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN, Number(env.CACHE_TIMEOUT_MS ?? 50), log);
  }
  if (!warned) {
    warned = true;
    log("no Upstash credentials: using in-isolate LRU cache");
  }
  return (isolateLru ??= new LruCache());
}
