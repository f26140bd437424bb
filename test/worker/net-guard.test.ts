// The private-address guard and the network-failure text at the HTTP edge (issue 13 items 2 and 8): the reported
// spellings through node debug's LLM URL with the guard on, the webhook callback_url at creation, and workerd's
// "internal error; reference = …" for an unreachable LLM host. The worker's real app in workerd; the env is the
// test env with ALLOW_PRIVATE_FETCH turned off where the guard is under test.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { app } from "../../src/worker/app.ts";
import type { Env } from "../../src/worker/env.ts";
import { flow } from "../support/dsl-builder.ts";
import { loadFixture } from "../support/fixtures.ts";
import { llmNode } from "../support/llm-flow.ts";
import { seedApps } from "../support/seed.ts";

const openai = inject("openaiUrl");
const port = new URL(openai).port;
const APP = { "X-Consumer-Username": "d1590f30" };

beforeAll(async () => {
  await seedApps();
});

async function call(path: string, body: unknown, allowPrivate: boolean): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(
    new Request(`http://astron.test${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...APP },
      body: JSON.stringify(body),
    }),
    { ...(env as unknown as Env), ALLOW_PRIVATE_FETCH: allowPrivate ? "true" : "false" },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

/** node debug of one LLM node (openai protocol) whose base URL is `base` */
async function debugLlm(base: string, allowPrivate: boolean): Promise<{ code: number; message: string }> {
  const built = flow()
    .node("spark-llm::l", {
      params: llmNode(base, { tokens: ["leaked"] }),
      inputs: [{ name: "input", literal: "hi" }],
      outputs: [{ name: "output" }],
    })
    .build();
  const res = await call(
    "/workflow/v1/node/debug",
    { id: "f1", name: "flow", data: { nodes: built.data.nodes, edges: [] } },
    allowPrivate,
  );
  return (await res.json()) as { code: number; message: string };
}

async function requestsSeen(): Promise<number> {
  return ((await (await fetch(`${openai}/__requests`)).json()) as unknown[]).length;
}

describe("the guard at the edge", () => {
  it("refuses the reported IPv4-mapped loopback spellings as the LLM URL in node debug, and nothing reaches the server", async () => {
    // the same server is reachable by its plain address when private targets are allowed: the refusal is the guard's
    expect((await debugLlm(`http://127.0.0.1:${port}`, true)).code).toBe(0);
    const before = await requestsSeen();
    for (const host of [
      "[::ffff:127.0.0.1]",
      "[0:0:0:0:0:ffff:7f00:1]",
      "127.1",
      "2130706433",
      "localhost.",
      "LOCALHOST",
    ]) {
      const r = await debugLlm(`http://${host}:${port}`, false);
      expect([host, r.code]).toEqual([host, 20380]);
      expect(r.message).toContain("refused to call a private address");
      expect(r.message).not.toContain("leaked");
    }
    expect(await requestsSeen()).toBe(before);
  });

  it("answers an unreachable LLM host with the node's code and 'could not reach', never workerd's internal error", async () => {
    // workerd cannot resolve `localhost.` and throws "internal error; reference = …"
    const r = await debugLlm(`http://localhost.:${port}`, true);
    expect(r.code).toBe(20380);
    expect(r.message).toContain(`could not reach localhost.:${port}`);
    expect(r.message).not.toMatch(/internal error|reference =/);
  });

  it("refuses a file parameter on a private address before its HEAD is sent (23603)", async () => {
    const dsl = loadFixture("example-core-if-else-branch.json") as {
      data: { nodes: { data: { outputs: unknown[] } }[] };
    };
    dsl.data.nodes[0]?.data.outputs.push({
      name: "doc",
      required: true,
      schema: { type: "string" },
      fileType: "file",
      allowedFileType: ["pdf"],
    });
    const add = (await (
      await call("/workflow/v1/protocol/add", { app_id: "d1590f30", name: "files", description: "", data: dsl }, true)
    ).json()) as { data: { flow_id: string } };
    const run = async (allowPrivate: boolean): Promise<number> => {
      const body = {
        flow_id: add.data.flow_id,
        stream: false,
        parameters: { AGENT_USER_INPUT: "a", score: 1, doc: `http://[::ffff:127.0.0.1]:${port}/doc.pdf` },
      };
      return (
        (await (await call("/workflow/v1/debug/chat/completions", body, allowPrivate)).json()) as { code: number }
      ).code;
    };
    // with private targets allowed the HEAD reaches the fake server (which answers it without a length: 23603 too)
    let before = await requestsSeen();
    expect(await run(true)).toBe(23603);
    expect(await requestsSeen()).toBe(before + 1);
    before = await requestsSeen();
    expect(await run(false)).toBe(23603);
    expect(await requestsSeen()).toBe(before);
  });

  it("refuses a private webhook callback_url when the hook is created", async () => {
    for (const url of ["http://[::ffff:127.0.0.1]:9/cb", "https://169.254.169.254/", "http://localhost./cb"]) {
      const res = await call("/hooks", { flow_id: "7364501960118599681", callback_url: url }, false);
      expect([url, res.status]).toEqual([url, 400]);
      expect(await res.json()).toMatchObject({ message: "callback_url: refused to call a private address" });
    }
  });
});
