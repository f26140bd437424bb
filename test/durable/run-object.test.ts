import { abortAllDurableObjects, env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { compile } from "../../src/engine/compile.ts";
import type { Frame } from "../../src/engine/types.ts";
import type { RunObject, RunSummary } from "../../src/durable/run-object.ts";
import type { RunRequest } from "../../src/durable/run-store.ts";
import { registry } from "../../src/plugins/index.ts";
import { readLines, type StoredLine } from "../../src/worker/relay.ts";
import { loadFixture } from "../support/fixtures.ts";
import { startLlmEnd } from "../support/llm-flow.ts";
import { inject } from "vitest";

interface RunEnvForTest {
  RUN: DurableObjectNamespace<RunObject>;
}
const testEnv = env as unknown as RunEnvForTest;

let counter = 0;
function request(parameters: Record<string, unknown>): RunRequest {
  const eventId = `ev-${Date.now()}-${counter++}`;
  return {
    eventId,
    sid: `spf-${eventId}`,
    flowId: "7364501960118599681",
    appId: "app1",
    uid: "u1",
    chatId: "",
    mode: "debug",
    stream: true,
    parameters,
    history: [],
    deadlineMs: 60_000,
    config: {},
  };
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<StoredLine[]> {
  const out: StoredLine[] = [];
  for await (const line of readLines(stream)) out.push(line);
  return out;
}

function isStop(f: Frame): boolean {
  return f.choices[0]?.finish_reason === "stop" && f.workflow_step?.node?.id === "flow_obj";
}

describe("RunObject (one Durable Object per run)", () => {
  const plan = compile(loadFixture("example-core-if-else-branch.json"), registry);

  it("streams numbered frames until the final frame, stores them, and records the outcome", async () => {
    const req = request({ AGENT_USER_INPUT: "hello", score: 10 });
    const stub = testEnv.RUN.get(testEnv.RUN.idFromName(req.eventId));
    const reply = await stub.start({ request: req, plan: JSON.stringify(plan) });
    expect(reply.ok).toBe(true);
    if (!reply.ok) return;
    const lines = await collect(reply.stream);
    expect(lines.map((l) => l.seq)).toEqual(lines.map((_, i) => i + 1));
    expect(isStop((lines.at(-1) as StoredLine).frame)).toBe(true);
    const summary = await stub.summary("app1");
    expect(summary).toMatchObject({
      status: "completed",
      code: 0,
      lastSeq: lines.length,
      outputs: { joined: "FAIL: hello" },
    });
  });

  it("replays stored frames after Last-Event-ID exactly once", async () => {
    const req = request({ AGENT_USER_INPUT: "hi", score: 80 });
    const stub = testEnv.RUN.get(testEnv.RUN.idFromName(req.eventId));
    const reply = await stub.start({ request: req, plan: JSON.stringify(plan) });
    if (!reply.ok) throw new Error("start failed");
    const all = await collect(reply.stream);
    const again = await stub.attach(0, "app1");
    if (!again.ok) throw new Error("attach failed");
    expect((await collect(again.stream)).map((l) => JSON.stringify(l))).toEqual(all.map((l) => JSON.stringify(l)));
    const tail = await stub.attach(3, "app1");
    if (!tail.ok) throw new Error("attach failed");
    expect((await collect(tail.stream)).map((l) => l.seq)).toEqual(all.slice(3).map((l) => l.seq));
  });

  it("refuses a second start, a resume of a run that is not paused, and a cancel of a finished run", async () => {
    const req = request({ AGENT_USER_INPUT: "x", score: 1 });
    const stub = testEnv.RUN.get(testEnv.RUN.idFromName(req.eventId));
    const reply = await stub.start({ request: req, plan: JSON.stringify(plan) });
    if (!reply.ok) throw new Error("start failed");
    await collect(reply.stream);
    const second = await stub.start({ request: req, plan: JSON.stringify(plan) });
    expect(second.ok).toBe(false);
    const resumed = await stub.resume({ eventType: "resume", content: "A" }, "app1");
    expect(resumed).toMatchObject({ ok: false, error: { code: 23900 } });
    expect(await stub.cancel("app1")).toBe(false);
  });

  it("takes the plan as its JSON text, as the worker sends it, runs it, and stores that text while the run can go on", async () => {
    const text = JSON.stringify(plan);
    const req = { ...request({ AGENT_USER_INPUT: "as text", score: 10 }), stream: false, mode: "open" as const };
    const stub = testEnv.RUN.get(testEnv.RUN.idFromName(req.eventId));
    const reply = await stub.startCollect({ request: req, plan: text }, 10_000);
    expect(reply).toMatchObject({ ok: true, frame: { code: 0 } });
    expect(await stub.summary("app1")).toMatchObject({ status: "completed", outputs: { joined: "FAIL: as text" } });
    const planOf = (s: DurableObjectStub<RunObject>) =>
      runInDurableObject(s, (_obj, state) => state.storage.sql.exec("SELECT plan FROM run").one().plan);
    // it ended in the turn that started it: nothing will read its plan again, so none is stored
    expect(await planOf(stub)).toBeNull();
    // a streamed start writes its row before the run ends (a restart continues from it): with the plan's text
    const streamed = request({ AGENT_USER_INPUT: "streamed", score: 10 });
    const other = testEnv.RUN.get(testEnv.RUN.idFromName(streamed.eventId));
    const started = await other.start({ request: streamed, plan: text });
    if (!started.ok) throw new Error(started.error.message);
    await new Response(started.stream).text();
    expect(await planOf(other)).toBe(text);
  });

  it("refuses a second start after the object was evicted, leaving the first run's record as it was", async () => {
    const req = request({ AGENT_USER_INPUT: "first", score: 1 });
    const stub = testEnv.RUN.get(testEnv.RUN.idFromName(req.eventId));
    const first = await stub.startCollect(
      { request: { ...req, stream: false, mode: "open" }, plan: JSON.stringify(plan) },
      10_000,
    );
    expect(first.ok).toBe(true);
    const before = (await stub.summary("app1")) as RunSummary | null;
    await abortAllDurableObjects();
    // a fresh instance knows nothing in memory: the conditional insert is what refuses the second run
    const again = testEnv.RUN.get(testEnv.RUN.idFromName(req.eventId));
    const second = await again.startCollect(
      {
        request: { ...req, parameters: { AGENT_USER_INPUT: "second", score: 99 }, stream: false, mode: "open" },
        plan: JSON.stringify(plan),
      },
      10_000,
    );
    expect(second).toMatchObject({ ok: false, error: { code: 22301 } });
    const streamed = await again.start({
      request: { ...req, parameters: { AGENT_USER_INPUT: "third", score: 99 } },
      plan: JSON.stringify(plan),
    });
    expect(streamed.ok).toBe(false);
    const after = await again.summary("app1");
    expect(after).toMatchObject({
      status: "completed",
      parameters: { AGENT_USER_INPUT: "first", score: 1 },
      lastSeq: before?.lastSeq,
      outputs: before?.outputs,
    });
  });

  it("reports a start-node validation failure as a failed run with 22500 frames", async () => {
    const req = request({ score: 5 });
    const stub = testEnv.RUN.get(testEnv.RUN.idFromName(req.eventId));
    const reply = await stub.start({ request: req, plan: JSON.stringify(plan) });
    if (!reply.ok) throw new Error("start failed");
    const lines = await collect(reply.stream);
    expect((lines.at(-1) as StoredLine).frame.code).toBe(22500);
    expect(await stub.summary("app1")).toMatchObject({ status: "failed", code: 22500 });
  });

  it("deletes a finished run's storage when its retention alarm fires", async () => {
    const req = request({ AGENT_USER_INPUT: "bye", score: 99 });
    const stub = testEnv.RUN.get(testEnv.RUN.idFromName(req.eventId));
    const reply = await stub.start({ request: req, plan: JSON.stringify(plan) });
    if (!reply.ok) throw new Error("start failed");
    await collect(reply.stream);
    expect(await stub.summary("app1")).not.toBeNull();
    // a run with I/O has a deadline alarm (this one needed none: the janitor clears it, test/durable/janitor.test.ts);
    // firing after the end, that alarm only re-arms itself for the retention period
    // (due in a minute, not now: an alarm due now may fire on its own before the test runs it)
    await runInDurableObject(stub, async (_instance, state) => state.storage.setAlarm(Date.now() + 60_000));
    const ended = ((await stub.summary("app1")) as unknown as { updatedAt: number }).updatedAt;
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.summary("app1")).not.toBeNull();
    await runInDurableObject(stub, async (_instance, state) => {
      expect(await state.storage.getAlarm()).toBe(ended + 604_800_000);
      // move the end into the past instead of waiting a week
      state.storage.sql.exec("UPDATE run SET updated_at = 0");
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.summary("app1")).toBeNull();
    await runInDurableObject(stub, async (_instance, state) => {
      // nothing of the run is left: an empty run table, no frame or log tables
      expect(state.storage.sql.exec("SELECT COUNT(*) AS n FROM run").one().n).toBe(0);
      expect(state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name LIKE 'run_%'").toArray()).toEqual([]);
    });
  });

  it("answers a non-streaming start with the 20804 frame after frameTimeoutMs without frames, counted from the newest frame", async () => {
    const url = inject("openaiUrl");
    const open = (p: Record<string, unknown>): RunRequest => ({ ...request(p), mode: "open", stream: false });
    // no byte for 1.5 s against a 200 ms frame timeout: the timeout frame, long before the provider answers
    const silent = compile(startLlmEnd(url, { tokens: ["late"], firstByteDelayMs: 1_500 }), registry);
    const t0 = Date.now();
    const timedOut = await testEnv.RUN.get(testEnv.RUN.idFromName(`${Date.now()}-silent`)).startCollect(
      { request: open({ AGENT_USER_INPUT: "q" }), plan: JSON.stringify(silent) },
      200,
    );
    expect(Date.now() - t0).toBeLessThan(1_200);
    expect(timedOut).toMatchObject({ ok: true, frame: { code: 20804 } });
    // a token every 100 ms for about 800 ms against a 300 ms frame timeout: the wait re-arms after each frame
    const steady = compile(
      startLlmEnd(url, { tokens: ["a", "b", "c", "d", "e", "f", "g", "h"], delayMs: 100 }),
      registry,
    );
    const done = await testEnv.RUN.get(testEnv.RUN.idFromName(`${Date.now()}-steady`)).startCollect(
      { request: open({ AGENT_USER_INPUT: "q" }), plan: JSON.stringify(steady) },
      300,
    );
    expect(done).toMatchObject({ ok: true, frame: { code: 0 } });
  });

  it("ends a run that outlives its deadline by alarm with 20804, never leaving it running", async () => {
    const slow = compile(
      startLlmEnd(inject("openaiUrl"), { tokens: ["a", "b", "c", "d", "e", "f", "g", "h"], delayMs: 400 }),
      registry,
    );
    const req = { ...request({ AGENT_USER_INPUT: "q" }), deadlineMs: 300 };
    const stub = testEnv.RUN.get(testEnv.RUN.idFromName(req.eventId));
    const reply = await stub.start({ request: req, plan: JSON.stringify(slow) });
    expect(reply.ok).toBe(true);
    if (!reply.ok) return;
    const lines = await collect(reply.stream);
    const last = (lines.at(-1) as StoredLine).frame;
    expect(last).toMatchObject({ code: 20804, message: "OpenAPI output timeout(run deadline exceeded)" });
    expect(last.choices[0]?.finish_reason).toBe("stop");
    const summary = await stub.summary("app1");
    expect(summary).toMatchObject({ status: "failed", code: 20804 });
    // the model's answer never completed: the deadline cut it, not the provider
    expect(
      lines.some(
        (l) =>
          l.frame.workflow_step?.node?.id?.startsWith("node-end::") && l.frame.choices[0]?.finish_reason === "stop",
      ),
    ).toBe(false);
  });
});
