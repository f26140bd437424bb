// The JavaScript code node inside workerd: the QuickJS WebAssembly module loads from the bundle (no compiling from
// bytes), runs a guest, stops an infinite loop at its deadline, and serves the code-run route and a flow run by
// the RunObject.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createJsSandbox } from "../../src/durable/js-sandbox.ts";

async function post(path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await SELF.fetch(`http://astron.test${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Consumer-Username": "d1590f30" },
    body: JSON.stringify(body),
  });
  return (await res.json()) as Record<string, unknown>;
}

const limits = (timeoutMs: number) => ({ timeoutMs, memoryBytes: 16 << 20, signal: new AbortController().signal });

describe("QuickJS sandbox in workerd", () => {
  it("loads and runs a guest that returns its input, with captured logs and no host globals", async () => {
    const sandbox = createJsSandbox();
    const r = await sandbox.runJs(
      "function main(args) { console.log('in workerd'); return { ...args, host: [typeof fetch, typeof caches, typeof navigator, typeof setTimeout].join() }; }",
      { a: 1, s: "x" },
      limits(1000),
    );
    expect(r).toEqual({
      value: { a: 1, s: "x", host: "undefined,undefined,undefined,undefined" },
      logs: "in workerd\n",
    });
  });

  it("stops an infinite loop within 10% of its limit with 21603", async () => {
    const sandbox = createJsSandbox();
    const t0 = Date.now();
    await expect(sandbox.runJs("function main() { while (true) {} }", {}, limits(500))).rejects.toMatchObject({
      code: 21603,
    });
    // local workerd's clock advances while code runs (the edge's does not: the sandbox then counts interrupt
    // polls, tested on Node with a frozen clock); read it after a timer so it has caught up either way
    await new Promise((r) => setTimeout(r, 0));
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(450);
    expect(took).toBeLessThan(550);
  });

  it("gives the isolate back while a guest busy-loops: a timer due meanwhile fires before the guest is stopped (issue 13)", async () => {
    const sandbox = createJsSandbox();
    let firedAt = 0;
    const timer = new Promise<void>((resolve) =>
      setTimeout(() => resolve(void (firedAt = performance.now() || Date.now())), 5),
    );
    let settledAt = 0;
    await expect(
      sandbox
        .runJs("function main() { while (true) {} }", {}, limits(600))
        .finally(() => (settledAt = performance.now() || Date.now())),
    ).rejects.toMatchObject({ code: 21603 });
    await timer;
    expect(firedAt).toBeGreaterThan(0);
    expect(firedAt).toBeLessThan(settledAt);
  });

  it("a cancel that arrives while the guest busy-loops stops it with the run's reason, not at its deadline", async () => {
    const sandbox = createJsSandbox();
    const controller = new AbortController();
    setTimeout(() => controller.abort({ code: 20999, message: "cancelled" }), 20);
    await expect(
      sandbox.runJs(
        "async function main() { for (;;) { await null; } }",
        {},
        { ...limits(3000), signal: controller.signal },
      ),
    ).rejects.toMatchObject({ code: 20999 });
    // a guest that logs through the host while it loops, and one whose logged value loops in its toJSON, are stopped too
    await expect(
      sandbox.runJs(
        "function main() { for (let i = 0; ; i++) console.log({ toJSON() { return i; } }); }",
        {},
        limits(300),
      ),
    ).rejects.toMatchObject({ code: 21603 });
    await expect(
      sandbox.runJs("function main() { console.log({ toJSON() { for (;;) {} } }); }", {}, limits(300)),
    ).rejects.toMatchObject({ code: 21603 });
    await expect(
      sandbox.runJs("async function main(x) { await null; return x; }", { ok: 1 }, limits(1000)),
    ).resolves.toMatchObject({ value: { ok: 1 } });
  });

  it("runs guests one at a time: two busy loops started together both end with 21603 and the sandbox keeps working", async () => {
    const sandbox = createJsSandbox();
    const a = sandbox.runJs("function main() { while (true) {} }", {}, limits(200));
    const b = sandbox.runJs(
      "function main() { let s = 0; for (let i = 0; i < 1e5; i++) s += i; return s; }",
      {},
      limits(2000),
    );
    await expect(a).rejects.toMatchObject({ code: 21603 });
    await expect(b).resolves.toMatchObject({ value: 4999950000 });
  });

  it("stops a memory bomb and deep recursion with 21600, and keeps serving afterwards", async () => {
    const sandbox = createJsSandbox();
    await expect(
      sandbox.runJs(
        "function main() { const a = []; while (true) a.push(new Array(10000).fill(a.length)); }",
        {},
        { ...limits(10_000), memoryBytes: 8 << 20 },
      ),
    ).rejects.toMatchObject({
      code: 21600,
      message: expect.stringContaining("out of memory"),
    });
    await expect(
      sandbox.runJs("function f(n) { return f(n + 1) + 1; } function main() { return f(0); }", {}, limits(2000)),
    ).rejects.toMatchObject({
      code: 21600,
      message: expect.stringContaining("stack overflow"),
    });
    await expect(sandbox.runJs("function main(x) { return x; }", { ok: true }, limits(1000))).resolves.toMatchObject({
      value: { ok: true },
    });
  });

  it("answers the code-run route for JavaScript with the decoded result", async () => {
    const r = await post("/workflow/v1/code/run", {
      code: "function main({ a, b }) { return { sum: a + b }; }",
      variables: [
        { name: "a", content: 2 },
        { name: "b", content: 40 },
      ],
      app_id: "d1590f30",
      uid: "u",
      codeLanguage: "javascript",
    });
    expect(r).toMatchObject({ code: 0, message: "success", data: { sum: 42 } });
    const bad = await post("/workflow/v1/code/run", {
      code: "function nope() {}",
      variables: [],
      app_id: "d1590f30",
      uid: "u",
      codeLanguage: "javascript",
    });
    expect(bad.code).toBe(21601);
  });

  it("runs a JavaScript code node in a flow through the RunObject", async () => {
    const start = "node-start::11111111-1111-4111-8111-111111111111";
    const code = "ifly-code::22222222-2222-4222-8222-222222222222";
    const end = "node-end::33333333-3333-4333-8333-333333333333";
    const data = {
      nodes: [
        {
          id: start,
          data: {
            nodeMeta: { nodeType: "基础节点", aliasName: "Start" },
            inputs: [],
            outputs: [{ id: "o1", name: "AGENT_USER_INPUT", required: true, schema: { type: "string" } }],
            nodeParam: {},
          },
        },
        {
          id: code,
          data: {
            nodeMeta: { nodeType: "工具", aliasName: "Code" },
            inputs: [
              {
                id: "i1",
                name: "input",
                schema: {
                  type: "string",
                  value: { type: "ref", content: { nodeId: start, name: "AGENT_USER_INPUT" } },
                },
              },
            ],
            outputs: [{ id: "o2", name: "shout", schema: { type: "string" } }],
            nodeParam: {
              code: "function main({ input }) { return { shout: input.toUpperCase() + '!' }; }",
              codeLanguage: "javascript",
            },
          },
        },
        {
          id: end,
          data: {
            nodeMeta: { nodeType: "基础节点", aliasName: "End" },
            inputs: [
              {
                id: "i2",
                name: "result",
                schema: { type: "string", value: { type: "ref", content: { nodeId: code, name: "shout" } } },
              },
            ],
            outputs: [],
            nodeParam: { outputMode: 0 },
          },
        },
      ],
      edges: [
        { sourceNodeId: start, targetNodeId: code },
        { sourceNodeId: code, targetNodeId: end },
      ],
    };
    const add = await post("/workflow/v1/protocol/add", { app_id: "", name: "js-code", description: "", data });
    expect(add.code).toBe(0);
    const id = (add.data as { flow_id: string }).flow_id;
    const r = await post("/workflow/v1/debug/chat/completions", {
      flow_id: id,
      stream: false,
      uid: "u",
      parameters: { AGENT_USER_INPUT: "hello" },
    });
    expect(r.code).toBe(0);
    expect(JSON.stringify(r)).toContain("HELLO!");
  });
});
