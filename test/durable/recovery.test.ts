// Recovery without a client (ARCHITECTURE decision 11, issue 13 items 5 and 6): a run in flight keeps a watchdog
// alarm, so after its object is torn down the alarm alone carries it on — an LLM node that had shown nothing is
// asked again, completed nodes are not; and the runs API's event log replays every frame of a run across its
// interrupts and resumes. (The same through a killed and restarted `wrangler dev`: test/node/recovery.test.ts.)
import { abortAllDurableObjects, env, runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { RunObject, RunSummary } from "../../src/durable/run-object.ts";
import { SseParser } from "../../src/engine/sse.ts";
import type { Frame } from "../../src/engine/types.ts";
import { END, flow, questionFlow, START } from "../support/dsl-builder.ts";
import { startLlmEnd } from "../support/llm-flow.ts";
import { seedApps } from "../support/seed.ts";

const ns = (env as unknown as { RUN: DurableObjectNamespace<RunObject> }).RUN;
const url = inject("openaiUrl");
const APP = { "X-Consumer-Username": "d1590f30", "Content-Type": "application/json" };

beforeAll(async () => {
  await seedApps();
});

async function post(path: string, body: unknown): Promise<Response> {
  return SELF.fetch(`http://astron.test${path}`, { method: "POST", headers: APP, body: JSON.stringify(body) });
}

async function addFlow(data: unknown): Promise<string> {
  const res = await post("/workflow/v1/protocol/add", { app_id: "d1590f30", name: "r", description: "", data });
  return ((await res.json()) as { data: { flow_id: string } }).data.flow_id;
}

async function llmCalls(): Promise<number> {
  return ((await (await fetch(`${url}/__requests`)).json()) as unknown[]).length;
}

async function sse(res: Response): Promise<{ id: string; frame: Frame }[]> {
  return new SseParser()
    .push(`${await res.text()}\n\n`)
    .map((e) => ({ id: e.id ?? "", frame: JSON.parse(e.data) as Frame }));
}

describe("a run with no client after its object died", () => {
  it("keeps a watchdog alarm while in flight, and the alarm alone re-runs the LLM node that had shown nothing", async () => {
    const id = await addFlow(startLlmEnd(url, { tokens: ["x", "y"], firstByteDelayMs: 400 }));
    const before = await llmCalls();
    const res = await post("/workflow/v1/debug/chat/completions", {
      flow_id: id,
      parameters: { AGENT_USER_INPUT: "q" },
    });
    const runId = res.headers.get("x-run-id") ?? "";
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    for (let i = 0; i < 300 && (await llmCalls()) === before; i++) await new Promise((r) => setTimeout(r, 5));
    expect(await llmCalls()).toBe(before + 1);
    const live = ns.get(ns.idFromName(runId));
    // the alarm is a heartbeat away, not the 30-minute deadline: a restart is noticed within seconds
    const alarm = await runInDurableObject(live, (_o, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
    expect((alarm as number) - Date.now()).toBeLessThanOrEqual(5000);
    await abortAllDurableObjects();
    await reader.cancel().catch(() => undefined);
    // nobody attaches: only the alarm wakes the object (a stub from before the abort is broken: a new one)
    const stub = ns.get(ns.idFromName(runId));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    let summary: RunSummary | null = null;
    for (let i = 0; i < 200; i++) {
      summary = (await stub.summary("d1590f30")) as RunSummary | null;
      if (summary?.status !== "running") break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(summary).toMatchObject({ status: "completed", code: 0, outputs: { output: "xy" } });
    // the interrupted call and its re-run; the start node (completed before) ended once
    expect((await llmCalls()) - before).toBe(2);
    const frames = await sse(await SELF.fetch(`http://astron.test/runs/${runId}/events`, { headers: APP }));
    expect(
      frames.filter(
        (f) => f.frame.workflow_step?.node?.id === START && f.frame.workflow_step.node.finish_reason === "stop",
      ),
    ).toHaveLength(1);
    expect(frames.map((f) => f.frame.choices[0]?.delta.content ?? "").join("")).toBe("xy");
    // the run ended: its alarm turns into the clean-up, which keeps the run's storage for the retention period
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(((await stub.summary("d1590f30")) as RunSummary | null)?.status).toBe("completed");
  });
});

describe("the runs API's event log", () => {
  it("replays every frame from the first, across the interrupt and after the resume, without Last-Event-ID", async () => {
    const dsl = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("question-answer::q", {
        params: {
          question: "Ship?",
          answerType: "direct",
          timeout: 1,
          needReply: true,
          directAnswer: { handleResponse: false, maxRetryCounts: 2 },
        },
        outputs: [{ name: "query" }, { name: "content" }],
      })
      .node("message::m", {
        params: { template: "got {{a}}", streamOutput: true },
        inputs: [{ name: "a", ref: { node: "question-answer::q", name: "content" } }],
      })
      .node(END, {
        params: { outputMode: 0 },
        inputs: [{ name: "answer", ref: { node: "question-answer::q", name: "content" } }],
      })
      .edge(START, "question-answer::q")
      .edge("question-answer::q", "message::m")
      .edge("message::m", END)
      .build();
    const id = await addFlow(dsl);
    const first = await sse(
      await post("/workflow/v1/debug/chat/completions", { flow_id: id, parameters: { AGENT_USER_INPUT: "v" } }),
    );
    const interrupt = first.at(-1)?.frame as Frame;
    expect(interrupt.choices[0]?.finish_reason).toBe("interrupt");
    const runId = interrupt.event_data?.event_id ?? "";
    const rest = await sse(await post("/workflow/v1/debug/resume", { event_id: runId, content: "yes" }));
    expect(rest.at(-1)?.frame.workflow_step?.node?.id).toBe("flow_obj");

    const all = await sse(await SELF.fetch(`http://astron.test/runs/${runId}/events`, { headers: APP }));
    expect(all.map((f) => f.id)).toEqual(all.map((_, i) => String(i + 1)));
    expect(all).toHaveLength(first.length + rest.length);
    expect(all.some((f) => f.frame.choices[0]?.finish_reason === "interrupt")).toBe(true);
    expect(all.map((f) => f.frame.choices[0]?.delta.content ?? "").join("")).toContain("got yes");
    const end = all.at(-1)?.frame as Frame;
    expect(end.workflow_step?.node?.id).toBe("flow_obj");
    expect(end.choices[0]?.finish_reason).toBe("stop");
    // Last-Event-ID still replays what follows it
    const after = await sse(
      await SELF.fetch(`http://astron.test/runs/${runId}/events`, {
        headers: { ...APP, "Last-Event-ID": String(first.length) },
      }),
    );
    expect(after.map((f) => f.id)).toEqual(all.slice(first.length).map((f) => f.id));
  });

  it("ends the log of a run still waiting for its answer at the interrupt frame", async () => {
    const dsl = questionFlow();
    const id = await addFlow(dsl);
    const first = await sse(
      await post("/workflow/v1/debug/chat/completions", { flow_id: id, parameters: { AGENT_USER_INPUT: "v" } }),
    );
    const runId = first.at(-1)?.frame.event_data?.event_id ?? "";
    const all = await sse(await SELF.fetch(`http://astron.test/runs/${runId}/events`, { headers: APP }));
    expect(all.map((f) => f.id)).toEqual(first.map((_, i) => String(i + 1)));
    expect(all.at(-1)?.frame.choices[0]?.finish_reason).toBe("interrupt");
  });
});
