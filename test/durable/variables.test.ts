// Variable storage outlives the run (spec §5.19): a value set in one run is read by a later run of the same
// (flow, uid, app, chat), through the run objects and the deployment's D1 when no Upstash is configured.
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { Frame } from "../../src/engine/types.ts";
import { END, flow, START } from "../support/dsl-builder.ts";
import { seedApps } from "../support/seed.ts";

const APP = { "X-Consumer-Username": "d1590f30", "Content-Type": "application/json" };

beforeAll(async () => {
  await seedApps();
});

async function post(path: string, body: unknown): Promise<Response> {
  return SELF.fetch(`http://astron.test${path}`, { method: "POST", headers: APP, body: JSON.stringify(body) });
}

async function add(data: unknown): Promise<string> {
  return (
    (await (
      await post("/workflow/v1/protocol/add", { app_id: "d1590f30", name: "v", description: "", data })
    ).json()) as { data: { flow_id: string } }
  ).data.flow_id;
}

describe("node-variable across runs", () => {
  it("reads in a later run what an earlier run stored, per uid", async () => {
    const setter = await add(
      flow()
        .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
        .node("node-variable::set", {
          params: { method: "set", flowId: "shared-vars" },
          inputs: [{ name: "color", ref: { node: START, name: "AGENT_USER_INPUT" } }],
        })
        .node(END, { params: { outputMode: 0 } })
        .edge(START, "node-variable::set")
        .edge("node-variable::set", END)
        .build(),
    );
    const getter = await add(
      flow()
        .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
        .node("node-variable::get", {
          params: { method: "get", flowId: "shared-vars" },
          outputs: [{ name: "color", default: "none" }],
        })
        .node(END, {
          params: { outputMode: 0 },
          inputs: [{ name: "color", ref: { node: "node-variable::get", name: "color" } }],
        })
        .edge(START, "node-variable::get")
        .edge("node-variable::get", END)
        .build(),
    );
    const run = async (id: string, uid: string, input: string): Promise<string> => {
      const r = (await (
        await post("/workflow/v1/debug/chat/completions", {
          flow_id: id,
          uid,
          chat_id: "c1",
          stream: false,
          parameters: { AGENT_USER_INPUT: input },
        })
      ).json()) as Frame;
      expect(r.code).toBe(0);
      return r.choices[0]?.delta.content ?? "";
    };
    await run(setter, "alice", "teal");
    expect(await run(getter, "alice", "")).toBe('{"color":"teal"}');
    expect(await run(getter, "bob", "")).toBe('{"color":"none"}');
  });
});
