// Overload (issue 15): over MAX_RUNS_IN_FLIGHT a new run is refused with 503, Retry-After and 24201 before its run
// object exists — nothing of it is stored, no history row claims it — while the runs already admitted complete;
// a run object that fails because the platform is out of room (open files, memory) is answered the same way. The
// worker's real app in workerd with the cap set low; the runs wait on the fake OpenAI server's slow first byte.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { compile } from "../../src/engine/compile.ts";
import { holdWhile, reserveRun, runsInFlight } from "../../src/durable/in-flight.ts";
import type { RunObject } from "../../src/durable/run-object.ts";
import { registry } from "../../src/plugins/index.ts";
import { isOverload, maxRunsInFlight, DEFAULT_MAX_RUNS_IN_FLIGHT } from "../../src/worker/admission.ts";
import { app } from "../../src/worker/app.ts";
import { startRun } from "../../src/worker/chat.ts";
import type { Env } from "../../src/worker/env.ts";
import { startLlmEnd } from "../support/llm-flow.ts";
import { seedApps } from "../support/seed.ts";

const openai = inject("openaiUrl");
const TENANT = { "X-Consumer-Username": "tenant01" };
const APP = { "X-Consumer-Username": "d1590f30" };
const BASE = "http://astron.test";
/** long enough that the held runs are still in flight when the next request comes */
const SLOW = { tokens: ["a", "b"], firstByteDelayMs: 800 };

async function call(
  method: string,
  path: string,
  body: unknown,
  headers: Record<string, string>,
  cap = "2",
): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(
    new Request(`${BASE}${path}`, {
      method,
      headers: { "Content-Type": "application/json", ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }),
    { ...(env as unknown as Env), MAX_RUNS_IN_FLIGHT: cap },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

let flowId = "";

beforeAll(async () => {
  await seedApps();
  const add = (await (
    await call(
      "POST",
      "/workflow/v1/protocol/add",
      { app_id: "d1590f30", name: "o", description: "", data: startLlmEnd(openai, SLOW) },
      APP,
    )
  ).json()) as { data: { flow_id: string } };
  flowId = add.data.flow_id;
  expect(
    await (await call("POST", "/v1/publish", { flow_id: flowId, release_status: 1, plat: 1 }, TENANT)).json(),
  ).toMatchObject({ code: 0 });
  expect(await (await call("POST", "/v1/auth", { flow_id: flowId, app_id: "d1590f30" }, TENANT)).json()).toMatchObject({
    code: 0,
  });
});

const chat = (cap = "2"): Promise<Response> =>
  call(
    "POST",
    "/workflow/v1/chat/completions",
    { flow_id: flowId, stream: false, parameters: { AGENT_USER_INPUT: "q" } },
    APP,
    cap,
  );

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 8000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function history(): Promise<{ id: string; status: string }[]> {
  const res = await call("GET", `/flows/${flowId}/runs?limit=100`, undefined, APP);
  return ((await res.json()) as { runs: { id: string; status: string }[] }).runs;
}

describe("overload", () => {
  it("refuses a run over MAX_RUNS_IN_FLIGHT with 503, Retry-After and 24201; the admitted runs complete", async () => {
    const before = (await history()).length;
    const held = [chat(), chat()];
    await until("two runs in flight", () => (runsInFlight() >= 2 ? true : undefined));

    const refused = await chat();
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(refused.headers.get("x-run-id")).toBeNull();
    expect(await refused.json()).toMatchObject({ code: 24201, message: "The runtime is at capacity, retry later" });

    const ids: string[] = [];
    for (const res of await Promise.all(held)) {
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ code: 0, choices: [{ delta: { content: "ab" } }] });
      ids.push(res.headers.get("x-run-id") ?? "");
    }
    // every place is given back, and the history holds the two admitted runs and nothing else
    await until("places given back", () => (runsInFlight() === 0 ? true : undefined));
    const rows = await until("history rows", async () => {
      const r = await history();
      return r.length >= before + 2 ? r : undefined;
    });
    expect(rows).toHaveLength(before + 2);
    expect(
      rows
        .slice(0, 2)
        .map((r) => r.id)
        .sort(),
    ).toEqual(ids.sort());
    expect(rows.slice(0, 2).every((r) => r.status === "completed")).toBe(true);

    // with room again, a new run is admitted
    const after = await chat();
    expect(after.status).toBe(200);
    expect(await after.json()).toMatchObject({ code: 0 });
  });

  it("answers a webhook delivery over the cap with 503, Retry-After and 24201, and starts no run", async () => {
    const created = await call("POST", "/hooks", { flow_id: flowId, auth: "bearer", mode: "async" }, APP);
    expect(created.status).toBe(201);
    const hook = (await created.json()) as { hook_id: string; token: string };
    const held = chat("1");
    await until("a run in flight", () => (runsInFlight() >= 1 ? true : undefined));
    const before = (await history()).length;

    const res = await call(
      "POST",
      `/hooks/${hook.hook_id}`,
      { AGENT_USER_INPUT: "q" },
      { Authorization: `Bearer ${hook.token}` },
      "1",
    );
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(await res.json()).toEqual({ code: 24201, message: "The runtime is at capacity, retry later" });

    expect((await held).status).toBe(200);
    await until("places given back", () => (runsInFlight() === 0 ? true : undefined));
    const rows = await until("the held run's row", async () => {
      const r = await history();
      return r.length >= before + 1 ? r : undefined;
    });
    expect(rows).toHaveLength(before + 1);
  });

  it("answers a run object that fails for want of files or memory with 503, not 20805, and gives its place back", async () => {
    const plan = compile(startLlmEnd(openai, SLOW), registry);
    const failing = (message: string): DurableObjectNamespace<RunObject> =>
      ({
        idFromName: (name: string) => name,
        idFromString: (id: string) => id,
        get: () => ({
          startCollect: () => Promise.reject(new Error(message)),
        }),
      }) as unknown as DurableObjectNamespace<RunObject>;
    const start = (message: string): Promise<Response> =>
      startRun({
        ns: failing(message),
        flow: { flowId: "f", version: "1", updatedAt: "" },
        plan,
        body: { flow_id: "f", parameters: {}, uid: "", stream: false, chat_id: "", history: [], version: "", ext: {} },
        appId: "d1590f30",
        mode: "open",
        eventId: "run-that-never-started",
        sid: "s",
        config: {},
        deadlineMs: 60_000,
        frameTimeoutMs: 60_000,
        waitUntil: () => undefined,
        admission: { MAX_RUNS_IN_FLIGHT: "5" },
      });
    const busy = await start("Durable Object storage failed: EMFILE: too many open files");
    expect(busy.status).toBe(503);
    expect(busy.headers.get("retry-after")).toBe("1");
    expect(await busy.json()).toMatchObject({ code: 24201 });
    // any other failure stays the generic internal error (HTTP 200, as the open API answers errors)
    const other = await start("something else broke");
    expect(other.status).toBe(200);
    expect(await other.json()).toMatchObject({ code: 20805 });
    expect(runsInFlight()).toBe(0);
  });

  it("counts a run once: taken over by its object, or given back by the worker, also when reserved twice", async () => {
    const first = reserveRun("same-run");
    const second = reserveRun("same-run"); // a repeated delivery racing the first
    expect(runsInFlight()).toBe(2);
    let end = (): void => undefined;
    const execution = holdWhile("same-run", new Promise<void>((resolve) => (end = resolve)));
    first(); // taken over by the object: the worker's release gives nothing back
    second();
    expect(runsInFlight()).toBe(1);
    end();
    await execution;
    expect(runsInFlight()).toBe(0);
  });

  it("reads MAX_RUNS_IN_FLIGHT with a default and a cap, and tells overload from other failures", () => {
    expect(maxRunsInFlight({})).toBe(DEFAULT_MAX_RUNS_IN_FLIGHT);
    expect(maxRunsInFlight({ MAX_RUNS_IN_FLIGHT: "0" })).toBe(DEFAULT_MAX_RUNS_IN_FLIGHT);
    expect(maxRunsInFlight({ MAX_RUNS_IN_FLIGHT: "x" })).toBe(DEFAULT_MAX_RUNS_IN_FLIGHT);
    expect(maxRunsInFlight({ MAX_RUNS_IN_FLIGHT: "7" })).toBe(7);
    expect(maxRunsInFlight({ MAX_RUNS_IN_FLIGHT: "10000000" })).toBe(100_000);
    expect(isOverload(new Error("accept(): Too many open files (os error 24)"))).toBe(true);
    expect(isOverload(new Error("Durable Object's isolate exceeded its memory limit and was reset."))).toBe(true);
    expect(isOverload(new Error("Durable Object is overloaded. Too many requests queued."))).toBe(true);
    expect(isOverload(new Error("internal error; reference = 5mcfut3s1gfvem58mhl53r5l"))).toBe(true);
    expect(isOverload(new Error("SQLITE_TOOBIG: string or blob too big"))).toBe(false);
    expect(isOverload(new Error("Network connection lost."))).toBe(false);
  });
});
