// Caches (ARCHITECTURE decision 3, spec §7): compiled plans and flow/app/licence rows as JSON in Upstash Redis.
// Every Upstash call is bounded by a short timeout and never throws: an unreachable or slow Redis costs a miss
// (counted in stats()), and the caller falls back to D1 + compile. Without credentials an in-isolate LRU serves.
import { Redis } from "@upstash/redis/cloudflare";
import { PLAN_VERSION } from "../../engine/index.ts";
import { deepFreeze } from "../../engine/values.ts";
import { hex, sha256 } from "../bytes.ts";

export interface CacheStats {
  kind: "upstash" | "lru";
  hits: number;
  /** every get that returned nothing, including those that failed */
  misses: number;
  /** calls that failed or timed out (their gets also count as misses) */
  errors: number;
  /** the subset of errors that were timeouts */
  timeouts: number;
}

export interface Cache {
  /** the value stored under key, or undefined (absent, expired, unreadable or Redis unavailable) */
  get<T>(key: string): Promise<T | undefined>;
  /** stores value as JSON for ttlSeconds (≤ 0: no expiry) */
  set(key: string, value: unknown, ttlSeconds: number): Promise<void>;
  del(keys: string[]): Promise<void>;
  /** members of a set (the per-flow index of cached keys) */
  members(key: string): Promise<string[]>;
  /** adds member to a set and (re)sets the set's TTL */
  addMember(key: string, member: string, ttlSeconds: number): Promise<void>;
  stats(): CacheStats;
}

export type Log = (line: string) => void;

/** spec §7: REDIS_EXPIRE, the TTL of every cached row */
export const DEFAULT_TTL_S = 3600;
/** default bound of one Upstash call; CACHE_TIMEOUT_MS overrides it */
export const DEFAULT_TIMEOUT_MS = 50;

// ---- keys (spec §7.2; plans per issue 5) ------------------------------------------------------------------------

/**
 * A compiled plan. The content hash makes the key content-addressed: a cached plan is never stale, so invalidation
 * only has to find and drop a flow's plans, which the per-flow index below makes possible.
 */
export function planKey(flowId: string, version: string, hash: string): string {
  // the plan format's version too: a deployment never runs a plan compiled by an older engine
  return `plan:${flowId}:${version || "draft"}:${hash}:p${PLAN_VERSION}`;
}

/** A set of every plan and row key cached for one flow (spec §7.1 [new]: invalidate on update, publish, delete). */
export function planIndexKey(flowId: string): string {
  return `plan-index:${flowId}`;
}

/** The flow row keys of spec §7.2: draft row, latest published row and, with a version, that version's row. */
export function flowKeys(flowId: string, version?: string): string[] {
  const keys = [`flows:flow_info:new:${flowId}`, `flows:flow_info:new:${flowId}:latest`];
  if (version) keys.push(`flows:flow_info:new:${flowId}:${version}`);
  return keys;
}

export function appKey(alias: string): string {
  return `apps:app_info:new:${alias}`;
}

export function licenseKey(appId: string, groupId: string | number): string {
  return `license:license_info:new:${appId}:${groupId}`;
}

/** SHA-256 of the text (WebCrypto), hex, first 96 bits: plenty to tell a flow's DSL revisions apart. */
export async function contentHash(text: string): Promise<string> {
  return hex((await sha256(text)).slice(0, 12));
}

export interface CachedOptions {
  /** register the key in this flow's index, so invalidateFlow drops it */
  flowId?: string;
  /** run the write-back after the response (ctx.waitUntil) instead of awaiting it */
  waitUntil?: (work: Promise<unknown>) => void;
}

/** Read-through: the cached value, else `load()` (written back unless undefined). */
export async function cached<T>(
  cache: Cache,
  key: string,
  ttl: number,
  load: () => Promise<T>,
  opts: CachedOptions = {},
): Promise<T> {
  const hit = await cache.get<T>(key);
  if (hit !== undefined) return hit;
  const value = await load();
  if (value !== undefined) {
    const write = (async () => {
      await cache.set(key, value, ttl);
      if (opts.flowId !== undefined) await cache.addMember(planIndexKey(opts.flowId), key, ttl);
    })();
    if (opts.waitUntil) opts.waitUntil(write);
    else await write;
  }
  return value;
}

/** Drops exactly one flow's keys: its row caches (spec §7.2) and every plan or row listed in its index. */
export async function invalidateFlow(cache: Cache, flowId: string, version?: string): Promise<void> {
  const indexed = await cache.members(planIndexKey(flowId));
  await cache.del([...new Set([...flowKeys(flowId, version), ...indexed, planIndexKey(flowId)])]);
}

// ---- in-isolate LRU -----------------------------------------------------------------------------------------------

interface Entry {
  /** JSON text (its length is what the cache counts) */
  json: string;
  /** the parsed value, made once and deep-frozen: callers share it and cannot change it */
  value?: unknown;
  /** ms since epoch, or Infinity */
  expires: number;
}

export class LruCache implements Cache {
  readonly #max: number;
  readonly #maxChars: number;
  readonly #now: () => number;
  readonly #map = new Map<string, Entry>();
  #chars = 0;
  readonly #stats: CacheStats = { kind: "lru", hits: 0, misses: 0, errors: 0, timeouts: 0 };

  /**
   * @param max entries kept; the least recently used goes first
   * @param now injectable clock (ms)
   * @param maxChars JSON characters kept in all (plans run to 100 KB+; an isolate has 128 MB)
   */
  constructor(max = 500, now: () => number = Date.now, maxChars = 16 * 1024 * 1024) {
    this.#max = max;
    this.#now = now;
    this.#maxChars = maxChars;
  }

  #drop(key: string): void {
    const e = this.#map.get(key);
    if (!e) return;
    this.#chars -= e.json.length;
    this.#map.delete(key);
  }

  #entry(key: string): Entry | undefined {
    const e = this.#map.get(key);
    if (!e) return undefined;
    if (e.expires <= this.#now()) {
      this.#drop(key);
      return undefined;
    }
    this.#map.delete(key);
    this.#map.set(key, e); // most recently used last
    return e;
  }

  #read(key: string): string | undefined {
    return this.#entry(key)?.json;
  }

  #write(key: string, json: string, ttlSeconds: number): void {
    this.#drop(key);
    if (json.length > this.#maxChars) return;
    this.#map.set(key, { json, expires: ttlSeconds > 0 ? this.#now() + ttlSeconds * 1000 : Infinity });
    this.#chars += json.length;
    for (const oldest of this.#map.keys()) {
      if (this.#map.size <= this.#max && this.#chars <= this.#maxChars) break;
      this.#drop(oldest);
    }
  }

  /** The cached value, parsed once and deep-frozen (a hit on a 200-node plan costs no parse). */
  async get<T>(key: string): Promise<T | undefined> {
    const e = this.#entry(key);
    if (e === undefined) {
      this.#stats.misses++;
      return undefined;
    }
    this.#stats.hits++;
    if (e.value === undefined) e.value = deepFreeze(JSON.parse(e.json));
    return e.value as T;
  }

  async set(key: string, value: unknown, ttlSeconds: number): Promise<void> {
    const json = JSON.stringify(value);
    if (json !== undefined) this.#write(key, json, ttlSeconds);
  }

  async del(keys: string[]): Promise<void> {
    for (const k of keys) this.#drop(k);
  }

  async members(key: string): Promise<string[]> {
    const json = this.#read(key);
    return json === undefined ? [] : (JSON.parse(json) as string[]);
  }

  async addMember(key: string, member: string, ttlSeconds: number): Promise<void> {
    const json = this.#read(key);
    const set = new Set<string>(json === undefined ? [] : (JSON.parse(json) as string[]));
    set.add(member);
    this.#write(key, JSON.stringify([...set]), ttlSeconds);
  }

  /** entries currently held (expired ones included until touched) */
  get size(): number {
    return this.#map.size;
  }

  stats(): CacheStats {
    return { ...this.#stats };
  }
}

// ---- Upstash -----------------------------------------------------------------------------------------------------

class Timeout extends Error {}

/** The cause without the client's echo of the command (which may hold a whole plan). */
function brief(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.replace(/, command was: [\s\S]*$/, "").slice(0, 300);
}

export class UpstashCache implements Cache {
  readonly #redis: Redis;
  readonly #timeoutMs: number;
  readonly #log: Log;
  readonly #stats: CacheStats = { kind: "upstash", hits: 0, misses: 0, errors: 0, timeouts: 0 };

  constructor(url: string, token: string, timeoutMs = DEFAULT_TIMEOUT_MS, log: Log = () => undefined) {
    this.#timeoutMs = timeoutMs;
    this.#log = log;
    this.#redis = new Redis({
      url,
      token,
      // we store JSON text and parse it ourselves (spec §7: JSON, never pickles; no guessing at types)
      automaticDeserialization: false,
      // plain JSON answers: the values are JSON text, so base64's binary safety buys nothing, and decoding it
      // doubles the CPU of a hit on a 100 KB plan (bench/cache.bench.ts)
      responseEncoding: false,
      // one attempt: a retry could not fit in the bound anyway
      retry: false,
      // each request is aborted at the bound, so a slow Redis leaves no fetch behind (a function: a fresh
      // signal per request, and the client rethrows the abort instead of turning it into a result)
      signal: () => AbortSignal.timeout(timeoutMs),
      // one HTTP request per call; no state carried between the requests of different clients
      enableAutoPipelining: false,
      readYourWrites: false,
      enableTelemetry: false,
    });
  }

  /** Runs one Redis call within the bound; undefined (and counted, and logged) when it fails or is late. */
  async #bounded<T>(op: string, work: (redis: Redis) => Promise<T>): Promise<{ value: T } | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Timeout()), this.#timeoutMs);
    });
    try {
      return { value: await Promise.race([work(this.#redis), late]) };
    } catch (e) {
      this.#stats.errors++;
      // our timer, or the request's own abort signal (a DOMException named TimeoutError)
      const timedOut =
        e instanceof Timeout ||
        (typeof e === "object" && e !== null && "name" in e && (e.name === "TimeoutError" || e.name === "AbortError"));
      if (timedOut) this.#stats.timeouts++;
      this.#log(timedOut ? `cache ${op}: no answer within ${this.#timeoutMs} ms` : `cache ${op} failed: ${brief(e)}`);
      return undefined;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  async get<T>(key: string): Promise<T | undefined> {
    const r = await this.#bounded("get", (redis) => redis.get<string>(key));
    if (r === undefined || r.value === null) {
      this.#stats.misses++;
      return undefined;
    }
    try {
      const value = JSON.parse(r.value) as T;
      this.#stats.hits++;
      return value;
    } catch {
      // not our JSON (written by something else): a miss, and the caller's write-back replaces it
      this.#stats.misses++;
      this.#stats.errors++;
      this.#log(`cache get: ${key} does not hold JSON`);
      return undefined;
    }
  }

  async set(key: string, value: unknown, ttlSeconds: number): Promise<void> {
    const json = JSON.stringify(value);
    if (json === undefined) return;
    const ttl = Math.ceil(ttlSeconds);
    await this.#bounded("set", (redis) => (ttl > 0 ? redis.set(key, json, { ex: ttl }) : redis.set(key, json)));
  }

  async del(keys: string[]): Promise<void> {
    if (keys.length) await this.#bounded("del", (redis) => redis.del(...keys));
  }

  async members(key: string): Promise<string[]> {
    return (await this.#bounded("smembers", (redis) => redis.smembers<string[]>(key)))?.value ?? [];
  }

  async addMember(key: string, member: string, ttlSeconds: number): Promise<void> {
    const ttl = Math.ceil(ttlSeconds);
    await this.#bounded("sadd", (redis) => {
      const tx = redis.multi();
      tx.sadd(key, member);
      if (ttl > 0) tx.expire(key, ttl);
      return tx.exec();
    });
  }

  stats(): CacheStats {
    return { ...this.#stats };
  }
}

// ---- choice per deployment ----------------------------------------------------------------------------------------

export interface CacheEnv {
  UPSTASH_REDIS_REST_URL?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
  CACHE_TIMEOUT_MS?: string;
}

// one cache per isolate, so the counters add up across requests (the clients hold no per-request I/O objects)
const upstashCaches = new Map<string, UpstashCache>();
let isolateLru: LruCache | undefined;

export function cacheTimeoutMs(env: CacheEnv): number {
  const ms = Number(env.CACHE_TIMEOUT_MS);
  return Number.isFinite(ms) && ms > 0 ? ms : DEFAULT_TIMEOUT_MS;
}

/** Upstash when both credentials are set, else the in-isolate LRU (said once per isolate in the log). */
export function createCache(env: CacheEnv, log: Log = console.log): Cache {
  const url = env.UPSTASH_REDIS_REST_URL;
  const token = env.UPSTASH_REDIS_REST_TOKEN;
  if (url && token) {
    const timeout = cacheTimeoutMs(env);
    const id = `${url}\n${token}\n${timeout}`;
    let cache = upstashCaches.get(id);
    if (!cache) upstashCaches.set(id, (cache = new UpstashCache(url, token, timeout, log)));
    return cache;
  }
  if (!isolateLru) {
    log("no Upstash credentials: using in-isolate LRU cache");
    isolateLru = new LruCache();
  }
  return isolateLru;
}
