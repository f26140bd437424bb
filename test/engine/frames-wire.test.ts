// Frames on the wire (spec §2.1–2.4, §2.7): the builders reproduce the original's example frames byte for byte
// (numbers aside: JavaScript prints 0 and 1 where Python printed 0.0 and 1.0), the filters, and SSE.
import { describe, expect, it } from "vitest";
import { DebugFilter, isFinalFrame, OpenFilter, timeoutFrame } from "../../src/engine/filter.ts";
import {
  interruptFrame,
  nodeEndFrame,
  nodeProcessFrame,
  nodeStartFrame,
  openErrorEndFrame,
  workflowEndFrame,
  workflowErrorEndFrame,
  workflowStartFrame,
} from "../../src/engine/frames.ts";
import {
  buildEndFrame,
  buildErrorFrame,
  decodeStream,
  frameJson,
  LineSplitter,
  parseSse,
  SseParser,
  sseEncode,
} from "../../src/engine/sse.ts";
import { searchWork } from "../support/search-work.ts";
import type { Frame } from "../../src/engine/types.ts";

/** The spec's example with Python's float spelling folded to JavaScript's. */
const py = (s: string): string => s.replace(/(\d)\.0(?=[,}\]])/g, "$1");
const SID = "spf00a20001@hf19a2b3c4d5e0a1b78802";
const T = 1732406400;

describe("frame builders reproduce spec §2.3 byte for byte", () => {
  it("workflow start", () => {
    expect(frameJson(workflowStartFrame(SID, T))).toBe(
      py(
        `{"code":0,"message":"Success","id":"${SID}","created":1732406400,"workflow_step":{"node":{"id":"flow_obj","alias_name":"","finish_reason":"stop","inputs":{},"outputs":{},"error_outputs":{},"executed_time":0.0,"usage":{"completion_tokens":0,"prompt_tokens":0,"total_tokens":0}},"seq":0,"progress":0.0},"choices":[{"delta":{"role":"assistant","content":"","reasoning_content":""},"index":0}]}`,
      ),
    );
  });

  it("node start, node end, node process (end node, prompt mode)", () => {
    expect(frameJson(nodeStartFrame("…", T, { id: "node-start::d61b…", alias: "Start" }, 0))).toBe(
      py(
        `{"code":0,"message":"Success","id":"…","created":1732406400,"workflow_step":{"node":{"id":"node-start::d61b…","alias_name":"Start","inputs":{},"outputs":{},"error_outputs":{},"executed_time":0.0},"seq":0,"progress":0.0},"choices":[{"delta":{"role":"assistant","content":"","reasoning_content":""},"index":0}]}`,
      ),
    );
    const end = nodeEndFrame("…", T, {
      id: "node-start::d61b…",
      alias: "Start",
      inputs: { AGENT_USER_INPUT: "hi" },
      outputs: {},
      errorOutputs: {},
      ext: {},
      executedTime: 0.001,
      progress: 0,
      content: "",
      reasoning: "",
    });
    expect(frameJson(end)).toBe(
      py(
        `{"code":0,"message":"Success","id":"…","created":1732406400,"workflow_step":{"node":{"id":"node-start::d61b…","alias_name":"Start","finish_reason":"stop","inputs":{"AGENT_USER_INPUT":"hi"},"outputs":{},"error_outputs":{},"ext":{},"executed_time":0.001},"seq":0,"progress":0.0},"choices":[{"delta":{"role":"assistant","content":"","reasoning_content":""}}]}`,
      ),
    );
    expect(
      frameJson(
        nodeProcessFrame("…", T, { id: "node-end::cda6…", alias: "End" }, 0.67, 0.2, "Hel", "", { answer_mode: 1 }),
      ),
    ).toBe(
      `{"code":0,"message":"Success","id":"…","created":1732406400,"workflow_step":{"node":{"id":"node-end::cda6…","alias_name":"End","inputs":{},"outputs":{},"error_outputs":{},"ext":{"answer_mode":1},"executed_time":0.2},"seq":0,"progress":0.67},"choices":[{"delta":{"role":"assistant","content":"Hel","reasoning_content":""},"index":0}]}`,
    );
  });

  it("workflow end, workflow error end, open error end, interrupt", () => {
    expect(frameJson(workflowEndFrame("…", T, { completion_tokens: 5, prompt_tokens: 10, total_tokens: 15 }))).toBe(
      py(
        `{"code":0,"message":"Success","id":"…","created":1732406400,"workflow_step":{"node":{"id":"flow_obj","alias_name":"","finish_reason":"stop","inputs":{},"outputs":{},"error_outputs":{},"executed_time":0.0,"usage":{"completion_tokens":0,"prompt_tokens":0,"total_tokens":0}},"seq":0,"progress":1.0},"choices":[{"delta":{"role":"assistant","content":"","reasoning_content":""},"index":0,"finish_reason":"stop"}],"usage":{"completion_tokens":5,"prompt_tokens":10,"total_tokens":15}}`,
      ),
    );
    expect(frameJson(workflowErrorEndFrame("…", T, { code: 20201, message: "Flow ID not found" }))).toBe(
      py(
        `{"code":20201,"message":"Flow ID not found","id":"…","created":1732406400,"workflow_step":{"seq":0,"progress":1.0},"choices":[{"delta":{"role":"assistant","content":"","reasoning_content":""},"index":0,"finish_reason":"stop"}],"usage":{"completion_tokens":0,"prompt_tokens":0,"total_tokens":0}}`,
      ),
    );
    expect(frameJson(openErrorEndFrame("…", T, { code: 20804, message: "OpenAPI output timeout" }))).toBe(
      `{"code":20804,"message":"OpenAPI output timeout","id":"…","created":1732406400,"choices":[{"delta":{"role":"assistant","content":"","reasoning_content":""},"index":0,"finish_reason":"stop"}],"usage":{"completion_tokens":0,"prompt_tokens":0,"total_tokens":0}}`,
    );
    const interrupt = interruptFrame("…", T, {
      id: "question-answer::1…",
      alias: "QA",
      executedTime: 0.5,
      progress: 0.5,
      eventData: {
        event_id: "7364…",
        event_type: "interrupt",
        need_reply: true,
        value: { type: "option", content: "Pick one", option: [{ id: "A", text: "Yes", content_type: "text" }] },
      },
    });
    expect(frameJson(interrupt)).toBe(
      `{"code":0,"message":"Success","id":"…","created":1732406400,"workflow_step":{"node":{"id":"question-answer::1…","alias_name":"QA","finish_reason":"interrupt","inputs":{},"outputs":{},"error_outputs":{},"executed_time":0.5},"seq":0,"progress":0.5},"choices":[{"delta":{"role":"assistant","content":"","reasoning_content":""},"index":0,"finish_reason":"interrupt"}],"event_data":{"event_id":"7364…","event_type":"interrupt","need_reply":true,"value":{"type":"option","content":"Pick one","option":[{"id":"A","text":"Yes","content_type":"text"}]}}}`,
    );
  });

  it("omits null fields at any depth (exclude none) but keeps array elements", () => {
    expect(frameJson({ a: null, b: { c: null, d: 1 }, e: [null, 2] })).toBe('{"b":{"d":1},"e":[null,2]}');
  });
});

function endNodeFrames(): Frame[] {
  const n = { id: "node-end::e", alias: "End" };
  return [
    workflowStartFrame("s", T),
    nodeStartFrame("s", T, n, 0.67),
    nodeProcessFrame("s", T, n, 0.67, 0, "Hel", "", { answer_mode: 1 }),
    nodeProcessFrame("s", T, n, 0.6, 0, "lo", "", { answer_mode: 1 }),
    nodeEndFrame("s", T, {
      ...n,
      inputs: {},
      outputs: {},
      errorOutputs: {},
      ext: {},
      executedTime: 0,
      progress: 0.67,
      content: "!",
      reasoning: "",
    }),
    nodeStartFrame("s", T, { id: "spark-llm::x", alias: "LLM" }, 0.33),
    workflowEndFrame("s", T, { completion_tokens: 5, prompt_tokens: 10, total_tokens: 15 }),
  ];
}

describe("open and debug filters (spec §2.4, §2.7)", () => {
  it("open stream: only content frames and the stop frame, seq 1..n, progress rounded and never decreasing, no node", () => {
    const f = new OpenFilter({ stream: true });
    const out = endNodeFrames().flatMap((x) => f.push(x));
    expect(out.map((x) => x.choices[0]?.delta.content)).toEqual(["Hel", "lo", "!", ""]);
    expect(out.map((x) => x.workflow_step)).toEqual([
      { seq: 1, progress: 0.67 },
      { seq: 2, progress: 0.67 },
      { seq: 3, progress: 0.67 },
      { seq: 4, progress: 1 },
    ]);
    expect(out.every((x) => x.choices[0]?.index === 0)).toBe(true);
    expect(f.done).toBe(true);
    expect(f.push(workflowStartFrame("s", T))).toEqual([]);
  });

  it("open non-stream: one body with the concatenated answer and no workflow_step", () => {
    const f = new OpenFilter({ stream: false });
    const out = endNodeFrames().flatMap((x) => f.push(x));
    expect(out).toHaveLength(1);
    expect(out[0]?.workflow_step).toBeUndefined();
    expect(out[0]?.choices[0]).toEqual({
      delta: { role: "assistant", content: "Hello!", reasoning_content: "" },
      index: 0,
      finish_reason: "stop",
    });
    expect(out[0]?.usage).toEqual({ completion_tokens: 5, prompt_tokens: 10, total_tokens: 15 });
  });

  it("[new] forwards the workflow error end at once in both open modes, with the real code", () => {
    const err = workflowErrorEndFrame("s", T, { code: 20363, message: "spark" });
    const stream = new OpenFilter({ stream: true });
    stream.push(workflowStartFrame("s", T));
    expect(stream.push(err)).toEqual([
      {
        code: 20363,
        message: "spark",
        id: "s",
        created: T,
        workflow_step: { seq: 1, progress: 1 },
        choices: [
          { delta: { role: "assistant", content: "", reasoning_content: "" }, index: 0, finish_reason: "stop" },
        ],
        usage: { completion_tokens: 0, prompt_tokens: 0, total_tokens: 0 },
      },
    ]);
    const body = new OpenFilter({ stream: false }).push(err)[0] as Frame;
    expect(body.code).toBe(20363);
    expect(body.workflow_step).toBeUndefined();
  });

  it("lets an interrupt through in both open modes", () => {
    const i = interruptFrame("s", T, {
      id: "question-answer::q",
      alias: "Q",
      executedTime: 0,
      progress: 0.5,
      eventData: { event_id: "e", event_type: "interrupt", need_reply: false, value: { type: "direct", content: "?" } },
    });
    expect(new OpenFilter({ stream: true }).push(i)[0]?.event_data?.event_id).toBe("e");
    expect(new OpenFilter({ stream: false }).push(i)[0]?.choices[0]?.finish_reason).toBe("interrupt");
    expect(isFinalFrame(i)).toBe(true);
  });

  it("debug: stream passes every frame unchanged; non-stream answers with the final frame carrying the answer", () => {
    const frames = endNodeFrames();
    const stream = new DebugFilter({ stream: true });
    expect(frames.flatMap((x) => stream.push(x))).toEqual(frames);
    const one = new DebugFilter({ stream: false });
    const out = frames.flatMap((x) => one.push(x));
    expect(out).toHaveLength(1);
    expect(out[0]?.choices[0]?.delta.content).toBe("Hello!");
    expect(out[0]?.workflow_step?.node?.id).toBe("flow_obj");
  });

  it("non-stream answers to a failed run are the error alone, without the answer gathered before it (issue 13)", () => {
    const err = { code: 24101, message: "Run output exceeds its size limit(x)" };
    const answered = endNodeFrames().slice(0, -1);
    const debug = new DebugFilter({ stream: false });
    const d = [...answered, workflowErrorEndFrame("s", T, err)].flatMap((x) => debug.push(x));
    expect(d).toEqual([workflowErrorEndFrame("s", T, err)]);
    const open = new OpenFilter({ stream: false });
    const o = [
      ...answered,
      workflowEndFrame("s", T, { completion_tokens: 0, prompt_tokens: 0, total_tokens: 0 }, err),
    ].flatMap((x) => open.push(x));
    expect(o).toHaveLength(1);
    expect(o[0]).toMatchObject({ code: 24101, choices: [{ delta: { content: "", reasoning_content: "" } }] });
  });

  it("builds the 20804 frame of a silent stream", () => {
    expect(timeoutFrame("s", T)).toMatchObject({ code: 20804, message: "OpenAPI output timeout", id: "s" });
  });
});

describe("SSE (spec §2.1, §1.3)", () => {
  it("encodes one data line per frame and parses it back, across arbitrary chunking", () => {
    const frames = endNodeFrames();
    const text = frames.map(sseEncode).join("");
    expect(
      text
        .split("\n\n")
        .filter(Boolean)
        .every((l) => l.startsWith("data: {") && !l.includes("\n")),
    ).toBe(true);
    const parser = new SseParser();
    const events = [];
    for (let i = 0; i < text.length; i += 7) events.push(...parser.push(text.slice(i, i + 7)));
    expect(events.map((e) => JSON.parse(e.data) as Frame)).toEqual(frames);
    expect(parseSse("id: 3\r\ndata: a\r\ndata: b\r\n\r\n: comment\n\ndata: c\n\n")).toEqual(["a\nb", "c"]);
  });

  it("parses \\r\\n split between chunks as one line end, and a lone \\r as a line end", () => {
    const text = "data: a\r\ndata: b\r\n\r\ndata: c\r\rdata: d\n\n";
    for (let size = 1; size <= 4; size++) {
      const parser = new SseParser();
      const events = [];
      for (let i = 0; i < text.length; i += size) events.push(...parser.push(text.slice(i, i + size)));
      expect(events.map((e) => e.data)).toEqual(["a\nb", "c", "d"]);
    }
  });

  it("examines each character of a multi-megabyte event a bounded number of times, however it is chunked", async () => {
    // 2 MB in 4 KB chunks: searching the whole buffer again per chunk examined about 500 million characters
    const text = sseEncode({ message: "x".repeat(2 << 20) });
    const parser = new SseParser();
    const { result, chars } = await searchWork(() => {
      const events = [];
      for (let i = 0; i < text.length; i += 4096) events.push(...parser.push(text.slice(i, i + 4096)));
      return events;
    });
    expect(result).toHaveLength(1);
    expect((JSON.parse(result[0]?.data ?? "{}") as { message: string }).message).toHaveLength(2 << 20);
    expect(chars).toBeLessThan(2 * text.length);
  });

  it("splits lines across chunks with linear work (LineSplitter)", async () => {
    const line = "y".repeat(2 << 20);
    const text = `${line}\nshort\n${line}`;
    const splitter = new LineSplitter();
    const { result, chars } = await searchWork(() => {
      const lines: string[] = [];
      for (let i = 0; i < text.length; i += 4096) lines.push(...splitter.push(text.slice(i, i + 4096)));
      lines.push(splitter.end());
      return lines;
    });
    expect(result.map((l) => l.length)).toEqual([line.length, 5, line.length]);
    expect(chars).toBeLessThan(2 * text.length);
  });

  it("decodes UTF-8 split inside a character", async () => {
    const bytes = new TextEncoder().encode(sseEncode({ code: 0, message: "中文✓" }));
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (const b of bytes) c.enqueue(new Uint8Array([b]));
        c.close();
      },
    });
    let text = "";
    for await (const t of decodeStream(stream)) text += t;
    expect(parseSse(text).map((d) => JSON.parse(d) as { message: string })[0]?.message).toBe("中文✓");
  });

  it("writes build-stream frames in the [new] '<code>: <message>' form", () => {
    expect(buildErrorFrame({ code: 22101, message: "x" })).toEqual({ message: "22101: x" });
    expect(buildEndFrame("sid")).toEqual({ end_of_stream: true, sid: "sid" });
  });
});
