// Conformance details found driving the API as Astron's console backend does (issue 14): DSL shape errors answer
// with the route's own code (spec §4.10), an upload without a file name is 23601 (spec §8.1), a debug run of a flow
// without a draft says so, and a provider stream that breaks still delivers every token it sent before the error.
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { SseParser } from "../../src/engine/sse.ts";
import type { Frame } from "../../src/engine/types.ts";
import { loadFixture } from "../support/fixtures.ts";
import { startLlmEnd } from "../support/llm-flow.ts";
import { seedApps, testEnv } from "../support/seed.ts";

const APP = { "X-Consumer-Username": "d1590f30" };
const JSON_APP = { ...APP, "Content-Type": "application/json" };

type Envelope = {
  data: { nodes: { id: string; data: Record<string, unknown> }[]; edges: Record<string, unknown>[] };
};
type Answer = { code: number; message: string; data?: { flow_id: string; url?: string } };

const call = (path: string, body?: unknown): Promise<Response> =>
  SELF.fetch(`http://astron.test${path}`, {
    method: "POST",
    headers: JSON_APP,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const api = async (path: string, body: unknown): Promise<Answer> => (await (await call(path, body)).json()) as Answer;

beforeAll(async () => {
  await seedApps();
});

async function addFlow(data?: unknown): Promise<string> {
  const r = await api("/workflow/v1/protocol/add", { app_id: "d1590f30", name: "c", ...(data ? { data } : {}) });
  expect(r.code).toBe(0);
  return r.data?.flow_id ?? "";
}

describe("DSL shape errors answer with the route's own code (spec §4.10)", () => {
  const fixture = (): Envelope => loadFixture("example-core-if-else-branch.json") as Envelope;
  const node = (f: Envelope, type: string): { id: string; data: Record<string, unknown> } =>
    f.data.nodes.find((n) => n.id.startsWith(`${type}::`)) as { id: string; data: Record<string, unknown> };
  const inputOf = (f: Envelope, type: string): { schema: { type: string; value: { type: string } } } =>
    (node(f, type).data.inputs as { schema: { type: string; value: { type: string } } }[])[0] as {
      schema: { type: string; value: { type: string } };
    };

  /** each bad shape of the spec's list, with a word its message must carry */
  const shapes: [string, () => Envelope, string][] = [
    [
      "a node without nodeMeta",
      () => {
        const f = fixture();
        delete node(f, "node-end").data.nodeMeta;
        return f;
      },
      "nodeMeta",
    ],
    [
      "an unknown value.type",
      () => {
        const f = fixture();
        inputOf(f, "node-end").schema.value.type = "reference";
        return f;
      },
      "value",
    ],
    [
      "an unknown schema.type",
      () => {
        const f = fixture();
        inputOf(f, "node-end").schema.type = "text";
        return f;
      },
      "schema.type",
    ],
    [
      "an id without its type:: prefix",
      () => {
        const f = fixture();
        node(f, "node-end").id = "node-end";
        return f;
      },
      "<type>::<id>",
    ],
    [
      "a null sourceHandle",
      () => {
        const f = fixture();
        (f.data.edges[0] as { sourceHandle: unknown }).sourceHandle = null;
        return f;
      },
      "sourceHandle",
    ],
  ];

  it.each(shapes)("add answers 20102 and update 20104 for %s, naming the field", async (_, bad, word) => {
    const add = await api("/workflow/v1/protocol/add", { app_id: "d1590f30", name: "bad", data: bad() });
    expect(add).toMatchObject({ code: 20102 });
    expect(add.message).toMatch(/^Protocol creation error\(/);
    expect(add.message).toContain(word);
    expect(add.data).toBeUndefined();

    const id = await addFlow(fixture());
    const update = await api(`/workflow/v1/protocol/update/${id}`, { data: bad() });
    expect(update.code).toBe(20104);
    expect(update.message).toMatch(/^Protocol update failed\(/);
    expect(update.message).toContain(word);
  });

  it.each(shapes)("build answers 20101 and a debug run 20100 for a stored draft with %s", async (_, bad, word) => {
    const id = await addFlow(fixture());
    await testEnv.DB.prepare("UPDATE flow SET data = ? WHERE id = ?").bind(JSON.stringify(bad()), id).run();
    const build = await (await call(`/workflow/v1/protocol/build/${id}`)).text();
    expect(build).toContain(`"message":"20101: Protocol build failed(`);
    expect(build).toContain(word);

    const run = await api("/workflow/v1/debug/chat/completions", {
      flow_id: id,
      stream: false,
      parameters: { AGENT_USER_INPUT: "hi", score: 1 },
    });
    expect(run.code).toBe(20100);
    expect(run.message).toMatch(/^Protocol validation failed\(/);
    expect(run.message).toContain(word);
  });

  it("keeps the engine's codes for what is not a shape error: unknown type, bad nodeParam, no node list", async () => {
    const unknown = fixture();
    unknown.data.nodes.push({
      id: "teleport::00000000-0000-4000-8000-000000000000",
      data: { nodeMeta: { nodeType: "x", aliasName: "R" } },
    });
    expect((await api("/workflow/v1/protocol/add", { app_id: "d1590f30", data: unknown })).code).toBe(22101);
    const param = fixture();
    node(param, "node-end").data.nodeParam = { outputMode: "sometimes" };
    expect((await api("/workflow/v1/protocol/add", { app_id: "d1590f30", data: param })).code).toBe(22101);
    const empty = { data: { edges: [] } };
    expect((await api("/workflow/v1/protocol/add", { app_id: "d1590f30", data: empty })).code).toBe(22100);
  });
});

describe("uploads (spec §8.1)", () => {
  /** a multipart body written by hand: FormData cannot send a file part whose name is empty */
  async function uploadRaw(filename: string, field = "file", path = "/workflow/v1/upload_file"): Promise<Answer> {
    const boundary = "----conformance";
    const body =
      `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\n` +
      `Content-Type: text/plain\r\n\r\nhello\r\n--${boundary}--\r\n`;
    const res = await SELF.fetch(`http://astron.test${path}`, {
      method: "POST",
      headers: { ...APP, "Content-Type": `multipart/form-data; boundary=${boundary}` },
      body,
    });
    return (await res.json()) as Answer;
  }

  it("answers an upload with an empty file name with 23601 File name cannot be empty", async () => {
    const one = await uploadRaw("");
    expect(one).toMatchObject({ code: 23601, message: "Invalid file(File name cannot be empty)" });
    const batch = await uploadRaw("", "files", "/workflow/v1/upload_files");
    expect(batch).toMatchObject({ code: 23601, message: "Invalid file(File name cannot be empty)" });
    expect((await uploadRaw("notes.txt")).code).toBe(0);
  });
});

describe("debug run of a flow without a draft", () => {
  it("says the flow has no draft, not that it is not published", async () => {
    const id = await addFlow();
    const run = await api("/workflow/v1/debug/chat/completions", { flow_id: id, stream: false, parameters: {} });
    expect(run.code).toBe(20100);
    expect(run.message).toContain("no draft");
    expect(run.message).not.toContain("not published");
  });
});

describe("a provider stream that breaks", () => {
  const url = inject("openaiUrl");

  async function frames(path: string, body: unknown): Promise<Frame[]> {
    const text = await (await call(path, body)).text();
    return new SseParser().push(`${text}\n\n`).map((e) => JSON.parse(e.data) as Frame);
  }
  const contentBeforeError = (fs: Frame[]): string => {
    const firstError = fs.findIndex((f) => f.code !== 0);
    return fs
      .slice(0, firstError)
      .map((f) => f.choices[0]?.delta.content ?? "")
      .join("");
  };

  async function publish(id: string): Promise<void> {
    for (const [path, body] of [
      ["/v1/publish", { flow_id: id, release_status: 1, plat: 1 }],
      ["/v1/auth", { flow_id: id, app_id: "d1590f30" }],
    ] as const) {
      const res = await SELF.fetch(`http://astron.test${path}`, {
        method: "POST",
        headers: { ...JSON_APP, "X-Consumer-Username": "tenant01" },
        body: JSON.stringify(body),
      });
      expect(((await res.json()) as { code: number }).code).toBe(0);
    }
  }

  it("delivers every token received before the break, then the error frame (debug and open)", async () => {
    // the fake sends three tokens, then drops the connection without a finish reason
    const id = await addFlow(startLlmEnd(url, { tokens: ["Hel", "lo", " wor", "ld"], disconnectAfter: 3 }));
    const body = { flow_id: id, parameters: { AGENT_USER_INPUT: "q" } };
    const debug = await frames("/workflow/v1/debug/chat/completions", body);
    expect(debug.at(-1)?.code).toBe(20380);
    const llmError = debug.findIndex((f) => f.workflow_step?.node?.id === "spark-llm::l" && f.code !== 0);
    const shown = debug.slice(0, llmError).filter((f) => f.workflow_step?.node?.id === "node-end::e");
    expect(shown.map((f) => f.choices[0]?.delta.content ?? "").join("")).toBe("Hello wor");

    await publish(id);
    const open = await frames("/workflow/v1/chat/completions", body);
    expect(open.at(-1)?.code).toBe(20380);
    expect(contentBeforeError(open)).toBe("Hello wor");
  });
});
