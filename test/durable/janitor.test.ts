// The retention clean-up (src/worker/janitor.ts, cron): runs that ended in the turn that started them set no
// alarm; the janitor finds them through their history rows once the retention period is over and purges them.
import {
  createExecutionContext,
  createScheduledController,
  env,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { compile } from "../../src/engine/compile.ts";
import type { RunObject } from "../../src/durable/run-object.ts";
import type { RunRequest } from "../../src/durable/run-store.ts";
import { registry } from "../../src/plugins/index.ts";
import worker from "../../src/worker/index.ts";
import type { Env } from "../../src/worker/env.ts";
import { loadFixture } from "../support/fixtures.ts";

const testEnv = env as unknown as Env;
const plan = compile(loadFixture("example-core-if-else-branch.json"), registry);

function request(i: number): RunRequest {
  const eventId = `jan-${Date.now()}-${i}`;
  return {
    eventId,
    sid: `spf-${eventId}`,
    flowId: "jan-flow",
    appId: "app1",
    uid: "",
    chatId: "",
    mode: "open",
    stream: false,
    parameters: { AGENT_USER_INPUT: "j", score: i },
    history: [],
    deadlineMs: 60_000,
    config: {},
  };
}

async function historyRow(eventId: string): Promise<{ purged: number } | null> {
  for (let i = 0; i < 100; i++) {
    const r = await testEnv.DB.prepare(`SELECT purged FROM run_history WHERE event_id = ?`)
      .bind(eventId)
      .first<{ purged: number }>();
    if (r) return r;
    await new Promise((res) => setTimeout(res, 20));
  }
  return null;
}

describe("janitor", () => {
  it("a run that needs no I/O ends without an alarm; after the retention period the cron purges it and marks its row", async () => {
    const req = request(1);
    const stub = testEnv.RUN.get(testEnv.RUN.idFromName(req.eventId));
    await stub.startCollect({ request: req, plan: JSON.stringify(plan) }, 5_000);
    expect(await historyRow(req.eventId)).toEqual({ purged: 0 });
    await new Promise((r) => setTimeout(r, 20));
    await runInDurableObject(stub, async (_i: RunObject, state) => {
      expect(await state.storage.getAlarm()).toBeNull();
    });
    // not yet old enough: kept
    let ctx = createExecutionContext();
    await worker.scheduled(createScheduledController(), testEnv, ctx);
    await waitOnExecutionContext(ctx);
    expect(await stub.summary("app1")).not.toBeNull();
    // a week later
    await testEnv.DB.prepare(`UPDATE run_history SET ended_at = ended_at - 8 * 24 * 3600 * 1000 WHERE event_id = ?`)
      .bind(req.eventId)
      .run();
    ctx = createExecutionContext();
    await worker.scheduled(createScheduledController(), testEnv, ctx);
    await waitOnExecutionContext(ctx);
    expect(await stub.summary("app1")).toBeNull();
    expect(await historyRow(req.eventId)).toEqual({ purged: 1 });
  });

  it("keeps a run that is still running, and a run whose callback is still pending", async () => {
    const req = request(2);
    const stub = testEnv.RUN.get(testEnv.RUN.idFromName(req.eventId));
    await stub.startCollect({ request: req, plan: JSON.stringify(plan) }, 5_000);
    await runInDurableObject(stub, async (_i: RunObject, state) => {
      state.storage.sql.exec(
        `UPDATE run SET callback = ? WHERE id = 1`,
        JSON.stringify({ status: "pending", attempts: 1, nextAt: Date.now() + 60_000, msgId: "m", payload: "{}" }),
      );
    });
    expect(await stub.purge()).toBe(false);
    expect(await stub.summary("app1")).not.toBeNull();
  });
});
