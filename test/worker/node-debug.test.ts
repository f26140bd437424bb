// Node debug (spec §1.5.11), code run (§1.5.12) and run history (issue 5), against the real routes.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { loadFixture } from "../support/fixtures.ts";
import { testEnv } from "../support/seed.ts";

async function post(path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await SELF.fetch(`http://astron.test${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Consumer-Username": "d1590f30" },
    body: JSON.stringify(body),
  });
  return (await res.json()) as Record<string, unknown>;
}

const joiner = {
  id: "text-joiner::44444444-4444-4444-8444-444444444444",
  data: {
    nodeMeta: { nodeType: "工具", aliasName: "Join" },
    inputs: [{ id: "in-1", name: "input", schema: { type: "string", value: { type: "literal", content: "world" } } }],
    outputs: [{ id: "o-1", name: "output", schema: { type: "string" } }],
    nodeParam: { mode: 0, prompt: "hello {{input}}" },
  },
};

describe("node debug and code run", () => {
  it("runs one node in isolation and answers with the spec's fields, on both prefixes with a trailing slash", async () => {
    for (const path of ["/workflow/v1/node/debug", "/sparkflow/v1/node/debug/"]) {
      const r = await post(path, {
        id: "f1",
        name: "flow",
        description: "",
        version: "v3.0.0",
        data: { nodes: [joiner], edges: [] },
      });
      expect(r.code).toBe(0);
      expect(r.data).toMatchObject({
        node_id: joiner.id,
        alias_name: "Join",
        node_type: "工具",
        input: '{"input":"world"}',
        output: '{"output":"hello world"}',
        raw_output: "hello world",
        token_cost: { completion_tokens: 0, prompt_tokens: 0, total_tokens: 0 },
      });
      expect((r.data as { node_exec_cost: string }).node_exec_cost).toMatch(/^\d+\.\d{3}$/);
    }
  });

  it("refuses a sub-flow node that names another app than the caller's (issue 13)", async () => {
    const sub = {
      id: "flow::55555555-5555-4555-8555-555555555555",
      data: {
        nodeMeta: { nodeType: "工作流", aliasName: "Sub" },
        inputs: [
          {
            id: "in-1",
            name: "AGENT_USER_INPUT",
            schema: { type: "string", value: { type: "literal", content: "x" } },
          },
        ],
        outputs: [{ id: "o-1", name: "output", schema: { type: "string" } }],
        nodeParam: { flowId: "1", appId: "other01", uid: "u" },
      },
    };
    const r = await post("/workflow/v1/node/debug", { id: "f1", name: "flow", data: { nodes: [sub], edges: [] } });
    expect(r.code).toBe(22801);
    expect(r.message).toContain("only for the flow's own app");
  });

  it("fails a node whose ref points outside the request with 20600, and a bad body with 460", async () => {
    const withRef = structuredClone(joiner);
    withRef.data.inputs[0] = {
      id: "in-1",
      name: "input",
      schema: {
        type: "string",
        value: { type: "ref", content: { nodeId: "node-start::x", name: "AGENT_USER_INPUT" } } as never,
      },
    };
    expect(
      (await post("/workflow/v1/node/debug", { id: "f1", name: "flow", data: { nodes: [withRef], edges: [] } })).code,
    ).toBe(20600);
    expect((await post("/workflow/v1/node/debug", { id: "f1", name: "", data: { nodes: [joiner] } })).code).toBe(460);
  });

  it("answers code run with the envelope and code 21600 while no code executor is configured", async () => {
    for (const path of ["/workflow/v1/code/run", "/sparkflow/v1/run/"]) {
      const r = await post(path, { code: "def main(): return {}", variables: [], app_id: "d1590f30", uid: "u" });
      expect(r.code).toBe(21600);
      expect(typeof r.sid).toBe("string");
    }
  });
});

describe("run history", () => {
  it("records a finished run's summary in D1", async () => {
    const add = await post("/workflow/v1/protocol/add", {
      app_id: "",
      name: "h",
      description: "",
      data: loadFixture("example-core-if-else-branch.json"),
    });
    const id = (add.data as { flow_id: string }).flow_id;
    const r = await post("/workflow/v1/debug/chat/completions", {
      flow_id: id,
      stream: false,
      uid: "u-hist",
      parameters: { AGENT_USER_INPUT: "h", score: 3 },
    });
    expect(r.code).toBe(0);
    let row: Record<string, unknown> | null = null;
    for (let i = 0; i < 50 && !row; i++) {
      row = await testEnv.DB.prepare("SELECT * FROM run_history WHERE flow_id = ?").bind(id).first();
      if (!row) await new Promise((res) => setTimeout(res, 20));
    }
    expect(row).toMatchObject({
      flow_id: id,
      uid: "u-hist",
      status: "completed",
      code: 0,
      mode: "debug",
      app_id: "d1590f30",
    });
  });
});
