// The SqlPort of the `database` node (spec §5.16, issue 4): PostgreSQL reached directly over TCP with the `postgres`
// driver, parameterised statements only. On workerd the package's "workerd" export uses `cloudflare:sockets`
// (nodejs_compat supplies Buffer/events); on Node it uses `net`. The connection string is a secret and never
// appears in an error or a log line: every message that leaves this module is scrubbed of it.
//
// Connections: `DATABASE_URL` serves every dbId (a `HYPERDRIVE` binding's connection string takes its place when the
// binding exists); `DATABASE_URLS` (JSON `{"<dbId>": url, "<dbId>:<env>": url}`) overrides it per database, and per
// env ("test" for debug runs, "prod" for release runs). Each port keeps one pool per URL, at most
// `maxConnections` connections, idle ones closed after `idleTimeoutSec`. On workerd a socket belongs to the Durable
// Object that opened it (another object that touches it fails), so the pool that holds the ceiling across runs
// is the SqlPool object (sql-pool.ts), which owns one such port per database URL. Each statement is preceded, on
// the same connection and in the same round trip, by a statement that sets
// `statement_timeout` (the node's time limit, enforced by the server) and `astron.uid`, `astron.app_id`, `astron.env`, `astron.space_id` (so a database
// may scope rows per user with row-level security, as xingchen-db did by rewriting WHERE clauses). Custom SQL can
// change those settings itself, so they are a convenience, not a boundary between tenants: give tenants their own
// database or role through DATABASE_URLS. The settings are session-level and sent as a separate statement in the
// same round trip; behind a transaction-mode pooler (PgBouncer, Hyperdrive) the two may reach different server
// connections, and the client-side bound (time limit + 1 s, then a cancel request) is what stops a slow query.
// Rows are read through a cursor of maxRows + 1: a huge result never crosses the wire.
import postgres from "postgres";
import { Codes } from "../engine/codes.ts";
import { WorkflowError } from "../engine/errors.ts";
import type { SqlLimits, SqlPort, SqlTarget } from "../engine/plugin.ts";

export interface SqlPortOptions {
  /** connections per URL (default DEFAULT_POOL_MAX) */
  maxConnections?: number;
  /** seconds an idle connection is kept (default DEFAULT_POOL_IDLE_SEC; 0 keeps it) */
  idleTimeoutSec?: number;
  /** seconds to establish a connection (default 10) */
  connectTimeoutSec?: number;
  /** the driver's `socket` option: on workerd, pgSocket (pg-socket.ts), so closing a connection is clean */
  socket?: (options: { host?: readonly string[]; port?: readonly number[]; ssl?: unknown }) => unknown;
}

/** Pool defaults and caps (DATABASE_POOL_MAX, DATABASE_POOL_IDLE_SEC): small, so runs cannot crowd a database out. */
export const DEFAULT_POOL_MAX = 5;
export const MAX_POOL_MAX = 100;
export const DEFAULT_POOL_IDLE_SEC = 10;
export const MAX_POOL_IDLE_SEC = 600;

function boundedInt(text: string | undefined, fallback: number, min: number, max: number): number {
  const n = Number(text);
  if (text === undefined || text.trim() === "" || !Number.isFinite(n)) return fallback;
  return Math.min(max, Math.max(min, Math.floor(n)));
}

/** The pool's size and idle timeout from the deployment's vars (clamped to their caps). */
export function poolOptions(env: object): Required<Pick<SqlPortOptions, "maxConnections" | "idleTimeoutSec">> {
  return {
    maxConnections: boundedInt(readString(env, "DATABASE_POOL_MAX"), DEFAULT_POOL_MAX, 1, MAX_POOL_MAX),
    idleTimeoutSec: boundedInt(readString(env, "DATABASE_POOL_IDLE_SEC"), DEFAULT_POOL_IDLE_SEC, 0, MAX_POOL_IDLE_SEC),
  };
}

export interface ClosableSqlPort extends SqlPort {
  /** closes every pooled connection */
  close(): Promise<void>;
}

type Client = ReturnType<typeof postgres>;
type Row = Record<string, unknown>;

const SETTINGS =
  "select set_config('statement_timeout', $1, false), set_config('astron.uid', $2, false), set_config('astron.app_id', $3, false), set_config('astron.env', $4, false), set_config('astron.space_id', $5, false)";

/** Grace after the server-side statement timeout before the client gives up on its own (network stalls). */
const CLIENT_GRACE_MS = 1000;

// Values come back the way xingchen-db's JSON gave them: bigint ids as numbers (when exact), numeric as numbers
// (when exact), date/time and bytea as PostgreSQL's own text; everything else per the driver (json parsed, arrays).
const asText = (x: string): string => x;
const TYPES = {
  int8: {
    to: 20,
    from: [20],
    serialize: (x: unknown) => String(x),
    parse: (x: string): number | string => (Number.isSafeInteger(Number(x)) ? Number(x) : x),
  },
  numeric: { to: 1700, from: [1700], serialize: (x: unknown) => String(x), parse: exactNumber },
  datetime: {
    to: 1184,
    from: [1082, 1083, 1114, 1184, 1266, 1186],
    serialize: (x: unknown) => String(x),
    parse: asText,
  },
  // a string for a json column is JSON text, as the original pasted it into the SQL ('{"a":1}' is an object)
  json: {
    to: 3802,
    from: [114, 3802],
    serialize: (x: unknown) => (typeof x === "string" ? x : JSON.stringify(x)),
    parse: (x: string): unknown => JSON.parse(x),
  },
  bytea: { to: 17, from: [17], serialize: (x: unknown) => x, parse: asText },
};

function exactNumber(x: string): number | string {
  const n = Number(x);
  if (!Number.isFinite(n)) return x;
  // "1.50" is exactly 1.5; "0.1000000000000000055511151231257827" is not a double worth pretending about
  const canonical = x.includes(".") ? x.replace(/0+$/, "").replace(/\.$/, "") : x;
  return String(n) === canonical ? n : x;
}

function readString(env: object, key: string): string | undefined {
  const v: unknown = (env as Record<string, unknown>)[key];
  return typeof v === "string" && v.trim() !== "" ? v.trim() : undefined;
}

/** Everything that could reveal a connection string, longest first. */
function secretsOf(urls: readonly string[]): string[] {
  const out = new Set<string>();
  for (const url of urls) {
    out.add(url);
    try {
      const u = new URL(url);
      if (u.password) {
        out.add(u.password);
        out.add(decodeURIComponent(u.password));
      }
      // where the database lives is part of the secret too (a refused connection names host and port)
      if (u.hostname) out.add(u.hostname);
    } catch {
      // not a URL: the whole string is the secret
    }
  }
  return [...out].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
}

/** A `[[hyperdrive]]` binding's connection string (the binding named HYPERDRIVE), when the deployment has one. */
function hyperdriveUrl(env: object): string | undefined {
  const binding: unknown = (env as Record<string, unknown>).HYPERDRIVE;
  const url =
    typeof binding === "object" && binding !== null
      ? (binding as { connectionString?: unknown }).connectionString
      : undefined;
  return typeof url === "string" && url !== "" ? url : undefined;
}

export interface DatabaseUrls {
  /** which database URL serves a target; a WorkflowError (21000) when none is configured */
  urlFor(target: SqlTarget): { url: string; hyperdrive: boolean };
  /** every configured URL (for scrubbing) */
  all: string[];
}

/** DATABASE_URLS per dbId[:env], else the HYPERDRIVE binding's connection string, else DATABASE_URL. */
export function databaseUrls(env: object): DatabaseUrls {
  const hyperdrive = hyperdriveUrl(env);
  const single = hyperdrive ?? readString(env, "DATABASE_URL");
  const mapText = readString(env, "DATABASE_URLS");
  let byDb: Record<string, string> = {};
  let mapError: string | undefined;
  if (mapText) {
    try {
      const parsed: unknown = JSON.parse(mapText);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
      for (const [k, v] of Object.entries(parsed)) if (typeof v === "string" && v) byDb[k] = v;
    } catch {
      byDb = {};
      mapError = "DATABASE_URLS is not a JSON object of connection strings";
    }
  }
  return {
    all: [...(single ? [single] : []), ...Object.values(byDb)],
    urlFor(target) {
      const mapped = byDb[`${target.dbId}:${target.env}`] ?? byDb[target.dbId];
      if (mapped) return { url: mapped, hyperdrive: false };
      if (single) return { url: single, hyperdrive: single === hyperdrive };
      throw WorkflowError.of(
        Codes.PG_SQL_REQUEST_ERROR,
        mapError ?? `no database is configured for dbId ${target.dbId} (set DATABASE_URL or DATABASE_URLS)`,
      );
    },
  };
}

export function createSqlPort(env: object, options: SqlPortOptions = {}): ClosableSqlPort {
  const urls = databaseUrls(env);
  const secrets = secretsOf(urls.all);
  const scrub = (text: string): string => secrets.reduce((t, s) => t.split(s).join("***"), text);
  const pools = new Map<string, Client>();

  const urlFor = (target: SqlTarget): string => urls.urlFor(target).url;

  const clientFor = (url: string): Client => {
    let client = pools.get(url);
    if (!client) {
      // `socket` is an option of the driver that its type declarations omit
      const socket = options.socket ? { socket: options.socket } : {};
      client = postgres(url, {
        ...socket,
        max: options.maxConnections ?? DEFAULT_POOL_MAX,
        idle_timeout: options.idleTimeoutSec ?? DEFAULT_POOL_IDLE_SEC,
        connect_timeout: options.connectTimeoutSec ?? 10,
        max_lifetime: 30 * 60,
        onnotice: () => undefined,
        transform: { undefined: null },
        types: TYPES,
        connection: { application_name: "astron-edge-workflow" },
      });
      pools.set(url, client);
    }
    return client;
  };

  const failure = (e: unknown, limits: SqlLimits, timedOut: boolean): WorkflowError => {
    if (e instanceof WorkflowError) return new WorkflowError(e.code, scrub(e.message));
    const code = typeof e === "object" && e !== null ? (e as { code?: unknown }).code : undefined;
    // 57014 query_canceled: the server's statement_timeout, or our cancel at the client-side bound
    if (timedOut || (code === "57014" && !limits.signal.aborted)) {
      return WorkflowError.of(
        Codes.PG_SQL_NODE_EXECUTION_ERROR,
        `query exceeded the time limit of ${limits.timeoutMs} ms`,
      );
    }
    const text = e instanceof Error ? e.message : String(e);
    return WorkflowError.of(Codes.PG_SQL_REQUEST_ERROR, scrub(typeof code === "string" ? `${code}: ${text}` : text));
  };

  return {
    async query(target, text, params, limits) {
      if (limits.signal.aborted) throw limits.signal.reason;
      const client = clientFor(urlFor(target));
      const maxRows = Math.max(1, Math.floor(limits.maxRows));
      const timeoutMs = Math.max(1, Math.floor(limits.timeoutMs));
      let current: { cancel(): void } | undefined;
      let timedOut = false;
      // set once the caller has its answer (timeout, abort): a connection the pool hands over later must not run the
      // statement (a cancelled run's INSERT would land long after the run failed)
      let gaveUp = false;
      let stop: ((e: unknown) => void) | undefined;
      const stopped = new Promise<never>((_, reject) => (stop = reject));
      stopped.catch(() => undefined);
      const onAbort = (): void => {
        gaveUp = true;
        current?.cancel();
        stop?.(limits.signal.reason);
      };
      limits.signal.addEventListener("abort", onAbort, { once: true });
      const timer = setTimeout(() => {
        timedOut = true;
        gaveUp = true;
        current?.cancel();
        stop?.(new Error("timeout"));
      }, timeoutMs + CLIENT_GRACE_MS);
      // One reserved connection, two statements written back to back (one round trip on a warm connection): the
      // settings, then the statement. They are session settings, not transaction-local ones, but every statement
      // of this port sets all of them first, so nothing of one run is seen by the next.
      const work = (async (): Promise<{ rows: Row[]; truncated: boolean }> => {
        const conn = await client.reserve();
        try {
          if (gaveUp) return { rows: [], truncated: false };
          const settings = conn.unsafe(SETTINGS, [
            String(timeoutMs),
            target.uid,
            target.appId,
            target.env,
            target.spaceId ?? "",
          ]);
          settings.execute();
          const q = conn.unsafe(text, params as unknown[] as postgres.ParameterOrJSON<never>[]);
          current = q;
          const rows: Row[] = [];
          let truncated = false;
          const reading = (async (): Promise<void> => {
            for await (const batch of q.cursor(maxRows + 1)) {
              for (const row of batch) rows.push({ ...(row as Row) });
              if (rows.length > maxRows) {
                truncated = true;
                rows.length = maxRows;
                break;
              }
            }
          })();
          reading.catch(() => undefined);
          await settings;
          await reading;
          // leaving the cursor early returns before the server has finished the statement (its Sync, and so the
          // commit of a write whose returned rows were cut): a statement behind it on the same connection answers
          // only after that, so the write is visible to everyone when the node answers
          if (truncated) await conn.unsafe("select 1");
          return { rows, truncated };
        } finally {
          conn.release();
        }
      })();
      work.catch(() => undefined);
      try {
        const result = (await Promise.race([work, stopped])) as { rows: Row[]; truncated: boolean };
        return result;
      } catch (e) {
        if (limits.signal.aborted && !timedOut) throw limits.signal.reason;
        throw failure(e, limits, timedOut);
      } finally {
        clearTimeout(timer);
        limits.signal.removeEventListener("abort", onAbort);
      }
    },
    async close() {
      const all = [...pools.values()];
      pools.clear();
      await Promise.all(all.map((c) => c.end({ timeout: 1 })));
    },
  };
}
