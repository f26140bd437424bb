// The `rpa` node (spec §5.20, services §5) against a fake RPA service speaking real SSE (\r\n, ping comments, one
// data event). The original engine rejected this node type; we run it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGuardedFetch } from "../../src/engine/net.ts";
import type { Frame } from "../../src/engine/types.ts";
import { registry } from "../../src/plugins/index.ts";
import { END, flow, START, type InputDef, type Json, type OutputDef } from "../support/dsl-builder.ts";
import {
  describeFrame,
  runFlow,
  Scripts,
  testRegistry,
  type RunFlowOptions,
  type RunResult,
} from "../support/engine-harness.ts";
import { startFakeRpa, type FakeRpa } from "../support/fake-rpa.ts";

const TOKEN = "rpa-secret-token-7f3c9";

let rpa: FakeRpa;
beforeAll(async () => {
  rpa = await startFakeRpa({ pingMs: 20, pings: 3 });
});
afterAll(async () => {
  await rpa.close();
});

const INPUTS: InputDef[] = [
  { name: "order_date", ref: { node: START, name: "AGENT_USER_INPUT" } },
  { name: "count", literal: "12" },
];
const OUTPUTS: OutputDef[] = [
  { name: "order_date", type: "string" },
  { name: "done", type: "boolean" },
  // the robot answers "12" (a string): a mistyped field gets the type default
  { name: "count", type: "integer" },
  { name: "report_url", type: "string" },
];

function rpaFlow(
  projectId: string,
  retry?: Record<string, Json>,
  header: Record<string, Json> = { apiKey: TOKEN },
): unknown {
  return flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
    .node("rpa::r", {
      params: { projectId, source: "xiaowu", header },
      inputs: INPUTS,
      outputs: OUTPUTS,
      ...(retry ? { retry } : {}),
    })
    .node(END, {
      params: { outputMode: 0 },
      inputs: OUTPUTS.map((o) => ({ name: o.name, type: o.type ?? "string", ref: { node: "rpa::r", name: o.name } })),
    })
    .edge(START, "rpa::r")
    .edge("rpa::r", END)
    .build();
}

const logs: string[] = [];
const opts = (over: RunFlowOptions = {}): RunFlowOptions => ({
  registry,
  fetch: createGuardedFetch(fetch, { allowPrivate: true }),
  config: { RPA_URL: rpa.url },
  parameters: { AGENT_USER_INPUT: "2026-11-29" },
  log: (line) => logs.push(line),
  ...over,
});

/** The token reached the service but never a frame or a log line. */
function expectNoToken(r: RunResult): void {
  expect(JSON.stringify(r.frames)).not.toContain(TOKEN);
  expect(JSON.stringify(r.outcome)).not.toContain(TOKEN);
  expect(logs.join("\n")).not.toContain(TOKEN);
}

async function failure(
  projectId: string,
  retry?: Record<string, Json>,
  o: RunFlowOptions = {},
): Promise<{ code: number; message: string }> {
  const r = await runFlow(rpaFlow(projectId, retry), opts(o));
  expect(r.outcome.status).toBe("failed");
  expectNoToken(r);
  return r.outcome.status === "failed" ? r.outcome.error : { code: -1, message: "" };
}

describe("rpa node", () => {
  it("runs the robot with the bearer token and maps its output map to the declared outputs", async () => {
    const r = await runFlow(rpaFlow("ok"), opts());
    expect(r.outcome).toMatchObject({
      status: "completed",
      outputs: { order_date: "2026-11-29", done: true, count: 0, report_url: "" },
    });
    expect(rpa.requests().at(-1)).toEqual({
      authorization: `Bearer ${TOKEN}`,
      body: {
        project_id: "ok",
        exec_position: "EXECUTOR",
        params: { order_date: "2026-11-29", count: "12" },
        sid: "spf-test",
      },
    });
    expectNoToken(r);
  });

  it("a robot that failed on the platform is 55002, one that could not be created 55001, with the service's message", async () => {
    const failed = await failure("fail");
    expect(failed.code).toBe(55002);
    expect(failed.message).toContain("robot step 3 failed");
    expect((await failure("create_fail")).code).toBe(55001);
  });

  it("a robot that timed out on the platform is 55003", async () => {
    const err = await failure("timeout");
    expect(err.code).toBe(55003);
    expect(err.message).toContain("Timeout error");
  });

  it("a stream that ends without its data event, and an HTTP 500, are 22302", async () => {
    const cut = await failure("abort");
    expect(cut.code).toBe(22302);
    expect(cut.message).toContain("ended without a result");
    rpa.failNext(1);
    const http = await failure("ok");
    expect(http.code).toBe(22302);
    expect(http.message).toContain("HTTP 500");
  });

  it("a robot that runs past retryConfig.timeout is cut: 22302 Node execution timeout", async () => {
    const t0 = Date.now();
    const err = await failure("slow", { shouldRetry: true, timeout: 0.3, maxRetries: 0, errorStrategy: 0 });
    expect(err.code).toBe(22302);
    expect(err.message).toContain("Node execution timeout");
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it("without an apiKey the node fails before calling the service", async () => {
    const before = rpa.requests().length;
    const { outcome } = await runFlow(rpaFlow("ok", undefined, { other: "x" }), opts());
    expect(outcome).toMatchObject({ status: "failed", error: { code: 22302 } });
    expect(rpa.requests().length).toBe(before);
  });

  it("refuses an RPA service at a private address when private addresses are not allowed", async () => {
    const before = rpa.requests().length;
    const err = await failure("ok", undefined, { fetch: createGuardedFetch(fetch, { allowPrivate: false }) });
    expect(err.code).toBe(22302);
    expect(err.message).toContain("refused to call a private address");
    expect(rpa.requests().length).toBe(before);
  });
});

describe("rpa node: retries and error strategies (spec §6.7)", () => {
  it("retries after an HTTP 500 and succeeds on the second attempt", async () => {
    const before = rpa.requests().length;
    rpa.failNext(1);
    const r = await runFlow(rpaFlow("ok", { shouldRetry: true, maxRetries: 2, errorStrategy: 0, timeout: 5 }), opts());
    expect(r.outcome).toMatchObject({ status: "completed", outputs: { done: true } });
    expect(rpa.requests().length - before).toBe(2);
    expect(r.frames.filter((f) => describeFrame(f) === "rpa::r:start")).toHaveLength(1);
  });

  it("strategy 0 aborts with the robot's code after maxRetries + 1 attempts", async () => {
    const before = rpa.requests().length;
    const err = await failure("fail", { shouldRetry: true, maxRetries: 1, errorStrategy: 0, timeout: 5 });
    expect(err.code).toBe(55002);
    expect(rpa.requests().length - before).toBe(2);
  });

  it("strategy 1 gives the custom output and the error in error_outputs", async () => {
    const retry = {
      shouldRetry: true,
      maxRetries: 0,
      errorStrategy: 1,
      timeout: 5,
      customOutput: { order_date: "n/a", done: false, count: -1, report_url: "" },
    };
    const r = await runFlow(rpaFlow("timeout", retry), opts());
    expect(r.outcome).toMatchObject({ status: "completed", outputs: { order_date: "n/a", count: -1 } });
    const end = r.frames.find((f) => describeFrame(f) === "rpa::r:end") as Frame;
    expect(end.workflow_step?.node?.error_outputs).toMatchObject({ errorCode: 55003 });
    expectNoToken(r);
  });

  it("strategy 2 takes only the fail branch", async () => {
    const scripts = new Scripts();
    const dsl = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("rpa::r", {
        params: { projectId: "fail", header: { apiKey: TOKEN } },
        inputs: INPUTS,
        outputs: OUTPUTS,
        retry: { shouldRetry: true, maxRetries: 0, errorStrategy: 2, timeout: 5 },
      })
      .node("noop::ok")
      .node("noop::failed")
      .node(END, {
        params: { outputMode: 0 },
        inputs: [{ name: "err", type: "integer", ref: { node: "rpa::r", name: "errorCode" } }],
      })
      .edge(START, "rpa::r")
      .edge("rpa::r", "noop::ok")
      .edge("rpa::r", "noop::failed", "intent_chain|fail_one_of::f1")
      .edge("noop::ok", END)
      .edge("noop::failed", END)
      .build();
    const r = await runFlow(dsl, opts({ registry: testRegistry(scripts), scripts }));
    expect(r.outcome).toMatchObject({ status: "completed", outputs: { err: 55002 } });
    expect(scripts.callsOf("noop::ok")).toBe(0);
    expect(scripts.callsOf("noop::failed")).toBe(1);
    expectNoToken(r);
  });
});
