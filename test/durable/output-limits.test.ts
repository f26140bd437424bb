// Per-run output limits (issue 13): a frame over MAX_FRAME_BYTES or a run whose frames pass MAX_RUN_OUTPUT_BYTES
// fails with 24101 before storage can fail, streamed or not, and the run record says so; an output just under the
// limit goes through whole. Defaults: 1 MiB per frame, 8 MiB per run. An end node's end frame carries its answer
// three times (inputs, outputs, content), so a 400 KB answer makes a frame of 1.2 MB.
import { env, runInDurableObject, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { compile } from "../../src/engine/compile.ts";
import { SseParser } from "../../src/engine/sse.ts";
import type { Frame } from "../../src/engine/types.ts";
import type { RunObject } from "../../src/durable/run-object.ts";
import { registry } from "../../src/plugins/index.ts";
import { readLines, type StoredLine } from "../../src/worker/relay.ts";
import { END, flow, START } from "../support/dsl-builder.ts";
import { startLlmEnd } from "../support/llm-flow.ts";
import { seedApps } from "../support/seed.ts";

const APP = { "X-Consumer-Username": "d1590f30", "Content-Type": "application/json" };
const CODE = "ifly-code::c";
const testEnv = env as unknown as { RUN: DurableObjectNamespace<RunObject> };

/** start → code (a string of `n` characters) → end, whose template repeats the string `times` times */
function bigOutputFlow(streamOutput: boolean, times = 1): unknown {
  return flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }, { name: "n", type: "integer" }] })
    .node(CODE, {
      params: { code: "function main({ n }) { return { out: 'x'.repeat(n) }; }", codeLanguage: "javascript" },
      inputs: [{ name: "n", type: "integer", ref: { node: START, name: "n" } }],
      outputs: [{ name: "out" }],
    })
    .node(END, {
      params: { outputMode: 1, template: "{{out}}".repeat(times), streamOutput },
      inputs: [{ name: "out", ref: { node: CODE, name: "out" } }],
    })
    .edge(START, CODE)
    .edge(CODE, END)
    .build();
}

const flows = new Map<string, string>();
async function flowId(streamOutput: boolean, times = 1): Promise<string> {
  const key = `${streamOutput}-${times}`;
  const known = flows.get(key);
  if (known) return known;
  const add = await SELF.fetch("http://astron.test/workflow/v1/protocol/add", {
    method: "POST",
    headers: APP,
    body: JSON.stringify({
      app_id: "d1590f30",
      name: "big",
      description: "",
      data: bigOutputFlow(streamOutput, times),
    }),
  });
  const id = ((await add.json()) as { data: { flow_id: string } }).data.flow_id;
  flows.set(key, id);
  return id;
}

async function chat(n: number, opts: { stream: boolean; times?: number }): Promise<{ runId: string; text: string }> {
  const id = await flowId(opts.stream, opts.times);
  const res = await SELF.fetch("http://astron.test/workflow/v1/debug/chat/completions", {
    method: "POST",
    headers: APP,
    body: JSON.stringify({ flow_id: id, stream: opts.stream, parameters: { AGENT_USER_INPUT: "go", n } }),
  });
  expect(res.status).toBe(200);
  return { runId: res.headers.get("x-run-id") ?? "", text: await res.text() };
}

const framesOf = (text: string): Frame[] => new SseParser().push(`${text}\n\n`).map((e) => JSON.parse(e.data) as Frame);
const contentOf = (f: Frame | undefined): string => f?.choices[0]?.delta.content ?? "";

async function record(runId: string): Promise<{ status: string; error: { code: number; message: string } | null }> {
  const res = await SELF.fetch(`http://astron.test/runs/${runId}`, { headers: APP });
  expect(res.status).toBe(200);
  return (await res.json()) as { status: string; error: { code: number; message: string } | null };
}

beforeAll(async () => {
  await seedApps();
});

describe("per-run output limits", () => {
  it("fails a streamed run with a frame over MAX_FRAME_BYTES with 24101, saying which limit and the size", async () => {
    // the code node's end frame carries the 600 000 characters twice (its outputs and their raw form)
    const { runId, text } = await chat(600_000, { stream: true });
    const frames = framesOf(text);
    const last = frames.at(-1) as Frame;
    expect(last.code).toBe(24101);
    expect(last.message).toMatch(
      /^Run output exceeds its size limit\(a frame of ifly-code::c is 12\d{5} bytes, over MAX_FRAME_BYTES 1048576\)$/,
    );
    // the frame that did not fit never went out, nor anything after the error end
    expect(frames.some((f) => JSON.stringify(f).length > 1_000_000)).toBe(false);
    expect(frames.filter((f) => f.code !== 0)).toHaveLength(1);
    expect(await record(runId)).toMatchObject({ status: "failed", error: { code: 24101, message: last.message } });
  });

  it("answers a non-streamed run over the limit with the error alone, not the output next to it", async () => {
    const { runId, text } = await chat(400_000, { stream: false });
    expect(text.length).toBeLessThan(2000);
    const body = JSON.parse(text) as Frame;
    expect(body).toMatchObject({ code: 24101, message: expect.stringContaining("over MAX_FRAME_BYTES 1048576") });
    expect(contentOf(body)).toBe("");
    expect(await record(runId)).toMatchObject({ status: "failed", error: { code: 24101 } });
  });

  it("fails a run whose frames together pass MAX_RUN_OUTPUT_BYTES, each frame under its own limit", async () => {
    // 30 streamed chunks of 300 KB: every frame fits, the run's 9 MB do not
    const { runId, text } = await chat(300_000, { stream: true, times: 30 });
    const frames = framesOf(text);
    const last = frames.at(-1) as Frame;
    expect(last.code).toBe(24101);
    expect(last.message).toMatch(
      /the run's frames reach \d+ bytes with a frame of node-end::e, over MAX_RUN_OUTPUT_BYTES 8388608\)$/,
    );
    expect(frames.filter((f) => contentOf(f).length === 300_000).length).toBeGreaterThan(20);
    expect(await record(runId)).toMatchObject({ status: "failed", error: { code: 24101 } });
  });

  it("delivers an answer just under the frame limit whole, streamed and not", async () => {
    // 340 000 characters: the end frame is about 1 020 000 bytes, under 1 048 576
    const streamed = await chat(340_000, { stream: true });
    const frames = framesOf(streamed.text);
    expect(frames.at(-1)?.code).toBe(0);
    expect(frames.map(contentOf).join("")).toBe("x".repeat(340_000));
    expect(await record(streamed.runId)).toMatchObject({ status: "completed", error: null });
    const whole = await chat(340_000, { stream: false });
    const body = JSON.parse(whole.text) as Frame;
    expect(body.code).toBe(0);
    expect(contentOf(body)).toBe("x".repeat(340_000));
    expect(await record(whole.runId)).toMatchObject({ status: "completed" });
  });
});

describe("storage failures", () => {
  it("answer a start that storage refuses with a generic coded error, without the storage's text", async () => {
    // a request row over SQLite's string limit (2 MB on the edge, about 8.5 MB in local workerd): a streamed start
    // writes it at once and fails; a non-streamed one writes it at the end and fails first on its start node's frame
    const id = await flowId(true);
    const answers: Record<string, unknown>[] = [];
    for (const stream of [true, false]) {
      const res = await SELF.fetch("http://astron.test/workflow/v1/debug/chat/completions", {
        method: "POST",
        headers: APP,
        body: JSON.stringify({ flow_id: id, stream, parameters: { AGENT_USER_INPUT: "y".repeat(9 << 20), n: 1 } }),
      });
      const text = await res.text();
      expect(text.length).toBeLessThan(2000);
      expect(text).not.toMatch(/SQLITE|too big/i);
      answers.push(JSON.parse(text) as Record<string, unknown>);
    }
    expect(answers[0]).toMatchObject({ code: 20805, message: "OpenAPI output error" });
    expect(answers[1]).toMatchObject({
      code: 24101,
      message: expect.stringContaining("a frame of node-start::s is 9437"),
    });
  });

  it("end the run with a coded, generic message: the storage's own text never reaches the client", async () => {
    const eventId = `ev-storage-${Date.now()}`;
    const plan = compile(startLlmEnd(inject("openaiUrl"), { tokens: ["a", "b", "c"], delayMs: 80 }), registry);
    const request = {
      eventId,
      sid: `spf-${eventId}`,
      flowId: "1",
      appId: "d1590f30",
      uid: "u",
      chatId: "",
      mode: "debug" as const,
      stream: true,
      parameters: { AGENT_USER_INPUT: "hi" },
      history: [],
      deadlineMs: 60_000,
      config: {},
    };
    const stub = testEnv.RUN.get(testEnv.RUN.idFromName(eventId));
    const reply = await stub.start({ request, plan: JSON.stringify(plan) });
    if (!reply.ok) throw new Error(reply.error.message);
    const lines = readLines(reply.stream);
    const seen: StoredLine[] = [];
    for (let r = await lines.next(); !r.done; r = await lines.next()) {
      seen.push(r.value);
      // the LLM is waiting for its tokens: take the frame table away under the run (a real SQLite error follows)
      if (r.value.frame.workflow_step?.node?.id === "spark-llm::l") break;
    }
    await runInDurableObject(stub, (_obj, state) => state.storage.sql.exec("DROP TABLE run_frames"));
    for await (const line of lines) seen.push(line);
    const last = (seen.at(-1) as StoredLine).frame;
    expect(last).toMatchObject({ code: 22301, message: "Workflow engine run failed(run storage failed)" });
    expect(JSON.stringify(seen)).not.toMatch(/SQLITE|no such table/i);
    const row = await runInDurableObject(stub, (_obj, state) =>
      state.storage.sql.exec("SELECT status, outcome FROM run").one(),
    );
    expect(row).toEqual({
      status: "failed",
      outcome: JSON.stringify({ code: 22301, message: "Workflow engine run failed(run storage failed)" }),
    });
    // the runs API reads the frame table too: its failure reaches the caller as a code, not as the storage's text
    const res = await SELF.fetch(`http://astron.test/runs/${eventId}`, { headers: APP });
    const text = await res.text();
    expect(text).not.toMatch(/SQLITE|no such table/i);
    expect(JSON.parse(text)).toMatchObject({ code: 20805, message: "OpenAPI output error" });
  });
});
