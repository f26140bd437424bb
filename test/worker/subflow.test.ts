// Sub-flows inside one deployment (spec §5.12, §12.3 item 33): the flow node reaches the same deployment through
// its self service binding — no network hop — in variable and prompt mode.
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { SseParser } from "../../src/engine/sse.ts";
import type { Frame } from "../../src/engine/types.ts";
import { END, flow, START } from "../support/dsl-builder.ts";
import { loadFixture } from "../support/fixtures.ts";
import { seedApps } from "../support/seed.ts";

const APP = { "X-Consumer-Username": "d1590f30", "Content-Type": "application/json" };

beforeAll(async () => {
  await seedApps();
});

async function post(path: string, body: unknown, headers: Record<string, string> = APP): Promise<Response> {
  return SELF.fetch(`http://astron.test${path}`, { method: "POST", headers, body: JSON.stringify(body) });
}

async function published(data: unknown): Promise<string> {
  const id = (
    (await (
      await post("/workflow/v1/protocol/add", { app_id: "d1590f30", name: "c", description: "", data })
    ).json()) as { data: { flow_id: string } }
  ).data.flow_id;
  const tenant = { ...APP, "X-Consumer-Username": "tenant01" };
  await post("/v1/publish", { flow_id: id, release_status: 1, plat: 1 }, tenant);
  await post("/v1/auth", { flow_id: id, app_id: "d1590f30" }, tenant);
  return id;
}

function parent(
  child: string,
  outputs: { name: string }[],
  end: Record<string, unknown>,
  endInputs: { name: string; ref: { node: string; name: string } }[],
): unknown {
  return flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }, { name: "score", type: "integer" }] })
    .node("flow::sub", {
      params: { flowId: child, appId: "d1590f30", uid: "u" },
      inputs: [
        { name: "AGENT_USER_INPUT", ref: { node: START, name: "AGENT_USER_INPUT" } },
        { name: "score", type: "integer", ref: { node: START, name: "score" } },
      ],
      outputs,
    })
    .node(END, { params: end as never, inputs: endInputs })
    .edge(START, "flow::sub")
    .edge("flow::sub", END)
    .build();
}

describe("sub-flow through the self service binding", () => {
  it("parses a variable-mode sub-flow's JSON answer into outputs", async () => {
    const child = await published(loadFixture("example-core-if-else-branch.json"));
    const p = await published(
      parent(child, [{ name: "joined" }], { outputMode: 0 }, [
        { name: "joined", ref: { node: "flow::sub", name: "joined" } },
      ]),
    );
    const r = (await (
      await post("/workflow/v1/chat/completions", {
        flow_id: p,
        stream: false,
        parameters: { AGENT_USER_INPUT: "x", score: 3 },
      })
    ).json()) as Frame;
    expect(r.code).toBe(0);
    expect(r.choices[0]?.delta.content).toBe('{"joined":"FAIL: x"}');
  });

  it("streams a prompt-mode sub-flow's tokens into the caller's end node", async () => {
    const f = loadFixture("example-core-if-else-branch.json") as {
      data: { nodes: { id: string; data: { nodeParam: Record<string, unknown> } }[] };
    };
    (
      f.data.nodes.find((n) => n.id.startsWith("node-end")) as { data: { nodeParam: Record<string, unknown> } }
    ).data.nodeParam = { outputMode: 1, template: "R:{{joined}}", streamOutput: true };
    const child = await published(f);
    const p = await published(
      parent(
        child,
        [{ name: "content" }, { name: "reasoning_content" }],
        { outputMode: 1, template: "<{{content}}>", streamOutput: true },
        [{ name: "content", ref: { node: "flow::sub", name: "content" } }],
      ),
    );
    const text = await (
      await post("/workflow/v1/chat/completions", { flow_id: p, parameters: { AGENT_USER_INPUT: "y", score: 1 } })
    ).text();
    const frames = new SseParser().push(`${text}\n\n`).map((e) => JSON.parse(e.data) as Frame);
    expect(frames.map((x) => x.choices[0]?.delta.content ?? "").join("")).toBe("<R:FAIL: y>");
  });

  it("refuses a flow whose sub-flow node names another app before any node runs (issue 13)", async () => {
    const child = await published(loadFixture("example-core-if-else-branch.json"));
    // other01's own draft, calling d1590f30's published child as d1590f30
    const other = { ...APP, "X-Consumer-Username": "other01" };
    const add = (await (
      await post(
        "/workflow/v1/protocol/add",
        {
          name: "borrow",
          description: "",
          data: parent(child, [{ name: "output" }], { outputMode: 0 }, [
            { name: "output", ref: { node: "flow::sub", name: "output" } },
          ]),
        },
        other,
      )
    ).json()) as { data: { flow_id: string } };
    const r = (await (
      await post(
        "/workflow/v1/debug/chat/completions",
        { flow_id: add.data.flow_id, stream: false, parameters: { AGENT_USER_INPUT: "y", score: 1 } },
        other,
      )
    ).json()) as { code: number; message: string };
    expect(r.code).toBe(20000);
    expect(r.message).toContain("not the flow's own app");
    // the child ran for nobody: no run of it was recorded for d1590f30 after the refusal
    const history = (await (await SELF.fetch(`http://astron.test/flows/${child}/runs`, { headers: APP })).json()) as {
      runs: unknown[];
    };
    expect(history.runs).toEqual([]);
  });
});
