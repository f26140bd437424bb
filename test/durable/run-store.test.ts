// The run store's deferred start (issue 5 speed work): a non-streaming run's row waits for the run's end, its first
// I/O or the next turn — and in every case storage ends up holding the whole run, its log in order, nothing lost.
// Layout 2 (issue 15): a run that ends in its first turn is one row with its frames and log inline and no plan; the
// frame and log tables appear with the first write before an end; a layout 1 database is moved over when opened.
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { compile } from "../../src/engine/compile.ts";
import type { Frame } from "../../src/engine/types.ts";
import type { RunObject } from "../../src/durable/run-object.ts";
import { RunStore, type RunRequest } from "../../src/durable/run-store.ts";
import { registry } from "../../src/plugins/index.ts";
import { loadFixture } from "../support/fixtures.ts";

const ns = (env as unknown as { RUN: DurableObjectNamespace<RunObject> }).RUN;
const plan = compile(loadFixture("example-core-if-else-branch.json"), registry);
let n = 0;

function request(): RunRequest {
  const eventId = `store-${Date.now()}-${n++}`;
  return {
    eventId,
    sid: `sp-${eventId}`,
    flowId: "1",
    appId: "app1",
    uid: "",
    chatId: "",
    mode: "open",
    stream: false,
    parameters: { AGENT_USER_INPUT: "x", score: 80 },
    history: [],
    deadlineMs: 60_000,
    config: {},
  };
}

/** A frame as the engine would send it (only its shape matters to the store). */
function frame(created: number, message = "Success"): Frame {
  return { code: 0, message, id: "s", created, choices: [] };
}

/** Ends the run: completed, empty outputs, no usage. */
function complete(store: RunStore, at: number): void {
  store.finish(
    "completed",
    { code: 0, message: "Success" },
    {},
    { completion_tokens: 0, prompt_tokens: 0, total_tokens: 0 },
    at,
  );
}

/** A new run object's store holding a run created at 1000 (deferred unless told otherwise), handed to `body`. */
async function inNewRun(
  body: (store: RunStore, state: DurableObjectState, req: RunRequest) => void,
  options: { defer?: boolean } = { defer: true },
): Promise<void> {
  const req = request();
  await runInDurableObject(ns.get(ns.idFromName(req.eventId)), async (_o, state) => {
    const store = new RunStore(state.storage);
    store.create(req, JSON.stringify(plan), 1000, options);
    body(store, state, req);
  });
}

/** The storage with every SQL statement it is given recorded (its first four words). */
function counting(storage: DurableObjectStorage): { storage: DurableObjectStorage; statements: string[] } {
  const statements: string[] = [];
  const sql = new Proxy(storage.sql, {
    get(target, key) {
      if (key === "exec")
        return (query: string, ...bindings: unknown[]) => {
          statements.push(query.trim().split(/\s+/).slice(0, 4).join(" "));
          return target.exec(query, ...bindings);
        };
      const value: unknown = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const wrapped = new Proxy(storage, {
    get(target, key) {
      if (key === "sql") return sql;
      const value: unknown = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { storage: wrapped, statements };
}

function rows(state: DurableObjectState, sql: string): Record<string, SqlStorageValue>[] {
  return state.storage.sql.exec(sql).toArray();
}

describe("RunStore", () => {
  it("writes nothing for a deferred start until flushed, then the running row and its start entry", async () => {
    const req = request();
    await runInDurableObject(ns.get(ns.idFromName(`${req.eventId}-a`)), async (_o, state) => {
      const store = new RunStore(state.storage);
      expect(store.create(req, JSON.stringify(plan), 1000, { defer: true })).toBe(true);
      expect(rows(state, "SELECT * FROM run")).toHaveLength(0);
      // the store answers from memory meanwhile, and a read writes the row first
      expect(store.status()).toBe("running");
      expect(store.get()).toMatchObject({ status: "running", request: { eventId: req.eventId }, createdAt: 1000 });
      expect(rows(state, "SELECT status FROM run")).toEqual([{ status: "running" }]);
      expect(rows(state, "SELECT kind FROM run_log ORDER BY id")).toEqual([{ kind: "start" }]);
    });
  });

  it("writes a run that ends before any flush as one finished row, with its frames and its log in order", async () => {
    await inNewRun((store, state, req) => {
      store.appendFrame(frame(1), 1001);
      store.appendFrame(frame(1), 1002);
      store.finish(
        "completed",
        { code: 0, message: "Success" },
        { out: "y" },
        { completion_tokens: 0, prompt_tokens: 0, total_tokens: 0 },
        1003,
      );
      expect(rows(state, "SELECT status, created_at, updated_at, state, plan FROM run")).toEqual([
        { status: "completed", created_at: 1000, updated_at: 1003, state: null, plan: null },
      ]);
      // one table in the file: frames and log are in the row
      expect(rows(state, "SELECT name FROM sqlite_master WHERE name LIKE 'run%' ORDER BY name")).toEqual([
        { name: "run" },
      ]);
      expect(store.framesAfter(0).map((f) => f.seq)).toEqual([1, 2]);
      expect(store.logEntries().map((e) => e.kind)).toEqual(["start", "completed"]);
      // what a fresh instance reads back is the same run
      expect(new RunStore(state.storage).get()).toMatchObject({
        status: "completed",
        outputs: { out: "y" },
        request: { eventId: req.eventId },
        plan: null,
      });
      const fresh = new RunStore(state.storage);
      expect(fresh.framesAfter(1)).toEqual([{ seq: 2, frame: frame(1) }]);
      expect(fresh.lastSeq()).toBe(2);
      expect(fresh.logEntries()).toEqual([
        { kind: "start", node: null, data: { flowId: "1", mode: "open" }, at: 1000 },
        { kind: "completed", node: null, data: { code: 0, message: "Success" }, at: 1003 },
      ]);
    });
  });

  it("knows a new object holds no run without reading, and an old one does", async () => {
    const req = request();
    const stub = ns.get(ns.idFromName(`${req.eventId}-c`));
    await runInDurableObject(stub, async (_o, state) => {
      // a new object's whole first-turn run: list the tables, create the run table, one insert — no read of a run row
      const { storage, statements } = counting(state.storage);
      const store = new RunStore(storage);
      expect(store.create(req, JSON.stringify(plan), 1000, { defer: true })).toBe(true);
      expect(store.create(req, JSON.stringify(plan), 1001)).toBe(false);
      complete(store, 1002);
      expect(statements).toEqual(["SELECT name FROM sqlite_master", "CREATE TABLE IF NOT", "INSERT INTO run (id,"]);
    });
    await runInDurableObject(stub, async (_o, state) => {
      // a second store on the same database (an instance after an eviction): the schema is there, so it asks
      expect(new RunStore(state.storage).create(req, JSON.stringify(plan), 1002, { defer: true })).toBe(false);
      expect(rows(state, "SELECT created_at, status FROM run")).toEqual([{ created_at: 1000, status: "completed" }]);
    });
  });

  it("keeps the plan, and uses the frame and log tables, for a run that writes before it ends", async () => {
    await inNewRun(
      (store, state) => {
        store.appendFrame(frame(1), 1001);
        store.saveState({ nodes: {} } as never, "node-start::1", 1002);
        store.appendFrame(frame(2), 1003);
        complete(store, 1004);
        expect(rows(state, "SELECT frames, log, plan IS NOT NULL AS kept FROM run")).toEqual([
          { frames: null, log: null, kept: 1 },
        ]);
        expect(rows(state, "SELECT seq FROM run_frames ORDER BY seq")).toEqual([{ seq: 1 }, { seq: 2 }]);
        expect(rows(state, "SELECT kind FROM run_log ORDER BY id")).toEqual([
          { kind: "start" },
          { kind: "boundary" },
          { kind: "completed" },
        ]);
        expect(new RunStore(state.storage).get()?.plan).toMatchObject({ nodes: plan.nodes.map((x) => ({ id: x.id })) });
      },
      { defer: false },
    );
  });

  it("puts a first-turn run's frames into the table when they are too large for its row", async () => {
    await inNewRun((store, state) => {
      const big = "x".repeat(100_000);
      for (let i = 0; i < 3; i++) store.appendFrame(frame(1, big), 1001);
      complete(store, 1002);
      expect(rows(state, "SELECT frames FROM run")).toEqual([{ frames: null }]);
      expect(rows(state, "SELECT COUNT(*) AS n FROM run_frames")).toEqual([{ n: 3 }]);
      const fresh = new RunStore(state.storage);
      expect(fresh.frameBytes()).toBe(3 * JSON.stringify(frame(1, big)).length);
      expect(fresh.framesAfter(0, 2).map((f) => f.seq)).toEqual([1, 2]);
    });
  });

  it("adds later log entries of an inline run (a webhook callback) to the log table, after the inline ones", async () => {
    await inNewRun((store, state) => {
      store.appendFrame(frame(1), 1001);
      complete(store, 1002);
      const pending = { status: "pending" as const, attempts: 0, nextAt: 2000, msgId: "m", payload: "{}" };
      store.setCallback(pending, null, 1003);
      store.setCallback({ ...pending, status: "delivered", attempts: 1 }, { status: 200, error: null }, 1004);
      const fresh = new RunStore(state.storage);
      expect(fresh.callback()).toMatchObject({ status: "delivered", attempts: 1 });
      expect(fresh.logEntries().map((e) => [e.kind, e.at])).toEqual([
        ["start", 1000],
        ["completed", 1002],
        ["callback", 1004],
      ]);
      expect(fresh.framesAfter(0).map((f) => f.seq)).toEqual([1]);
      expect(fresh.frameBytes()).toBe(JSON.stringify(frame(1)).length);
    });
  });

  it("moves a layout 1 database (meta, run, run_frames, run_log) to layout 2 and reads the run it holds", async () => {
    const req = request();
    await runInDurableObject(ns.get(ns.idFromName(`${req.eventId}-g`)), async (_o, state) => {
      // what the previous store wrote for a finished webhook run with a pending callback
      state.storage.sql.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE run (
          id INTEGER PRIMARY KEY CHECK (id = 1), status TEXT NOT NULL, request TEXT NOT NULL, plan TEXT NOT NULL,
          state TEXT, outcome TEXT, outputs TEXT, usage TEXT, interrupt TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
        CREATE TABLE run_frames (seq INTEGER PRIMARY KEY, frame TEXT NOT NULL, node TEXT, at INTEGER NOT NULL);
        CREATE TABLE run_log (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, node TEXT, data TEXT, at INTEGER NOT NULL);
        INSERT INTO meta (key, value) VALUES ('schema', '1');`);
      state.storage.sql.exec(
        `INSERT INTO run (id, status, request, plan, outcome, outputs, usage, created_at, updated_at) VALUES (1, 'completed', ?, ?, '{"code":0,"message":"Success"}', '{"a":1}', '{}', 1000, 1002)`,
        JSON.stringify(req),
        JSON.stringify(plan),
      );
      state.storage.sql.exec(
        `INSERT INTO run_frames (seq, frame, node, at) VALUES (1, '{"code":0}', 'node-end::1', 1001)`,
      );
      state.storage.sql.exec(
        `INSERT INTO run_log (kind, node, data, at) VALUES ('start', NULL, NULL, 1000), ('completed', NULL, NULL, 1002)`,
      );
      state.storage.sql.exec(`INSERT INTO meta (key, value) VALUES ('callback', '{"status":"pending","attempts":2}')`);
      const store = new RunStore(state.storage);
      expect(rows(state, "SELECT name FROM sqlite_master WHERE name = 'meta'")).toEqual([]);
      expect(store.get()).toMatchObject({ status: "completed", outputs: { a: 1 }, request: { eventId: req.eventId } });
      expect(store.callback()).toEqual({ status: "pending", attempts: 2 });
      expect(store.framesAfter(0)).toEqual([{ seq: 1, frame: { code: 0 } }]);
      expect(store.logEntries().map((e) => e.kind)).toEqual(["start", "completed"]);
      expect(store.nodeTimings()).toEqual({ "node-end::1": { startedAt: 1001, endedAt: 1001 } });
      // and it keeps working: a new callback state lands in the run row
      store.setCallback(
        { status: "failed", attempts: 8, nextAt: 0, msgId: "m", payload: "{}" },
        { status: 500, error: "x" },
        1005,
      );
      expect(new RunStore(state.storage).callback()).toMatchObject({ status: "failed", attempts: 8 });
    });
  });
});
