// The runs API (issue 6, first part): status, events with Last-Event-ID replay, cancel, list per flow — scoped
// to the caller's app.
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { SseParser } from "../../src/engine/sse.ts";
import type { Frame } from "../../src/engine/types.ts";
import { questionFlow } from "../support/dsl-builder.ts";
import { loadFixture } from "../support/fixtures.ts";
import { seedApps } from "../support/seed.ts";

const APP = { "X-Consumer-Username": "d1590f30", "Content-Type": "application/json" };
const OTHER = { "X-Consumer-Username": "other01" };
let flowId = "";

beforeAll(async () => {
  await seedApps();
  const add = await SELF.fetch("http://astron.test/workflow/v1/protocol/add", {
    method: "POST",
    headers: APP,
    body: JSON.stringify({
      app_id: "d1590f30",
      name: "r",
      description: "",
      data: loadFixture("example-core-if-else-branch.json"),
    }),
  });
  flowId = ((await add.json()) as { data: { flow_id: string } }).data.flow_id;
});

async function runOnce(score: number): Promise<{ runId: string; frames: Frame[] }> {
  const res = await SELF.fetch("http://astron.test/workflow/v1/debug/chat/completions", {
    method: "POST",
    headers: APP,
    body: JSON.stringify({ flow_id: flowId, parameters: { AGENT_USER_INPUT: "r", score } }),
  });
  const runId = res.headers.get("x-run-id") ?? "";
  const frames = new SseParser().push(`${await res.text()}\n\n`).map((e) => JSON.parse(e.data) as Frame);
  return { runId, frames };
}

describe("runs API", () => {
  it("reports a finished run: status, inputs, outputs, per-node timings, codes and usage", async () => {
    const { runId } = await runOnce(70);
    expect(runId).toMatch(/^\d+$/);
    const res = await SELF.fetch(`http://astron.test/runs/${runId}`, { headers: APP });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown> & {
      nodes: Record<string, { code?: number; startedAt: number; endedAt: number }>;
    };
    expect(body).toMatchObject({
      id: runId,
      flowId,
      status: "completed",
      mode: "debug",
      inputs: { AGENT_USER_INPUT: "r", score: 70 },
      outputs: { joined: "" },
      error: null,
    });
    expect(body.nodes["if-else::22222222-2222-4222-8222-222222222222"]).toMatchObject({ code: 0 });
    expect(Object.keys(body.nodes)).not.toContain("text-joiner::44444444-4444-4444-8444-444444444444");
  });

  it("replays events with ids, from Last-Event-ID on, exactly once", async () => {
    const { runId, frames } = await runOnce(10);
    const all = await SELF.fetch(`http://astron.test/runs/${runId}/events`, { headers: APP });
    expect(all.headers.get("content-type")).toContain("text/event-stream");
    const events = new SseParser().push(`${await all.text()}\n\n`);
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => String(i + 1)));
    expect(events.map((e) => (JSON.parse(e.data) as Frame).workflow_step?.node?.id)).toEqual(
      frames.map((f) => f.workflow_step?.node?.id),
    );
    const tail = await SELF.fetch(`http://astron.test/runs/${runId}/events`, {
      headers: { ...APP, "Last-Event-ID": "4" },
    });
    const rest = new SseParser().push(`${await tail.text()}\n\n`);
    expect(rest.map((e) => e.id)).toEqual(events.slice(4).map((e) => e.id));
  });

  it("hides another app's run (404), refuses a caller without an app (401), and cannot cancel a finished run (409)", async () => {
    const { runId } = await runOnce(5);
    expect((await SELF.fetch(`http://astron.test/runs/${runId}`, { headers: OTHER })).status).toBe(404);
    expect((await SELF.fetch(`http://astron.test/runs/${runId}`)).status).toBe(401);
    expect((await SELF.fetch("http://astron.test/runs/nope", { headers: APP })).status).toBe(404);
    const cancel = await SELF.fetch(`http://astron.test/runs/${runId}/cancel`, { method: "POST", headers: APP });
    expect(cancel.status).toBe(409);
    expect(await cancel.json()).toMatchObject({ id: runId, cancelled: false });
  });

  it("lists a flow's runs newest first, one page at a time, for the caller's app only", async () => {
    for (const score of [1, 2, 3]) await runOnce(score);
    let body: { runs: { id: string; status: string }[]; next: string | null } = { runs: [], next: null };
    for (let i = 0; i < 50; i++) {
      body = (await (
        await SELF.fetch(`http://astron.test/flows/${flowId}/runs?limit=2`, { headers: APP })
      ).json()) as typeof body;
      if (body.next) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(body.runs).toHaveLength(2);
    expect(body.next).toMatch(/^\?limit=2&before=\d+$/);
    const page2 = (await (
      await SELF.fetch(`http://astron.test/flows/${flowId}/runs${body.next}`, { headers: APP })
    ).json()) as typeof body;
    expect(page2.runs.length).toBeGreaterThan(0);
    expect(page2.runs.map((r) => r.id)).not.toContain(body.runs[0]?.id);
    const other = (await (
      await SELF.fetch(`http://astron.test/flows/${flowId}/runs`, { headers: OTHER })
    ).json()) as typeof body;
    expect(other.runs).toEqual([]);
  });

  it("ends a cancelled run with its 22301 end frame in the stored events", async () => {
    const add = await SELF.fetch("http://astron.test/workflow/v1/protocol/add", {
      method: "POST",
      headers: APP,
      body: JSON.stringify({ app_id: "d1590f30", name: "asks", description: "", data: questionFlow() }),
    });
    const qFlow = ((await add.json()) as { data: { flow_id: string } }).data.flow_id;
    const res = await SELF.fetch("http://astron.test/workflow/v1/debug/chat/completions", {
      method: "POST",
      headers: APP,
      body: JSON.stringify({ flow_id: qFlow, stream: true, parameters: { AGENT_USER_INPUT: "go" } }),
    });
    const runId = res.headers.get("x-run-id") ?? "";
    await res.text(); // the question: the run waits for an answer
    const cancel = await SELF.fetch(`http://astron.test/runs/${runId}/cancel`, { method: "POST", headers: APP });
    expect(await cancel.json()).toMatchObject({ id: runId, cancelled: true });
    const replay = await SELF.fetch(`http://astron.test/runs/${runId}/events`, { headers: APP });
    const stored = new SseParser().push(`${await replay.text()}\n\n`).map((e) => JSON.parse(e.data) as Frame);
    // the question's frames, then the cancel's end frame (before the fix the log just stopped at the question)
    expect(stored.length).toBeGreaterThan(1);
    const last = stored.at(-1);
    expect(last?.code).toBe(22301);
    expect(last?.message).toContain("run cancelled");
    expect(last?.choices[0]?.finish_reason).toBe("stop");
    const summary = (await (await SELF.fetch(`http://astron.test/runs/${runId}`, { headers: APP })).json()) as {
      status: string;
    };
    expect(summary.status).toBe("cancelled");
  });
});
