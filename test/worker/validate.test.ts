// The worker's one DSL check (spec §4.10), as add, update, build and publish see it: the engine's compile decides.
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { WorkflowError } from "../../src/engine/errors.ts";
import { validateDsl } from "../../src/worker/validate.ts";
import { loadFixture } from "../support/fixtures.ts";
import { seedApps, testEnv } from "../support/seed.ts";

function codeOf(dsl: unknown): number | undefined {
  try {
    validateDsl(dsl);
  } catch (e) {
    return e instanceof WorkflowError ? e.code : -1;
  }
  return undefined;
}

type Envelope = { data: { nodes: { id: string }[]; edges: { sourceNodeId: string; targetNodeId: string }[] } };
const fixture = (): Envelope => loadFixture("example-core-if-else-branch.json") as Envelope;

describe("validateDsl", () => {
  it("accepts both real example flows", () => {
    expect(codeOf(loadFixture("example-core-if-else-branch.json"))).toBeUndefined();
    expect(codeOf(loadFixture("example-core-start-llm-end.json"))).toBeUndefined();
  });

  it("answers 22100 for a document without nodes", () => {
    expect(codeOf(null)).toBe(22100);
    expect(codeOf({ data: { edges: [] } })).toBe(22100);
  });

  it("answers 22101 for an unknown node type", () => {
    const f = fixture();
    f.data.nodes.push({
      id: "teleport::00000000-0000-4000-8000-000000000000",
      data: { nodeMeta: { nodeType: "x", aliasName: "R" } },
    } as never);
    expect(codeOf(f)).toBe(22101);
  });

  it("answers 22300 for an edge to a node that does not exist", () => {
    const f = fixture();
    f.data.edges.push({ sourceNodeId: f.data.nodes[0]?.id ?? "", targetNodeId: "message::nowhere" });
    expect(codeOf(f)).toBe(22300);
  });
});

// issue 13 item 10 at the HTTP edge: add, update, build and a run all refuse what compile refuses, naming the node
describe("protocol routes and runs refuse a flow the build checks refuse", () => {
  const APP = { "X-Consumer-Username": "d1590f30" };
  const END = "node-end::55555555-5555-4555-8555-555555555555";
  const IF = "if-else::22222222-2222-4222-8222-222222222222";
  type Node = { id: string; data: { inputs: unknown[] } };

  const call = (path: string, body?: unknown): Promise<Response> =>
    SELF.fetch(`http://astron.test${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...APP },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const api = async (
    path: string,
    body: unknown,
  ): Promise<{ code: number; message: string; data?: { flow_id: string } }> =>
    (await (await call(path, body)).json()) as { code: number; message: string; data?: { flow_id: string } };

  /** the real example with its end node reading a node that is not in the flow */
  const danglingRef = (): Envelope => {
    const f = fixture();
    const end = f.data.nodes.find((n) => n.id === END) as unknown as Node;
    end.data.inputs.push({
      name: "ghost",
      schema: { type: "string", value: { type: "ref", content: { nodeId: "text-joiner::gone", name: "output" } } },
    });
    return f;
  };
  /** the real example with one if-else edge carrying a case id the node does not have */
  const strayHandle = (): Envelope => {
    const f = fixture();
    const edge = (f.data.edges as { sourceNodeId: string; sourceHandle?: string }[]).find((e) => e.sourceNodeId === IF);
    if (edge) edge.sourceHandle = "intent_chain|branch_one_of::nope";
    return f;
  };

  beforeAll(async () => {
    await seedApps();
  });

  it("add and update answer 22300 naming the node and the field, and store nothing", async () => {
    const ref = await api("/workflow/v1/protocol/add", { app_id: "d1590f30", name: "bad", data: danglingRef() });
    expect(ref.code).toBe(22300);
    expect(ref.message).toContain(`node ${END}: input ghost: Node not found text-joiner::gone`);
    expect(ref.data).toBeUndefined();
    const handle = await api("/workflow/v1/protocol/add", { app_id: "d1590f30", name: "bad", data: strayHandle() });
    expect(handle.code).toBe(22300);
    expect(handle.message).toMatch(new RegExp(`node ${IF}: .*branch_one_of::nope.*nodeParam\\.cases`));

    const ok = await api("/workflow/v1/protocol/add", { app_id: "d1590f30", name: "good", data: fixture() });
    expect(ok.code).toBe(0);
    const id = ok.data?.flow_id ?? "";
    const update = await api(`/workflow/v1/protocol/update/${id}`, { data: danglingRef() });
    expect(update.code).toBe(22300);
    expect(update.message).toContain(END);
  });

  it("build and a debug run of a row saved before the checks existed answer 22300 naming the node", async () => {
    const ok = await api("/workflow/v1/protocol/add", { app_id: "d1590f30", name: "old", data: fixture() });
    const id = ok.data?.flow_id ?? "";
    await testEnv.DB.prepare("UPDATE flow SET data = ? WHERE id = ?").bind(JSON.stringify(danglingRef()), id).run();

    const build = await (await call(`/workflow/v1/protocol/build/${id}`)).text();
    expect(build).toContain(`"message":"22300: `);
    expect(build).toContain(`node ${END}: input ghost: Node not found text-joiner::gone`);

    const run = await api("/workflow/v1/debug/chat/completions", {
      flow_id: id,
      stream: false,
      parameters: { AGENT_USER_INPUT: "hi", score: 1 },
    });
    expect(run.code).toBe(22300);
    expect(run.message).toContain(END);
  });
});
