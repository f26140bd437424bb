// Runs that survive their object being torn down mid-run (ARCHITECTURE decision 2): the run continues from storage
// when it is next touched; completed nodes never run twice; a node that was in flight fails with a clear code
// instead of running twice when it has side effects or its tokens may have reached a client; a client reattaching
// with Last-Event-ID gets every frame exactly once. (The watchdog alarm that wakes a run with no client: recovery.test.ts.)
import { abortAllDurableObjects, env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { RunObject, RunSummary } from "../../src/durable/run-object.ts";
import type { Frame } from "../../src/engine/types.ts";
import { END, flow, START } from "../support/dsl-builder.ts";
import { llmNode, startLlmEnd } from "../support/llm-flow.ts";
import { seedApps } from "../support/seed.ts";
import { compile } from "../../src/engine/compile.ts";
import { registry } from "../../src/plugins/index.ts";
import type { RunRequest } from "../../src/durable/run-store.ts";

const ns = (env as unknown as { RUN: DurableObjectNamespace<RunObject> }).RUN;
const url = inject("openaiUrl");
const APP = { "X-Consumer-Username": "d1590f30", "Content-Type": "application/json" };

beforeAll(async () => {
  await seedApps();
});

async function addFlow(data: unknown): Promise<string> {
  const res = await SELF.fetch("http://astron.test/workflow/v1/protocol/add", {
    method: "POST",
    headers: APP,
    body: JSON.stringify({ app_id: "d1590f30", name: "e", description: "", data }),
  });
  return ((await res.json()) as { data: { flow_id: string } }).data.flow_id;
}

async function startStream(
  flowId: string,
): Promise<{ runId: string; reader: ReadableStreamDefaultReader<Uint8Array> }> {
  const res = await SELF.fetch("http://astron.test/workflow/v1/debug/chat/completions", {
    method: "POST",
    headers: APP,
    body: JSON.stringify({ flow_id: flowId, parameters: { AGENT_USER_INPUT: "q" } }),
  });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  await reader.read();
  return { runId: res.headers.get("x-run-id") ?? "", reader };
}

async function settled(runId: string): Promise<RunSummary> {
  const stub = ns.get(ns.idFromName(runId));
  for (let i = 0; i < 200; i++) {
    const s = (await stub.summary("d1590f30")) as RunSummary | null;
    if (s && s.status !== "running") return s;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("run did not settle");
}

async function allFrames(runId: string): Promise<{ seq: number; frame: Frame }[]> {
  const reply = await ns.get(ns.idFromName(runId)).attach(0, "d1590f30");
  if (!reply.ok) throw new Error("attach failed");
  const text = await new Response(reply.stream).text();
  return text
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { seq: number; frame: Frame });
}

async function llmCalls(): Promise<number> {
  return ((await (await fetch(`${url}/__requests`)).json()) as unknown[]).length;
}

describe("runs that survive their object", () => {
  it("holds a non-streaming run in storage by the time its provider sees it, so an eviction there loses nothing", async () => {
    // the non-streaming start defers its run row; the first I/O writes it before the request leaves
    const plan = compile(startLlmEnd(url, { tokens: ["a", "b"], firstByteDelayMs: 300 }), registry);
    const eventId = `evict-collect-${Date.now()}`;
    const request: RunRequest = {
      eventId,
      sid: `sp-${eventId}`,
      flowId: "1",
      appId: "d1590f30",
      uid: "",
      chatId: "",
      mode: "open",
      stream: false,
      parameters: { AGENT_USER_INPUT: "q" },
      history: [],
      deadlineMs: 60_000,
      config: {},
    };
    const before = await llmCalls();
    const answer = ns
      .get(ns.idFromName(eventId))
      .startCollect({ request, plan: JSON.stringify(plan) }, 10_000)
      .catch((e: unknown) => e);
    for (let i = 0; i < 300 && (await llmCalls()) === before; i++) await new Promise((r) => setTimeout(r, 5));
    expect(await llmCalls()).toBe(before + 1);
    await abortAllDurableObjects();
    await answer;
    const again = await ns.get(ns.idFromName(eventId)).attach(0, "d1590f30");
    expect(again.ok).toBe(true);
    const summary = await settled(eventId);
    // no token had reached anyone: the model is asked again (a call without side effects) and the run completes
    expect(summary).toMatchObject({ status: "completed", code: 0, parameters: { AGENT_USER_INPUT: "q" } });
    expect((await llmCalls()) - before).toBe(2);
  });

  it("fails an LLM node whose tokens had reached the client with a clear code instead of calling the provider twice", async () => {
    const id = await addFlow(startLlmEnd(url, { tokens: ["a", "b", "c", "d", "e", "f", "g", "h"], delayMs: 60 }));
    const before = await llmCalls();
    const { runId, reader } = await startStream(id);
    // wait for the first token the client sees (an answer frame of the end node with content)
    const decoder = new TextDecoder();
    let seen = "";
    while (!/"content":"[a-h]/.test(seen)) {
      const r = await reader.read();
      if (r.done) throw new Error("stream ended before a token");
      seen += decoder.decode(r.value, { stream: true });
    }
    await abortAllDurableObjects();
    await reader.cancel().catch(() => undefined);
    // touching the run again (a reattaching client) wakes it from storage
    const again = await ns.get(ns.idFromName(runId)).attach(0, "d1590f30");
    expect(again.ok).toBe(true);
    const summary = await settled(runId);
    expect(summary).toMatchObject({ status: "failed", code: 22302 });
    expect(summary.message).toContain("after its output had reached the client");
    expect((await llmCalls()) - before).toBe(1);
    // the start node completed before the abort and ran once: its end frame is stored once
    const frames = await allFrames(runId);
    const startEnds = frames.filter(
      (f) => f.frame.workflow_step?.node?.id === START && f.frame.workflow_step.node.finish_reason === "stop",
    );
    expect(startEnds).toHaveLength(1);
    expect(frames.map((f) => f.seq)).toEqual(frames.map((_, i) => i + 1));
  });

  it("re-runs an idempotent node that was in flight, without re-running completed ones, and replays every frame once", async () => {
    const dsl = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("decision-making::d", {
        params: {
          ...llmNode(url, { tokens: ['```json {"category_name": "yes"}```'], firstByteDelayMs: 150 }),
          reasonMode: 1,
          intentChains: [
            { id: "intent-one-of::y", name: "yes", description: "y", intentType: 2 },
            { id: "intent-one-of::n", name: "default", description: "n", intentType: 1 },
          ],
        },
        inputs: [{ name: "input", ref: { node: START, name: "AGENT_USER_INPUT" } }],
        outputs: [{ name: "class_name" }],
      })
      .node("message::y", { params: { template: "yes!", streamOutput: true } })
      .node("message::n", { params: { template: "no!", streamOutput: true } })
      .node(END, {
        params: { outputMode: 0 },
        inputs: [{ name: "c", ref: { node: "decision-making::d", name: "class_name" } }],
      })
      .edge(START, "decision-making::d")
      .edge("decision-making::d", "message::y", "intent_chain|intent-one-of::y")
      .edge("decision-making::d", "message::n", "intent_chain|intent-one-of::n")
      .edge("message::y", END)
      .edge("message::n", END)
      .build();
    const id = await addFlow(dsl);
    const before = await llmCalls();
    const { runId, reader } = await startStream(id);
    await new Promise((r) => setTimeout(r, 60));
    await abortAllDurableObjects();
    await reader.cancel().catch(() => undefined);
    const again = await ns.get(ns.idFromName(runId)).attach(0, "d1590f30");
    expect(again.ok).toBe(true);
    const summary = await settled(runId);
    expect(summary).toMatchObject({ status: "completed", outputs: { c: "yes" } });
    expect((await llmCalls()) - before).toBe(2);
    const frames = await allFrames(runId);
    expect(frames.map((f) => f.seq)).toEqual(frames.map((_, i) => i + 1));
    const ids = frames.map(
      (f) => `${f.frame.workflow_step?.node?.id ?? ""}:${f.frame.workflow_step?.node?.finish_reason ?? "open"}`,
    );
    expect(ids.filter((x) => x === `${START}:stop`)).toHaveLength(1);
    expect(ids.filter((x) => x === "decision-making::d:open")).toHaveLength(1);
    expect(ids.filter((x) => x === "decision-making::d:stop")).toHaveLength(1);
    expect(ids.filter((x) => x === "flow_obj:stop")).toHaveLength(2); // the start frame and the end frame
  });
});
