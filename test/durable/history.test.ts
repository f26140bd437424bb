// Run history rows (src/durable/history.ts): queued by every finishing run object and written in D1 batches, with
// the object's alarm writing a row D1 did not take (a failed batch).
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { compile } from "../../src/engine/compile.ts";
import type { RunObject } from "../../src/durable/run-object.ts";
import type { RunRequest } from "../../src/durable/run-store.ts";
import { queueHistory, type HistoryRow } from "../../src/durable/history.ts";
import { registry } from "../../src/plugins/index.ts";
import { loadFixture } from "../support/fixtures.ts";

const testEnv = env as unknown as { RUN: DurableObjectNamespace<RunObject>; DB: D1Database };
const plan = compile(loadFixture("example-core-if-else-branch.json"), registry);

function request(flowId: string, i: number): RunRequest {
  const eventId = `hist-${flowId}-${i}`;
  return {
    eventId,
    sid: `spf-${eventId}`,
    flowId,
    appId: "app1",
    uid: "u1",
    chatId: "",
    mode: "open",
    stream: false,
    parameters: { AGENT_USER_INPUT: `r${i}`, score: i },
    history: [],
    deadlineMs: 60_000,
    config: {},
  };
}

async function historyOf(flowId: string): Promise<{ event_id: string; status: string; code: number }[]> {
  const { results } = await testEnv.DB.prepare(
    `SELECT event_id, status, code FROM run_history WHERE flow_id = ? ORDER BY event_id`,
  )
    .bind(flowId)
    .all<{ event_id: string; status: string; code: number }>();
  return results;
}

async function until<T>(probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("timed out");
}

function row(i: number, flowId: string): HistoryRow {
  return {
    eventId: `q-${flowId}-${i}`,
    flowId,
    appId: "a",
    uid: "",
    chatId: "",
    status: "completed",
    code: 0,
    message: "Success",
    startedAt: i,
    endedAt: i,
    usage: "{}",
    mode: "open",
  };
}

/** The real D1, with the rows of each statement counted (one statement per batch, its rows one JSON parameter). */
function counting(): { db: D1Database; sizes: number[] } {
  const sizes: number[] = [];
  const db = {
    prepare: (q: string) => {
      const stmt = testEnv.DB.prepare(q);
      return {
        bind: (rows: string) => {
          sizes.push((JSON.parse(rows) as unknown[]).length);
          return stmt.bind(rows);
        },
      };
    },
  } as unknown as D1Database;
  return { db, sizes };
}

describe("run history", () => {
  it("records every run that finishes at the same time", async () => {
    const flowId = "hist-many";
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const req = request(flowId, i);
        const stub = testEnv.RUN.get(testEnv.RUN.idFromName(req.eventId));
        const r = (await stub.startCollect({ request: req, plan: JSON.stringify(plan) }, 5_000)) as { ok: boolean };
        expect(r.ok).toBe(true);
      }),
    );
    const rows = await until(async () => {
      const found = await historyOf(flowId);
      return found.length === 12 ? found : undefined;
    });
    expect(rows.every((r) => r.status === "completed" && r.code === 0)).toBe(true);
  });

  it("queues rows into batches of at most 200 and resolves each caller when its batch is stored", async () => {
    const flowId = "hist-batch";
    const { db, sizes } = counting();
    const results = await Promise.all(Array.from({ length: 261 }, (_, i) => queueHistory(db, row(i, flowId))));
    expect(results.every((ok) => ok)).toBe(true);
    expect(sizes).toEqual([200, 61]);
    expect(await historyOf(flowId)).toHaveLength(261);
  });

  it("closes a batch early once it holds 256 KiB of row text", async () => {
    const flowId = "hist-chars";
    const { db, sizes } = counting();
    const big = (i: number): HistoryRow => ({ ...row(i, flowId), message: "m".repeat(100_000) });
    const results = await Promise.all(Array.from({ length: 4 }, (_, i) => queueHistory(db, big(i))));
    expect(results.every((ok) => ok)).toBe(true);
    expect(sizes).toEqual([3, 1]);
    const stored = await testEnv.DB.prepare(`SELECT length(message) AS n FROM run_history WHERE flow_id = ?`)
      .bind(flowId)
      .all<{ n: number }>();
    expect(stored.results.map((r) => r.n)).toEqual([100_000, 100_000, 100_000, 100_000]);
  });

  it("stores every column of a row as it was given, with its type", async () => {
    const r: HistoryRow = {
      eventId: "q-types-1",
      flowId: "hist-types",
      appId: "app-1",
      uid: "u-1",
      chatId: "c-1",
      status: "failed",
      code: 22302,
      message: 'node "llm" failed: 超时 \\ [x]',
      startedAt: 1795994942211,
      endedAt: 1795994943000,
      usage: '{"total_tokens":3}',
      mode: "debug",
    };
    expect(await queueHistory(testEnv.DB, r)).toBe(true);
    const stored = await testEnv.DB.prepare(
      `SELECT *, typeof(code) AS tc, typeof(started_at) AS ts, typeof(usage) AS tu FROM run_history WHERE event_id = ?`,
    )
      .bind(r.eventId)
      .first();
    expect(stored).toMatchObject({
      event_id: r.eventId,
      flow_id: r.flowId,
      app_id: r.appId,
      uid: r.uid,
      chat_id: r.chatId,
      status: r.status,
      code: r.code,
      message: r.message,
      started_at: r.startedAt,
      ended_at: r.endedAt,
      usage: r.usage,
      mode: r.mode,
      tc: "integer",
      ts: "integer",
      tu: "text",
    });
  });

  it("lets two hundred objects fill one batch, each waiting only on its own timers", async () => {
    // the two hundredth row closes the batch. When that object itself sent the batch, the object that had opened it was
    // left awaiting another object's I/O: workerd failed it with "Promise will never complete" (and "Cannot perform
    // I/O on behalf of a different Durable Object"), under load about one run in ten
    const flowId = "hist-objects";
    const results = await Promise.allSettled(
      Array.from({ length: 205 }, (_, i) =>
        runInDurableObject(testEnv.RUN.get(testEnv.RUN.idFromName(`hist-objects-${i}`)), async () =>
          queueHistory(testEnv.DB, row(i, flowId)),
        ),
      ),
    );
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : String(r.reason)))).toEqual(
      results.map(() => true),
    );
    expect(await historyOf(flowId)).toHaveLength(205);
  });

  it("resolves false instead of throwing when a batch fails", async () => {
    const broken = {
      prepare: () => ({ bind: () => ({ run: () => Promise.reject(new Error("D1 down")) }) }),
    } as unknown as D1Database;
    expect(await queueHistory(broken, row(1, "hist-broken"))).toBe(false);
  });

  it("a batch that fails leaves an alarm that writes the row once D1 takes it again", async () => {
    const flowId = "hist-lost";
    const req = request(flowId, 1);
    const stub = testEnv.RUN.get(testEnv.RUN.idFromName(req.eventId));
    // D1 refuses the write: the table is away while the run ends
    await testEnv.DB.prepare(`ALTER TABLE run_history RENAME TO run_history_away`).run();
    try {
      await stub.startCollect({ request: req, plan: JSON.stringify(plan) }, 5_000);
      await until(
        async () => (await runInDurableObject(stub, async (_i, state) => state.storage.getAlarm())) ?? undefined,
      );
    } finally {
      await testEnv.DB.prepare(`ALTER TABLE run_history_away RENAME TO run_history`).run();
    }
    expect(await historyOf(flowId)).toEqual([]);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await historyOf(flowId)).toMatchObject([{ event_id: req.eventId, status: "completed", code: 0 }]);
  });
});
