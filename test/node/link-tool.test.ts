// The `plugin` node (spec §5.14, services §1.3–§1.8) against a fake Link service that really executes tools, with
// the fake AI-tools service (services §2) as the downstream tool: an AI tool is a Link tool reached through `plugin`.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { systemClock } from "../../src/engine/clock.ts";
import { createGuardedFetch } from "../../src/engine/net.ts";
import type { Clock } from "../../src/engine/plugin.ts";
import type { Frame } from "../../src/engine/types.ts";
import { bizNodeToCore } from "../../src/plugins/biz.ts";
import { registry } from "../../src/plugins/index.ts";
import { clearToolSchemaCache, encodePart, findBusinessInputs, TtlCache } from "../../src/plugins/plugin-tool.ts";
import { formatTraceparent, newSpanId, newTraceId, RunTracer, type SpanRecord } from "../../src/engine/trace.ts";
import { END, flow, START, type InputDef, type Json, type OutputDef } from "../support/dsl-builder.ts";
import { describeFrame, runFlow, Scripts, testRegistry, type RunFlowOptions } from "../support/engine-harness.ts";
import { startFakeAiTools, type FakeAiTools } from "../support/fake-aitools.ts";
import { startFakeLink, type FakeLink } from "../support/fake-link.ts";
import { loadFixture } from "../support/fixtures.ts";

let link: FakeLink;
let aitools: FakeAiTools;
beforeAll(async () => {
  aitools = await startFakeAiTools({ slowMs: 1500 });
  // the link service's own blacklist (services §1.4 step 7) holds the cloud metadata address
  link = await startFakeLink({ blockedHosts: ["169.254.169.254"] });
  link.register("tool@vision01", visionTool(aitools.url));
  link.register("tool@aigen01", imageGenerateTool(aitools.url));
  link.register("tool@meta01", imageGenerateTool("http://169.254.169.254/latest"));
});
afterAll(async () => {
  await link.close();
  await aitools.close();
});
beforeEach(() => clearToolSchemaCache());

/** A console-style tool over the AI-tools image-understanding route, using every part kind and x-from. */
function visionTool(base: string): Record<string, Json> {
  return {
    openapi: "3.1.0",
    info: { title: "vision", version: "1.0.0", "x-is-official": false },
    servers: [{ url: base }],
    paths: {
      "/{route}": {
        post: {
          operationId: "understand-img01",
          parameters: [
            { name: "route", in: "path", required: true, schema: { type: "string", "x-from": 0 } },
            { name: "lang", in: "query", schema: { type: "string", "x-from": 2, default: "zh" } },
            { name: "city", in: "query", schema: { type: "string", "x-from": 0 } },
            { name: "X-Tenant", in: "header", schema: { type: "string", "x-from": 1, default: "astron" } },
            { name: "traceId", in: "header", schema: { type: "string", "x-from": 1 } },
            // neither input nor default: dropped, not sent as null (services D-L3 [new])
            { name: "X-Optional", in: "header", schema: { type: "string", "x-from": 0 } },
          ],
          requestBody: { content: { "application/json": { schema: { $ref: "#/components/schemas/Ask" } } } },
          responses: { "200": { content: { "application/json": { schema: { type: "object" } } } } },
        },
      },
    },
    components: {
      schemas: {
        Ask: {
          type: "object",
          properties: {
            question: { type: "string", "x-from": 0 },
            image_url: { type: "string", "x-from": 0 },
            options: {
              type: "object",
              properties: {
                detail: { type: "string", default: "high" },
                traceId: { type: "string", "x-from": 1 },
                note: { type: "string" },
              },
            },
            unused: { type: "string" },
          },
        },
      },
    },
  };
}

/** An official AI tool as an operator would register it (services §2.1): `/image_generate` of AI tools. */
function imageGenerateTool(base: string): Record<string, Json> {
  return {
    openapi: "3.0.1",
    info: { title: "image generation", version: "1.0.0", "x-is-official": true },
    servers: [{ url: base }],
    paths: {
      "/image_generate": {
        post: {
          operationId: "image_generate",
          requestBody: {
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  properties: {
                    prompt: { type: "string" },
                    width: { type: "integer", default: 1024 },
                    height: { type: "integer", default: 1024 },
                  },
                },
              },
            },
          },
        },
      },
    },
  };
}

const VISION_INPUTS: InputDef[] = [
  { name: "route", literal: "image_understanding" },
  { name: "question", ref: { node: START, name: "AGENT_USER_INPUT" } },
  { name: "image_url", literal: "https://img.example/cat.jpg" },
  { name: "city", literal: "Hefei" },
  { name: "options", type: "object", literal: { note: "n1" } },
  { name: "meta", type: "object", literal: { deep: [{ traceId: "t-42" }] } },
];

const AI_OUTPUTS: OutputDef[] = [
  { name: "code", type: "integer" },
  { name: "message", type: "string" },
  { name: "data", type: "object" },
];

interface ToolNode {
  params: Record<string, Json>;
  inputs: InputDef[];
  outputs: OutputDef[];
  retry?: Record<string, Json>;
}

function toolFlow(t: ToolNode): unknown {
  return flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
    .node("plugin::t", {
      params: t.params,
      inputs: t.inputs,
      outputs: t.outputs,
      ...(t.retry ? { retry: t.retry } : {}),
    })
    .node(END, {
      params: { outputMode: 0 },
      inputs: t.outputs.map((o) => ({
        name: o.name,
        type: o.type ?? "string",
        ref: { node: "plugin::t", name: o.name },
      })),
    })
    .edge(START, "plugin::t")
    .edge("plugin::t", END)
    .build();
}

const vision = (over: Partial<ToolNode> = {}): ToolNode => ({
  params: {
    pluginId: "tool@vision01",
    operationId: "understand-img01",
    appId: "d1590f30",
    version: "V1.0",
    businessInput: ["traceId"],
  },
  inputs: VISION_INPUTS,
  outputs: AI_OUTPUTS,
  ...over,
});

const opts = (over: RunFlowOptions = {}): RunFlowOptions => ({
  registry,
  fetch: createGuardedFetch(fetch, { allowPrivate: true }),
  config: { PLUGIN_GET_URL: link.getUrl, PLUGIN_RUN_URL: link.runUrl },
  parameters: { AGENT_USER_INPUT: "图里有什么? what is in the picture" },
  ...over,
});

describe("plugin node: the calls it makes", () => {
  it("reads the schema, builds every part from x-from, defaults and business inputs, and maps the answer", async () => {
    const gets = link.schemaGets().length;
    const { outcome } = await runFlow(
      toolFlow(
        vision({ outputs: [...AI_OUTPUTS, { name: "sid", type: "integer" }, { name: "missing", type: "array" }] }),
      ),
      opts(),
    );
    expect(outcome.status).toBe("completed");

    const get = link.schemaGets().at(-1) as URLSearchParams;
    expect(link.schemaGets().length).toBe(gets + 1);
    expect(get.getAll("tool_ids")).toEqual(["tool@vision01"]);
    expect(get.getAll("versions")).toEqual(["V1.0"]);
    expect(get.get("app_id")).toBe("d1590f30");

    const run = link.runs().at(-1);
    expect(run).toEqual({
      appId: "d1590f30",
      toolId: "tool@vision01",
      operationId: "understand-img01",
      version: "V1.0",
      sentParts: ["header", "query", "path", "body"],
      header: { "X-Tenant": "astron", traceId: "t-42" },
      query: { lang: "zh", city: "Hefei" },
      path: { route: "image_understanding" },
      body: {
        question: "图里有什么? what is in the picture",
        image_url: "https://img.example/cat.jpg",
        options: { detail: "high", traceId: "t-42", note: "n1" },
      },
      target: `${aitools.url}/image_understanding?lang=zh&city=Hefei`,
    });

    // the tool itself received what Link forwarded
    const seen = aitools.requests().at(-1);
    expect(seen?.path).toBe("/image_understanding");
    expect(seen?.headers["x-tenant"]).toBe("astron");
    expect(seen?.headers["traceid"]).toBe("t-42");
    expect(seen?.body).toEqual(run?.body);

    // outputs: matching types kept, a mistyped field (sid is a string) and a missing one get their type default
    expect(outcome).toMatchObject({
      outputs: {
        code: 0,
        message: "success",
        data: { content: 'An answer to "图里有什么? what is in the picture" about https://img.example/cat.jpg' },
        sid: 0,
        missing: [],
      },
    });
  });

  it("the console's Tool template parses once a tool is picked, and is rejected before (pluginId, operationId)", () => {
    const template = loadFixture("plugin.json") as { data: { nodeParam: Record<string, Json> } };
    const params = registry.get("plugin").params;
    expect(params.safeParse(bizNodeToCore(template).data.nodeParam).success).toBe(false);
    template.data.nodeParam = {
      ...template.data.nodeParam,
      pluginId: "tool@vision01",
      operationId: "understand-img01",
      version: "",
    };
    const parsed = params.safeParse(bizNodeToCore(template).data.nodeParam);
    expect(parsed.success).toBe(true);
    expect(parsed.data).toMatchObject({ appId: "4eea957b", version: "V1.0", businessInput: [] });
  });

  it("encodes parts as base64 of ASCII-only JSON (non-ASCII escaped as \\uXXXX)", () => {
    const b64 = encodePart({ q: "合肥", n: 1 });
    expect(atob(b64)).toBe('{"q":"\\u5408\\u80a5","n":1}');
    expect(JSON.parse(atob(b64))).toEqual({ q: "合肥", n: 1 });
  });

  it("finds business inputs breadth-first: the shallowest occurrence wins, through arrays", () => {
    expect(findBusinessInputs({ a: { b: { deep: { uid: "deep" } } }, list: [{ uid: "shallow" }] }, ["uid"])).toEqual({
      uid: "shallow",
    });
    expect(findBusinessInputs({ uid: "top", a: { uid: "deep" } }, ["uid", "none"])).toEqual({ uid: "top" });
  });
});

describe("plugin node: the tool schema cache", () => {
  it("a second run reuses the schema; after the TTL the schema is read again", async () => {
    let now = Date.UTC(2026, 10, 29, 12, 0, 0);
    const clock: Clock = { now: () => now, sleep: systemClock.sleep };
    const gets = (): number => link.schemaGets().length;
    const runs = (): number => link.runs().length;
    const before = { gets: gets(), runs: runs() };

    expect((await runFlow(toolFlow(vision()), opts({ clock }))).outcome.status).toBe("completed");
    expect(gets() - before.gets).toBe(1);

    now += 4 * 60_000; // within the 5-minute TTL
    expect((await runFlow(toolFlow(vision()), opts({ clock }))).outcome.status).toBe("completed");
    expect(gets() - before.gets).toBe(1);
    expect(runs() - before.runs).toBe(2);

    now += 61_000; // 5 min 1 s after the read
    expect((await runFlow(toolFlow(vision()), opts({ clock }))).outcome.status).toBe("completed");
    expect(gets() - before.gets).toBe(2);
    expect(runs() - before.runs).toBe(3);
  });

  it("keys the cache by version: another version of the same tool is read on its own", async () => {
    link.register("tool@vision01", visionTool(aitools.url), "V2.0");
    const before = link.schemaGets().length;
    await runFlow(toolFlow(vision()), opts());
    const v2 = vision();
    v2.params = { ...v2.params, version: "V2.0" };
    await runFlow(toolFlow(v2), opts());
    expect(link.schemaGets().length - before).toBe(2);
    expect(link.schemaGets().at(-1)?.get("versions")).toBe("V2.0");
    expect(link.runs().at(-1)?.version).toBe("V2.0");
  });
  it("the cache is bounded: the least recently used entry leaves first; entries expire at the TTL", () => {
    const cache = new TtlCache<string>(2, 1000);
    cache.set("a", "A", 0);
    cache.set("b", "B", 0);
    expect(cache.get("a", 10)).toBe("A"); // a is now the most recently used
    cache.set("c", "C", 20);
    expect(cache.size).toBe(2);
    expect(cache.get("b", 30)).toBeUndefined();
    expect(cache.get("a", 999)).toBe("A");
    expect(cache.get("a", 1000)).toBeUndefined();
    expect(cache.get("c", 1019)).toBe("C");
    expect(cache.size).toBe(1);
  });
});

describe("plugin node: errors", () => {
  const failWith = async (node: ToolNode, o: RunFlowOptions = {}): Promise<{ code: number; message: string }> => {
    const { outcome } = await runFlow(toolFlow(node), opts(o));
    expect(outcome.status).toBe("failed");
    return outcome.status === "failed" ? outcome.error : { code: -1, message: "" };
  };

  it("maps Link error codes to 21801–21812 and unmapped ones to 21800, with Link's message", async () => {
    const cases: [number, number][] = [
      [30001, 21801],
      [30200, 21802],
      [30201, 21803],
      [30300, 21804],
      [30301, 21805],
      [30302, 21806],
      [30400, 21807],
      [30500, 21808],
      [30600, 21809],
      [30403, 21812],
      [30202, 21800],
      [30100, 21800],
    ];
    for (const [linkCode, code] of cases) {
      link.fault({ code: linkCode, message: `link says ${linkCode}` });
      const err = await failWith(vision());
      expect(err.code).toBe(code);
      expect(err.message).toContain(`${linkCode}: link says ${linkCode}`);
    }
  });

  it("a real third-party failure behind Link (tool answered 422) surfaces as 21812", async () => {
    // the AI-tools fake answers 422 when a required key is missing: drop image_url from the inputs
    const err = await failWith(vision({ inputs: VISION_INPUTS.filter((i) => i.name !== "image_url") }));
    expect(err.code).toBe(21812);
    expect(err.message).toContain("Request error code: 422");
  });

  it("a tool server on Link's blacklist fails with 30203, which maps to 21800", async () => {
    const err = await failWith({
      params: { pluginId: "tool@meta01", operationId: "image_generate", appId: "d1590f30" },
      inputs: [{ name: "prompt", literal: "a cat" }],
      outputs: AI_OUTPUTS,
    });
    expect(err.code).toBe(21800);
    expect(err.message).toContain("169.254.169.254 is blacklisted");
  });

  it("wraps failures that carry no Link code as 23400: HTTP 500 with HTML, an array result", async () => {
    link.fault({ http: 500 });
    const http = await failWith(vision());
    expect(http.code).toBe(23400);
    expect(http.message).toContain("HTTP 500");
    link.fault({ text: "[1,2]" });
    const array = await failWith(vision());
    expect(array.code).toBe(23400);
    expect(array.message).toContain("array");
  });

  it("an unknown operation or an unknown tool finds no operation: 22302", async () => {
    const op = await failWith(
      vision({ params: { pluginId: "tool@vision01", operationId: "nope", appId: "d1590f30" } }),
    );
    expect(op.code).toBe(22302);
    expect(op.message).toContain("has no operation nope");
    const tool = await failWith(vision({ params: { pluginId: "tool@ghost", operationId: "x", appId: "d1590f30" } }));
    expect(tool.code).toBe(22302);
    expect(tool.message).toContain("link 30500");
  });

  it("a slow tool is cut at retryConfig.timeout (22302 Node execution timeout)", async () => {
    link.fault({ delayMs: 1500 });
    const t0 = Date.now();
    const err = await failWith(vision({ retry: { shouldRetry: true, timeout: 0.3, maxRetries: 0, errorStrategy: 0 } }));
    expect(err.code).toBe(22302);
    expect(err.message).toContain("Node execution timeout");
    expect(Date.now() - t0).toBeLessThan(1200);
  });

  it("a slow AI tool behind Link is cut the same way", async () => {
    const t0 = Date.now();
    const err = await failWith(
      vision({ retry: { shouldRetry: true, timeout: 0.3, maxRetries: 0, errorStrategy: 0 } }),
      { parameters: { AGENT_USER_INPUT: "__slow__ question" } },
    );
    expect(err.code).toBe(22302);
    expect(Date.now() - t0).toBeLessThan(1200);
  });

  it("refuses a Link service at a private address when private addresses are not allowed", async () => {
    const before = { gets: link.schemaGets().length, runs: link.runs().length };
    const err = await failWith(vision(), { fetch: createGuardedFetch(fetch, { allowPrivate: false }) });
    expect(err.code).toBe(22302); // no schema could be read: no operation (spec §5.14 step 1)
    expect(err.message).toContain("refused to call a private address: 127.0.0.1");
    expect(link.schemaGets().length).toBe(before.gets);
    // with the schema cached, the run call itself is refused and wrapped as 23400
    await runFlow(toolFlow(vision()), opts());
    const cached = await failWith(vision(), { fetch: createGuardedFetch(fetch, { allowPrivate: false }) });
    expect(cached.code).toBe(23400);
    expect(cached.message).toContain("refused to call a private address: 127.0.0.1");
    expect(link.runs().length).toBe(before.runs + 1);
  });
});

describe("plugin node: retries and error strategies (spec §6.7)", () => {
  it("retries after a failure and succeeds on the second attempt", async () => {
    const before = link.runs().length;
    link.fault({ http: 500 });
    const { outcome, frames } = await runFlow(
      toolFlow(vision({ retry: { shouldRetry: true, maxRetries: 2, errorStrategy: 0, timeout: 5 } })),
      opts(),
    );
    expect(outcome).toMatchObject({ status: "completed", outputs: { code: 0, message: "success" } });
    expect(link.runs().length - before).toBe(2);
    expect(frames.filter((f) => describeFrame(f) === "plugin::t:start")).toHaveLength(1);
  });

  it("strategy 0 aborts the run with the node's code after maxRetries + 1 attempts", async () => {
    const before = link.runs().length;
    link.fault({ code: 30403, message: "down" }, { code: 30403, message: "down" });
    const { outcome } = await runFlow(
      toolFlow(vision({ retry: { shouldRetry: true, maxRetries: 1, errorStrategy: 0, timeout: 5 } })),
      opts(),
    );
    expect(outcome).toMatchObject({ status: "failed", error: { code: 21812 } });
    expect(link.runs().length - before).toBe(2);
  });

  it("strategy 1 gives the custom output and the error in error_outputs", async () => {
    link.fault({ http: 500 });
    const retry = {
      shouldRetry: true,
      maxRetries: 0,
      errorStrategy: 1,
      timeout: 5,
      customOutput: { code: -1, message: "fallback", data: {} },
    };
    const { outcome, frames } = await runFlow(toolFlow(vision({ retry })), opts());
    expect(outcome).toMatchObject({ status: "completed", outputs: { code: -1, message: "fallback" } });
    const end = frames.find((f) => describeFrame(f) === "plugin::t:end") as Frame;
    expect(end.workflow_step?.node?.error_outputs).toMatchObject({ errorCode: 23400 });
  });

  it("strategy 2 takes only the fail branch", async () => {
    link.fault({ code: 30600, message: "gone" });
    const scripts = new Scripts();
    const dsl = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("plugin::t", { ...vision({ retry: { shouldRetry: true, maxRetries: 0, errorStrategy: 2, timeout: 5 } }) })
      .node("noop::ok")
      .node("noop::failed", {
        inputs: [{ name: "code", type: "integer", ref: { node: "plugin::t", name: "errorCode" } }],
      })
      .node(END, {
        params: { outputMode: 0 },
        inputs: [{ name: "err", type: "integer", ref: { node: "plugin::t", name: "errorCode" } }],
      })
      .edge(START, "plugin::t")
      .edge("plugin::t", "noop::ok")
      .edge("plugin::t", "noop::failed", "intent_chain|fail_one_of::f1")
      .edge("noop::ok", END)
      .edge("noop::failed", END)
      .build();
    const { outcome } = await runFlow(dsl, opts({ registry: testRegistry(scripts), scripts }));
    expect(outcome).toMatchObject({ status: "completed", outputs: { err: 21809 } });
    expect(scripts.callsOf("noop::ok")).toBe(0);
    expect(scripts.callsOf("noop::failed")).toBe(1);
  });
});

describe("AI tools through the plugin node (services §2)", () => {
  const gen = (prompt: string): ToolNode => ({
    params: { pluginId: "tool@aigen01", operationId: "image_generate", appId: "d1590f30" },
    inputs: [{ name: "prompt", literal: prompt }],
    outputs: [...AI_OUTPUTS, { name: "sid", type: "string" }],
  });

  it("generates an image end to end: plugin → Link → AI tools, body defaults filled", async () => {
    const { outcome } = await runFlow(toolFlow(gen("a cat on a sofa")), opts());
    expect(outcome).toMatchObject({
      status: "completed",
      outputs: { code: 0, message: "success", sid: "fake", data: { image_url: "https://oss.example.com/gen/1.jpg" } },
    });
    expect(aitools.requests().at(-1)).toMatchObject({
      path: "/image_generate",
      body: { prompt: "a cat on a sofa", width: 1024, height: 1024 },
    });
  });

  it("a provider failure is HTTP 200 with a code: the node succeeds and the code output carries it", async () => {
    const { outcome } = await runFlow(toolFlow(gen("__fail__ cat")), opts());
    expect(outcome).toMatchObject({ status: "completed", outputs: { code: 45100, message: "图片生成失败", data: {} } });
  });
});

describe("plugin node: traces (issue 17)", () => {
  it("sends the traceparent of the client span that made each call, to the schema read and to the run", async () => {
    const spans: SpanRecord[] = [];
    const tracer = new RunTracer({
      root: { traceId: newTraceId(), spanId: newSpanId(), flags: 1 },
      sink: (s) => spans.push(s),
      now: () => Date.now(),
    });
    const before = link.traceparents().length;
    const { outcome } = await runFlow(toolFlow(vision()), opts({ tracer }));
    expect(outcome.status).toBe("completed");
    const node = spans.find((s) => s.name === "plugin::t");
    const calls = spans
      .filter((s) => s.parentSpanId === node?.spanId && s.kind === 2)
      .map((s) => formatTraceparent({ ...s, flags: 1 }));
    const sent = link.traceparents().slice(before);
    // L1 (the schema, GET) and L2 (the run, POST): each with its own client span
    expect(sent).toHaveLength(2);
    expect(sent).toEqual(calls);
  });
});
