// The run store's deferred start (issue 5 speed work): a non-streaming run's row waits for the run's end, its first
// I/O or the next turn — and in every case storage ends up holding the whole run, its log in order, nothing lost.
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { compile } from "../../src/engine/compile.ts";
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
    const req = request();
    await runInDurableObject(ns.get(ns.idFromName(`${req.eventId}-b`)), async (_o, state) => {
      const store = new RunStore(state.storage);
      store.create(req, JSON.stringify(plan), 1000, { defer: true });
      store.appendFrame({ code: 0, message: "Success", id: "s", created: 1, choices: [] }, 1001);
      store.appendFrame({ code: 0, message: "Success", id: "s", created: 1, choices: [] }, 1002);
      store.finish(
        "completed",
        { code: 0, message: "Success" },
        { out: "y" },
        { completion_tokens: 0, prompt_tokens: 0, total_tokens: 0 },
        1003,
      );
      expect(rows(state, "SELECT status, created_at, updated_at, state FROM run")).toEqual([
        { status: "completed", created_at: 1000, updated_at: 1003, state: null },
      ]);
      expect(rows(state, "SELECT seq FROM run_frames ORDER BY seq")).toEqual([{ seq: 1 }, { seq: 2 }]);
      expect(rows(state, "SELECT kind FROM run_log ORDER BY id")).toEqual([{ kind: "start" }, { kind: "completed" }]);
      // what a fresh instance reads back is the same run
      expect(new RunStore(state.storage).get()).toMatchObject({
        status: "completed",
        outputs: { out: "y" },
        request: { eventId: req.eventId },
        plan: { nodes: plan.nodes.map((x) => ({ id: x.id })) },
      });
    });
  });

  it("knows a new object holds no run without reading, and an old one does", async () => {
    const req = request();
    const stub = ns.get(ns.idFromName(`${req.eventId}-c`));
    await runInDurableObject(stub, async (_o, state) => {
      const store = new RunStore(state.storage);
      expect(store.create(req, JSON.stringify(plan), 1000)).toBe(true);
      expect(store.create(req, JSON.stringify(plan), 1001)).toBe(false);
    });
    await runInDurableObject(stub, async (_o, state) => {
      // a second store on the same database (an instance after an eviction): the schema is there, so it asks
      expect(new RunStore(state.storage).create(req, JSON.stringify(plan), 1002, { defer: true })).toBe(false);
      expect(rows(state, "SELECT created_at FROM run")).toEqual([{ created_at: 1000 }]);
    });
  });
});
