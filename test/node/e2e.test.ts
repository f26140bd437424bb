// End to end over real HTTP: `wrangler dev` on a loopback port (miniflare, local D1/R2/Durable Objects), driven
// like a client would: add a flow, publish it, run it open and debug, stream and non-stream, upload a file.
import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Frame } from "../../src/engine/types.ts";
import { loadFixture } from "../support/fixtures.ts";
import { readFrames, seededState, startDev } from "../support/wrangler-dev.ts";

let child: ChildProcess | undefined;
let base = "";
let persist = "";
/** everything `wrangler dev` printed: the runtime's own log, where workerd reports uncaught errors */
let output = "";

beforeAll(async () => {
  persist = seededState("wrangler-e2e-");
  const dev = await startDev({
    persist,
    vars: (base) => ["ALLOW_PRIVATE_FETCH:true", `WORKFLOW_URL_SSE:${base}/workflow/v1/chat/completions`],
    stdio: ["ignore", "pipe", "pipe"],
  });
  ({ base, child } = dev);
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
}, 60_000);

afterAll(async () => {
  child?.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 300));
  if (child && child.exitCode === null) child.kill("SIGKILL");
  rmSync(persist, { recursive: true, force: true });
});

// the flows here belong to d1590f30, which every flow route now needs to be the caller (issue 13)
async function post(
  path: string,
  body: unknown,
  headers: Record<string, string> = { "X-Consumer-Username": "d1590f30" },
): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

const sse = readFrames;

describe("wrangler dev end to end", () => {
  it("adds, publishes and runs a flow open and debug, streamed and not, and serves an uploaded file", async () => {
    const add = (await (
      await post("/workflow/v1/protocol/add", {
        app_id: "d1590f30",
        name: "e2e",
        description: "",
        data: loadFixture("example-core-if-else-branch.json"),
      })
    ).json()) as {
      code: number;
      data: { flow_id: string };
    };
    expect(add.code).toBe(0);
    const id = add.data.flow_id;
    const tenant = { "X-Consumer-Username": "tenant01" };
    expect(
      (
        (await (await post("/v1/publish", { flow_id: id, release_status: 1, plat: 1 }, tenant)).json()) as {
          code: number;
        }
      ).code,
    ).toBe(0);
    expect(
      ((await (await post("/v1/auth/", { flow_id: id, app_id: "d1590f30" }, tenant)).json()) as { code: number }).code,
    ).toBe(0);
    const app = { "X-Consumer-Username": "d1590f30" };
    const params = { AGENT_USER_INPUT: "edge", score: 75 };

    const open = await sse(await post("/workflow/v1/chat/completions", { flow_id: id, parameters: params }, app));
    expect(open.map((f) => f.choices[0]?.delta.content).join("")).toBe('PASS: edge{"joined":""}');
    expect(open.map((f) => f.workflow_step?.seq)).toEqual(open.map((_, i) => i + 1));

    const body = (await (
      await post("/workflow/v1/chat/completions", { flow_id: id, stream: false, parameters: params }, app)
    ).json()) as Frame;
    expect(body.choices[0]?.delta.content).toBe('PASS: edge{"joined":""}');

    const debug = await sse(
      await post("/workflow/v1/debug/chat/completions", { flow_id: id, parameters: params }, app),
    );
    expect(debug[0]?.workflow_step?.node?.id).toBe("flow_obj");
    expect(debug.filter((f) => f.workflow_step?.node?.id?.startsWith("message::")).length).toBeGreaterThan(1);

    const debugBody = (await (
      await post("/workflow/v1/debug/chat/completions", { flow_id: id, stream: false, parameters: params }, app)
    ).json()) as Frame;
    expect(debugBody.choices[0]?.delta.content).toBe('PASS: edge{"joined":""}');

    const form = new FormData();
    form.append("file", new File([new TextEncoder().encode("hello file")], "note.txt"));
    const up = (await (
      await fetch(`${base}/workflow/v1/upload_file`, { method: "POST", body: form, headers: app })
    ).json()) as { code: number; data: { url: string } };
    expect(up.code).toBe(0);
    expect(await (await fetch(up.data.url)).text()).toBe("hello file");
  }, 60_000);

  it("runs sub-flows over this deployment's own API: variable mode parsed, prompt mode streamed (item 33)", async () => {
    const tenant = { "X-Consumer-Username": "tenant01" };
    const app = { "X-Consumer-Username": "d1590f30" };
    const publishFlow = async (data: unknown): Promise<string> => {
      const add = (await (
        await post("/workflow/v1/protocol/add", { app_id: "d1590f30", name: "child", description: "", data })
      ).json()) as { data: { flow_id: string } };
      const id = add.data.flow_id;
      await post("/v1/publish", { flow_id: id, release_status: 1, plat: 1 }, tenant);
      await post("/v1/auth", { flow_id: id, app_id: "d1590f30" }, tenant);
      return id;
    };
    const variableChild = await publishFlow(loadFixture("example-core-if-else-branch.json"));
    const promptFixture = loadFixture("example-core-if-else-branch.json") as {
      data: { nodes: { id: string; data: { nodeParam: Record<string, unknown> } }[] };
    };
    const end = promptFixture.data.nodes.find((n) => n.id.startsWith("node-end")) as {
      data: { nodeParam: Record<string, unknown> };
    };
    end.data.nodeParam = { outputMode: 1, template: "R:{{joined}}", streamOutput: true };
    const promptChild = await publishFlow(promptFixture);
    const parent = (
      childId: string,
      outputs: { name: string; schema: { type: string } }[],
      endParam: Record<string, unknown>,
      endInputs: unknown[],
    ): unknown => ({
      data: {
        nodes: [
          {
            id: "node-start::p",
            data: {
              nodeMeta: { nodeType: "x", aliasName: "Start" },
              outputs: [
                { name: "AGENT_USER_INPUT", schema: { type: "string" } },
                { name: "score", schema: { type: "integer" } },
              ],
            },
          },
          {
            id: "flow::sub",
            data: {
              nodeMeta: { nodeType: "x", aliasName: "Sub" },
              nodeParam: { flowId: childId, appId: "d1590f30", uid: "u" },
              inputs: [
                {
                  name: "AGENT_USER_INPUT",
                  schema: {
                    type: "string",
                    value: { type: "ref", content: { nodeId: "node-start::p", name: "AGENT_USER_INPUT" } },
                  },
                },
                {
                  name: "score",
                  schema: {
                    type: "integer",
                    value: { type: "ref", content: { nodeId: "node-start::p", name: "score" } },
                  },
                },
              ],
              outputs,
            },
          },
          {
            id: "node-end::p",
            data: { nodeMeta: { nodeType: "x", aliasName: "End" }, nodeParam: endParam, inputs: endInputs },
          },
        ],
        edges: [
          { sourceNodeId: "node-start::p", targetNodeId: "flow::sub" },
          { sourceNodeId: "flow::sub", targetNodeId: "node-end::p" },
        ],
      },
    });
    const ref = (name: string): unknown => ({
      name,
      schema: { type: "string", value: { type: "ref", content: { nodeId: "flow::sub", name } } },
    });
    const p1 = await publishFlow(
      parent(variableChild, [{ name: "joined", schema: { type: "string" } }], { outputMode: 0 }, [ref("joined")]),
    );
    const r1 = (await (
      await post(
        "/workflow/v1/chat/completions",
        { flow_id: p1, stream: false, parameters: { AGENT_USER_INPUT: "sub", score: 1 } },
        app,
      )
    ).json()) as Frame;
    expect(r1.choices[0]?.delta.content).toBe('{"joined":"FAIL: sub"}');
    const p2 = await publishFlow(
      parent(
        promptChild,
        [
          { name: "content", schema: { type: "string" } },
          { name: "reasoning_content", schema: { type: "string" } },
        ],
        { outputMode: 1, template: "<{{content}}>", streamOutput: true },
        [ref("content")],
      ),
    );
    const streamed = await sse(
      await post(
        "/workflow/v1/chat/completions",
        { flow_id: p2, parameters: { AGENT_USER_INPUT: "sub", score: 1 } },
        app,
      ),
    );
    expect(streamed.map((f) => f.choices[0]?.delta.content).join("")).toBe("<R:FAIL: sub>");
  }, 60_000);

  it("stops a flow that calls itself with a clear 22801 instead of recursing forever", async () => {
    const tenant = { "X-Consumer-Username": "tenant01" };
    const app = { "X-Consumer-Username": "d1590f30" };
    const dsl = (self: string): unknown => ({
      data: {
        nodes: [
          {
            id: "node-start::r",
            data: {
              nodeMeta: { nodeType: "x", aliasName: "S" },
              outputs: [{ name: "AGENT_USER_INPUT", schema: { type: "string" } }],
            },
          },
          {
            id: "flow::again",
            data: {
              nodeMeta: { nodeType: "x", aliasName: "Again" },
              nodeParam: { flowId: self, appId: "d1590f30", uid: "u" },
              inputs: [
                {
                  name: "AGENT_USER_INPUT",
                  schema: {
                    type: "string",
                    value: { type: "ref", content: { nodeId: "node-start::r", name: "AGENT_USER_INPUT" } },
                  },
                },
              ],
              outputs: [{ name: "x", schema: { type: "string" } }],
            },
          },
          { id: "node-end::r", data: { nodeMeta: { nodeType: "x", aliasName: "E" }, nodeParam: { outputMode: 0 } } },
        ],
        edges: [
          { sourceNodeId: "node-start::r", targetNodeId: "flow::again" },
          { sourceNodeId: "flow::again", targetNodeId: "node-end::r" },
        ],
      },
    });
    const add = (await (
      await post("/workflow/v1/protocol/add", { app_id: "d1590f30", name: "loop", description: "", data: null })
    ).json()) as { data: { flow_id: string } };
    const id = add.data.flow_id;
    await post(
      "/v1/publish",
      {
        flow_id: id,
        release_status: 1,
        plat: 1,
        data: { id, name: "loop", description: "", version: "v3.0.0", ...(dsl(id) as object) },
      },
      tenant,
    );
    await post("/v1/auth", { flow_id: id, app_id: "d1590f30" }, tenant);
    const r = (await (
      await post(
        "/workflow/v1/chat/completions",
        { flow_id: id, stream: false, parameters: { AGENT_USER_INPUT: "x" } },
        app,
      )
    ).json()) as Frame;
    expect(r.code).toBe(22801);
    expect(r.message).toContain("nest deeper than 5 levels");
  }, 60_000);

  it("answers a sync webhook and the open API at once, with no uncaught error in the runtime's log", async () => {
    // concurrent runs share one history batch (src/durable/history.ts): nothing a run leaves behind may fail
    const tenant = { "X-Consumer-Username": "tenant01" };
    const app = { "X-Consumer-Username": "d1590f30" };
    const add = (await (
      await post("/workflow/v1/protocol/add", {
        app_id: "d1590f30",
        name: "many",
        description: "",
        data: loadFixture("example-core-if-else-branch.json"),
      })
    ).json()) as { data: { flow_id: string } };
    const id = add.data.flow_id;
    await post("/v1/publish", { flow_id: id, release_status: 1, plat: 1 }, tenant);
    await post("/v1/auth", { flow_id: id, app_id: "d1590f30" }, tenant);
    const hook = await post(
      "/hooks",
      {
        flow_id: id,
        mode: "sync",
        auth: "bearer",
        rate_per_minute: 0,
        mapping: { AGENT_USER_INPUT: "body.q", score: "body.score" },
      },
      app,
    );
    expect(hook.status).toBe(201);
    const { hook_id, token } = (await hook.json()) as { hook_id: string; token: string };
    const before = output.length;
    const open = Array.from(
      { length: 8 },
      async (_, i) =>
        (
          (await (
            await post(
              "/workflow/v1/chat/completions",
              { flow_id: id, stream: false, parameters: { AGENT_USER_INPUT: `r${i}`, score: 75 } },
              app,
            )
          ).json()) as Frame
        ).code,
    );
    const hooked = Array.from(
      { length: 8 },
      async (_, i) =>
        (
          (await (
            await post(`/hooks/${hook_id}`, { q: `h${i}`, score: 75 }, { Authorization: `Bearer ${token}` })
          ).json()) as { code: number }
        ).code,
    );
    expect(await Promise.all([...open, ...hooked])).toEqual(Array.from({ length: 16 }, () => 0));
    // the history batch is sent 100 ms after it opened; give every object time to learn how it went
    await new Promise((r) => setTimeout(r, 1500));
    expect(output.slice(before)).not.toMatch(/Uncaught|never complete/);
  }, 60_000);
});
