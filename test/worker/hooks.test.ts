// Webhooks (issue 6) against the worker's real routes in workerd: Standard Webhooks signatures with rotation,
// bearer hooks, idempotency, sync/async/stream modes, limits, form and multipart bodies, and signed callbacks that
// are retried by alarm — also across an object restart.
import { abortAllDurableObjects, SELF } from "cloudflare:test";
import { Webhook } from "standardwebhooks";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { SseParser } from "../../src/engine/sse.ts";
import type { Frame } from "../../src/engine/types.ts";
import { loadFixture } from "../support/fixtures.ts";
import { startLlmEnd } from "../support/llm-flow.ts";
import { seedApps } from "../support/seed.ts";

const TENANT = { "X-Consumer-Username": "tenant01" };
const APP = { "X-Consumer-Username": "d1590f30" };
const OTHER = { "X-Consumer-Username": "other01" };
const receiver = inject("receiverUrl");
const openai = inject("openaiUrl");
const BASE = "http://astron.test";

async function call(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return SELF.fetch(`${BASE}${path}`, {
    method,
    headers: { "Content-Type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
}

async function publishedFlow(data: unknown): Promise<string> {
  const add = (await (
    await call("POST", "/workflow/v1/protocol/add", { app_id: "d1590f30", name: "hooked", description: "", data }, APP)
  ).json()) as { data: { flow_id: string } };
  const id = add.data.flow_id;
  expect(
    await (await call("POST", "/v1/publish", { flow_id: id, release_status: 1, plat: 1 }, TENANT)).json(),
  ).toMatchObject({ code: 0 });
  expect(await (await call("POST", "/v1/auth", { flow_id: id, app_id: "d1590f30" }, TENANT)).json()).toMatchObject({
    code: 0,
  });
  return id;
}

interface RunView {
  status: string;
  lastEventId: number;
  outputs: Record<string, unknown> | null;
  callback: { status: string; attempts: number; log: { attempt: number; status: number; at: number }[] } | null;
}

interface Created {
  hook_id: string;
  url: string;
  secret?: string;
  token?: string;
  callback_secret?: string;
}

async function createHook(body: Record<string, unknown>): Promise<Created> {
  const res = await call("POST", "/hooks", body, APP);
  expect(res.status).toBe(201);
  return (await res.json()) as Created;
}

let msgCounter = 0;
function signed(secret: string, payload: string, opts: { id?: string; at?: number; type?: string } = {}): RequestInit {
  const id = opts.id ?? `msg_${Date.now()}_${++msgCounter}`;
  const at = opts.at ?? Date.now();
  return {
    method: "POST",
    headers: {
      "Content-Type": opts.type ?? "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(at / 1000)),
      "webhook-signature": new Webhook(secret).sign(id, new Date(at), payload),
    },
    body: payload,
  };
}

async function hit(hookId: string, init: RequestInit): Promise<Response> {
  return SELF.fetch(`${BASE}/hooks/${hookId}`, init);
}

async function runStatus(runId: string): Promise<RunView> {
  const res = await call("GET", `/runs/${runId}`, undefined, APP);
  expect(res.status).toBe(200);
  return (await res.json()) as RunView;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 8000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 30));
  }
}

let branchFlow = "";
const mapping = { AGENT_USER_INPUT: "body.user.text", score: "body.score" };

beforeAll(async () => {
  await seedApps();
  branchFlow = await publishedFlow(loadFixture("example-core-if-else-branch.json"));
});

describe("webhook management", () => {
  it("creates a hook whose secret is shown once, lists it without secrets, and hides it from other apps", async () => {
    const created = await createHook({ flow_id: branchFlow, mapping });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/=]{32}$/);
    expect(created.url).toBe(`${BASE}/hooks/${created.hook_id}`);
    const list = (await (await call("GET", `/hooks?flow_id=${branchFlow}`, undefined, APP)).json()) as {
      hooks: Record<string, unknown>[];
    };
    const listed = list.hooks.find((h) => h.hook_id === created.hook_id);
    expect(listed).toMatchObject({ mode: "sync", auth: "signature", mapping, active_secrets: 1, rate_per_minute: 600 });
    expect(JSON.stringify(list)).not.toContain(created.secret);
    expect((await call("GET", `/hooks/${created.hook_id}`, undefined, OTHER)).status).toBe(404);
    expect((await call("DELETE", `/hooks/${created.hook_id}`, undefined, OTHER)).status).toBe(404);
    expect((await call("GET", "/hooks")).status).toBe(401);
  });

  it("refuses a bad definition with 400 and a flow the caller holds no licence for", async () => {
    const bad = await call("POST", "/hooks", { flow_id: branchFlow, mode: "later", mapping: { a: "cookies.x" } }, APP);
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { code: number; message: string };
    expect(body.code).toBe(460);
    expect(body.message).toContain("mode");
    const unlicensed = await call("POST", "/hooks", { flow_id: branchFlow }, OTHER);
    expect(unlicensed.status).toBe(403);
    expect(await unlicensed.json()).toMatchObject({ code: 20004 });
    const missing = await call("POST", "/hooks", { flow_id: "123456789" }, APP);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 20201 });
  });

  it("deletes a hook: it stops answering at once", async () => {
    const h = await createHook({ flow_id: branchFlow, mapping });
    const payload = JSON.stringify({ user: { text: "x" }, score: 1 });
    expect((await hit(h.hook_id, signed(h.secret as string, payload))).status).toBe(200);
    expect((await call("DELETE", `/hooks/${h.hook_id}`, undefined, APP)).status).toBe(200);
    const gone = await hit(h.hook_id, signed(h.secret as string, payload));
    expect(gone.status).toBe(404);
    expect(await gone.json()).toMatchObject({ code: 24001 });
  });
});

describe("signed invocations", () => {
  it("runs the flow with the mapped body and answers with the end node's outputs (sync)", async () => {
    const h = await createHook({ flow_id: branchFlow, mapping });
    const res = await hit(
      h.hook_id,
      signed(h.secret as string, JSON.stringify({ user: { text: "hello" }, score: 12, ignored: true })),
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      code: number;
      run_id: string;
      status: string;
      outputs: Record<string, unknown>;
    };
    expect(body).toMatchObject({ code: 0, status: "completed", outputs: { joined: "FAIL: hello" } });
    expect(res.headers.get("x-run-id")).toBe(body.run_id);
    const run = await runStatus(body.run_id);
    expect(run).toMatchObject({
      status: "completed",
      mode: "open",
      hookId: h.hook_id,
      inputs: { AGENT_USER_INPUT: "hello", score: 12 },
    });
  });

  it("refuses a wrong signature, missing headers and a replayed old timestamp with 401, and starts nothing", async () => {
    const h = await createHook({ flow_id: branchFlow, mapping });
    const payload = JSON.stringify({ user: { text: "x" }, score: 1 });
    const forged = await hit(h.hook_id, signed("whsec_" + btoa("another secret of 24 byte"), payload));
    expect(forged.status).toBe(401);
    expect(await forged.json()).toMatchObject({ code: 24002 });
    const tampered = signed(h.secret as string, payload);
    const bad = await hit(h.hook_id, { ...tampered, body: payload.replace('"x"', '"y"') });
    expect(bad.status).toBe(401);
    expect(
      (await hit(h.hook_id, { method: "POST", body: payload, headers: { "Content-Type": "application/json" } })).status,
    ).toBe(401);
    const old = await hit(h.hook_id, signed(h.secret as string, payload, { at: Date.now() - 10 * 60_000 }));
    expect(old.status).toBe(401);
    expect(((await old.json()) as { message: string }).message).toMatch(/too old/);
    const count = async (): Promise<number> =>
      ((await (await call("GET", `/flows/${branchFlow}/runs?limit=100`, undefined, APP)).json()) as { runs: unknown[] })
        .runs.length;
    // history rows of the earlier tests' runs arrive in batches up to 100 ms late: count once they have settled
    let before = await count();
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 250));
      const again = await count();
      if (again === before) break;
      before = again;
    }
    await hit(h.hook_id, signed("whsec_" + btoa("another secret of 24 byte"), payload));
    await new Promise((r) => setTimeout(r, 250));
    expect(await count()).toBe(before);
  });

  it("returns the same run for a repeated webhook-id, never a second one", async () => {
    const h = await createHook({ flow_id: branchFlow, mapping });
    const payload = JSON.stringify({ user: { text: "once" }, score: 3 });
    const first = await hit(h.hook_id, signed(h.secret as string, payload, { id: "msg_repeat_1" }));
    const a = (await first.json()) as { run_id: string; outputs: unknown };
    const second = await hit(h.hook_id, signed(h.secret as string, payload, { id: "msg_repeat_1" }));
    const b = (await second.json()) as { run_id: string; outputs: unknown };
    expect(b.run_id).toBe(a.run_id);
    expect(b.outputs).toEqual(a.outputs);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    // a different id is a different run
    const third = (await (
      await hit(h.hook_id, signed(h.secret as string, payload, { id: "msg_repeat_2" }))
    ).json()) as { run_id: string };
    expect(third.run_id).not.toBe(a.run_id);
    // the run started once: its start node appears once in its frames
    const events = await call("GET", `/runs/${a.run_id}/events`, undefined, APP);
    const starts = new SseParser()
      .push(`${await events.text()}\n\n`)
      .filter((e) => e.data.includes("node-start::") && e.data.includes('"finish_reason":"stop"'));
    expect(starts).toHaveLength(1);
  });

  it("keeps the previous secret working during a rotation, and drops it when asked", async () => {
    const h = await createHook({ flow_id: branchFlow, mapping });
    const payload = JSON.stringify({ user: { text: "r" }, score: 1 });
    const rotated = (await (
      await call("POST", `/hooks/${h.hook_id}/rotate`, { keep_previous_seconds: 3600 }, APP)
    ).json()) as { secret: string; active_secrets: number };
    expect(rotated.secret).not.toBe(h.secret);
    expect(rotated.active_secrets).toBe(2);
    expect((await hit(h.hook_id, signed(h.secret as string, payload))).status).toBe(200);
    expect((await hit(h.hook_id, signed(rotated.secret, payload))).status).toBe(200);
    // a sender that signs with both (Standard Webhooks allows several signatures) also passes
    const both = signed(rotated.secret, payload);
    const headers = both.headers as Record<string, string>;
    headers["webhook-signature"] = `v1,AAAA ${headers["webhook-signature"]}`;
    expect((await hit(h.hook_id, both)).status).toBe(200);
    const again = (await (
      await call("POST", `/hooks/${h.hook_id}/rotate`, { keep_previous_seconds: 0 }, APP)
    ).json()) as { secret: string; active_secrets: number };
    expect(again.active_secrets).toBe(1);
    expect((await hit(h.hook_id, signed(h.secret as string, payload))).status).toBe(401);
    expect((await hit(h.hook_id, signed(rotated.secret, payload))).status).toBe(401);
    expect((await hit(h.hook_id, signed(again.secret, payload))).status).toBe(200);
  });
});

describe("bearer hooks, modes and bodies", () => {
  it("accepts an unsigned hook only with its bearer token; Idempotency-Key de-duplicates", async () => {
    const h = await createHook({ flow_id: branchFlow, auth: "bearer", mapping });
    expect(h.token).toMatch(/^wht_/);
    expect(h.secret).toBeUndefined();
    const payload = JSON.stringify({ user: { text: "b" }, score: 2 });
    expect(
      (await hit(h.hook_id, { method: "POST", body: payload, headers: { "Content-Type": "application/json" } })).status,
    ).toBe(401);
    expect(
      (await hit(h.hook_id, { method: "POST", body: payload, headers: { Authorization: "Bearer wht_wrong" } })).status,
    ).toBe(401);
    const ok = (auth: string, key?: string): RequestInit => ({
      method: "POST",
      body: payload,
      headers: {
        Authorization: `Bearer ${auth}`,
        "Content-Type": "application/json",
        ...(key ? { "Idempotency-Key": key } : {}),
      },
    });
    const a = (await (await hit(h.hook_id, ok(h.token as string, "k-1"))).json()) as {
      run_id: string;
      outputs: unknown;
    };
    expect(a.outputs).toEqual({ joined: "FAIL: b" });
    const b = (await (await hit(h.hook_id, ok(h.token as string, "k-1"))).json()) as { run_id: string };
    expect(b.run_id).toBe(a.run_id);
    const rotated = (await (await call("POST", `/hooks/${h.hook_id}/rotate`, {}, APP)).json()) as { token: string };
    expect((await hit(h.hook_id, ok(h.token as string))).status).toBe(401);
    expect((await hit(h.hook_id, ok(rotated.token))).status).toBe(200);
  });

  it("async: answers 202 at once with the run's URLs; the run completes on its own", async () => {
    const h = await createHook({ flow_id: branchFlow, auth: "bearer", mode: "async", mapping });
    const res = await hit(h.hook_id, {
      method: "POST",
      body: JSON.stringify({ user: { text: "later" }, score: 99 }),
      headers: { Authorization: `Bearer ${h.token}`, "Content-Type": "application/json" },
    });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { run_id: string; status_url: string; events_url: string };
    expect(body.status_url).toBe(`${BASE}/runs/${body.run_id}`);
    expect(res.headers.get("location")).toBe(body.status_url);
    const done = await until("completion", async () => {
      const s = await runStatus(body.run_id);
      return s.status === "completed" ? s : undefined;
    });
    expect(done).toMatchObject({ outputs: { joined: "" } });
  });

  it("sync: after the hook's deadline answers 202 with the status URL, and the run still finishes", async () => {
    const slow = await publishedFlow(startLlmEnd(openai, { tokens: ["s", "l", "o", "w"], delayMs: 150 }));
    const h = await createHook({ flow_id: slow, auth: "bearer", sync_timeout_ms: 150 });
    const res = await hit(h.hook_id, {
      method: "POST",
      body: JSON.stringify({ AGENT_USER_INPUT: "q" }),
      headers: { Authorization: `Bearer ${h.token}`, "Content-Type": "application/json" },
    });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { run_id: string; status: string };
    expect(body.status).toBe("running");
    const done = await until("completion", async () => {
      const s = await runStatus(body.run_id);
      return s.status === "completed" ? s : undefined;
    });
    expect(done.outputs).toBeTruthy();
  });

  it("stream: answers with the open API's SSE frames", async () => {
    const h = await createHook({ flow_id: branchFlow, auth: "bearer", mode: "stream", mapping });
    const res = await hit(h.hook_id, {
      method: "POST",
      body: JSON.stringify({ user: { text: "s" }, score: 80 }),
      headers: {
        Authorization: `Bearer ${h.token}`,
        "Content-Type": "application/json",
        "Idempotency-Key": "stream-1",
      },
    });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const frames = new SseParser().push(`${await res.text()}\n\n`).map((e) => JSON.parse(e.data) as Frame);
    // the message node's answer, then the end node's (variable mode: its outputs as JSON), as the open API sends them
    expect(frames.map((f) => f.choices[0]?.delta.content ?? "").join("")).toBe('PASS: s{"joined":""}');
    expect(frames.at(-1)?.choices[0]?.finish_reason).toBe("stop");
    // the same key replays the same run's frames
    const again = await hit(h.hook_id, {
      method: "POST",
      body: "{}",
      headers: {
        Authorization: `Bearer ${h.token}`,
        "Content-Type": "application/json",
        "Idempotency-Key": "stream-1",
      },
    });
    expect(again.headers.get("x-run-id")).toBe(res.headers.get("x-run-id"));
    const replay = new SseParser().push(`${await again.text()}\n\n`).map((e) => JSON.parse(e.data) as Frame);
    expect(replay.map((f) => f.choices[0]?.delta.content ?? "").join("")).toBe('PASS: s{"joined":""}');
  });

  it("maps form fields, query parameters and multipart files (stored in R2, passed as URLs)", async () => {
    const h = await createHook({ flow_id: branchFlow, auth: "bearer", mapping: { AGENT_USER_INPUT: "body.text" } });
    const form = await hit(h.hook_id, {
      method: "POST",
      body: "text=from+a+form&text2=x",
      headers: { Authorization: `Bearer ${h.token}`, "Content-Type": "application/x-www-form-urlencoded" },
    });
    expect(await form.json()).toMatchObject({ code: 0, outputs: { joined: "FAIL: from a form" } });
    const q = await createHook({ flow_id: branchFlow, auth: "bearer", mapping: { AGENT_USER_INPUT: "query.who" } });
    const byQuery = await hit(`${q.hook_id}?who=the+query`, {
      method: "POST",
      body: "",
      headers: { Authorization: `Bearer ${q.token}` },
    });
    expect(await byQuery.json()).toMatchObject({ code: 0, outputs: { joined: "FAIL: the query" } });
    const hd = await createHook({
      flow_id: branchFlow,
      auth: "bearer",
      mapping: { AGENT_USER_INPUT: "headers.x-source" },
    });
    const byHeader = await hit(hd.hook_id, {
      method: "POST",
      body: "{}",
      headers: { Authorization: `Bearer ${hd.token}`, "Content-Type": "application/json", "X-Source": "a header" },
    });
    expect(await byHeader.json()).toMatchObject({ code: 0, outputs: { joined: "FAIL: a header" } });
    const fileHook = await createHook({
      flow_id: branchFlow,
      auth: "bearer",
      mapping: { AGENT_USER_INPUT: "body.doc" },
    });
    const multipart = new FormData();
    multipart.append("doc", new File(["file body"], "notes.txt", { type: "text/plain" }));
    const res = await hit(fileHook.hook_id, {
      method: "POST",
      body: multipart,
      headers: { Authorization: `Bearer ${fileHook.token}` },
    });
    const body = (await res.json()) as { outputs: { joined: string } };
    const url = body.outputs.joined.replace("FAIL: ", "");
    expect(url).toMatch(/^http:\/\/astron\.test\/workflow\/v1\/files\/[0-9a-f-]+\.txt$/);
    expect(await (await SELF.fetch(url)).text()).toBe("file body");
  });

  it("limits: 413 over the body limit, 429 with Retry-After over the rate, 415 for an unreadable body", async () => {
    const h = await createHook({
      flow_id: branchFlow,
      auth: "bearer",
      mapping,
      max_body_bytes: 64,
      rate_per_minute: 6,
    });
    const auth = { Authorization: `Bearer ${h.token}`, "Content-Type": "application/json" };
    const big = await hit(h.hook_id, {
      method: "POST",
      body: JSON.stringify({ user: { text: "x".repeat(200) } }),
      headers: auth,
    });
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ code: 24003 });
    // chunked (no Content-Length): still cut at the limit
    const chunks = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 10; i++) c.enqueue(new TextEncoder().encode("x".repeat(20)));
        c.close();
      },
    });
    expect((await hit(h.hook_id, { method: "POST", body: chunks, headers: auth })).status).toBe(413);
    // a declared length is trusted only as far as the limit: a longer body than declared is still refused
    const understated = await hit(h.hook_id, {
      method: "POST",
      body: "x".repeat(200),
      headers: { ...auth, "Content-Length": "10" },
    });
    expect(understated.status).toBe(413);
    const small = JSON.stringify({ user: { text: "x" }, score: 1 });
    expect((await hit(h.hook_id, { method: "POST", body: small, headers: auth })).status).toBe(200);
    const limited = await hit(h.hook_id, { method: "POST", body: small, headers: auth });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(await limited.json()).toMatchObject({ code: 24004 });
    const h2 = await createHook({ flow_id: branchFlow, auth: "bearer", mapping });
    const unreadable = await hit(h2.hook_id, {
      method: "POST",
      body: "{not json",
      headers: { Authorization: `Bearer ${h2.token}`, "Content-Type": "application/json" },
    });
    expect(unreadable.status).toBe(415);
    expect(await unreadable.json()).toMatchObject({ code: 24005 });
    expect((await hit("hk_nope", { method: "POST", body: "{}" })).status).toBe(404);
  });
});

describe("callbacks", () => {
  async function received(
    path: string,
  ): Promise<{ headers: Record<string, string>; body: string; answered: number }[]> {
    return (await (await fetch(`${receiver}/__received${path}`)).json()) as {
      headers: Record<string, string>;
      body: string;
      answered: number;
    }[];
  }

  it("posts the result, signed, and retries with backoff until the receiver takes it; every attempt is recorded", async () => {
    const path = `/cb/retry-${Date.now()}`;
    const h = await createHook({
      flow_id: branchFlow,
      auth: "bearer",
      mode: "async",
      mapping,
      callback_url: `${receiver}${path}?fail=2`,
    });
    expect(h.callback_secret).toMatch(/^whsec_/);
    const res = await hit(h.hook_id, {
      method: "POST",
      body: JSON.stringify({ user: { text: "cb" }, score: 1 }),
      headers: { Authorization: `Bearer ${h.token}`, "Content-Type": "application/json" },
    });
    const { run_id } = (await res.json()) as { run_id: string };
    const run = await until("delivery", async () => {
      const s = await runStatus(run_id);
      return s.callback?.status === "delivered" ? s : undefined;
    });
    const cb = run.callback!;
    expect(cb.attempts).toBe(3);
    expect(cb.log.map((l) => l.status)).toEqual([500, 500, 200]);
    // backoff: the gaps grow
    expect(cb.log[2]!.at - cb.log[1]!.at).toBeGreaterThanOrEqual(cb.log[1]!.at - cb.log[0]!.at - 20);
    const got = await received(path);
    expect(got.map((g) => g.answered)).toEqual([500, 500, 200]);
    // one message id for every attempt; each one verifies with the hook's callback secret
    expect(new Set(got.map((g) => g.headers["webhook-id"])).size).toBe(1);
    const last = got.at(-1)!;
    const verified = new Webhook(h.callback_secret as string).verify(last.body, last.headers) as {
      type: string;
      data: Record<string, unknown>;
    };
    expect(verified).toMatchObject({
      type: "run.completed",
      data: { run_id, hook_id: h.hook_id, status: "completed", outputs: { joined: "FAIL: cb" } },
    });
    expect(last.body).not.toContain(h.callback_secret as string);
  });

  it("gives up after the configured attempts and says so", async () => {
    const path = `/cb/down-${Date.now()}`;
    const h = await createHook({
      flow_id: branchFlow,
      auth: "bearer",
      mapping,
      callback_url: `${receiver}${path}?fail=100`,
    });
    const { run_id } = (await (
      await hit(h.hook_id, {
        method: "POST",
        body: JSON.stringify({ user: { text: "x" }, score: 1 }),
        headers: { Authorization: `Bearer ${h.token}`, "Content-Type": "application/json" },
      })
    ).json()) as { run_id: string };
    const run = await until("giving up", async () => {
      const s = (await runStatus(run_id)) as { callback: { status: string; attempts: number } | null };
      return s.callback?.status === "failed" ? s : undefined;
    });
    expect(run.callback?.attempts).toBe(4);
    expect(await received(path)).toHaveLength(4);
  });

  it("a pending callback survives the object's restart: the alarm delivers it, and the run is not run again", async () => {
    const path = `/cb/restart-${Date.now()}`;
    const h = await createHook({
      flow_id: branchFlow,
      auth: "bearer",
      mapping,
      callback_url: `${receiver}${path}?fail=1`,
    });
    const { run_id } = (await (
      await hit(h.hook_id, {
        method: "POST",
        body: JSON.stringify({ user: { text: "z" }, score: 1 }),
        headers: { Authorization: `Bearer ${h.token}`, "Content-Type": "application/json" },
      })
    ).json()) as { run_id: string };
    await until("first attempt", async () => ((await received(path)).length >= 1 ? true : undefined));
    const framesBefore = (await runStatus(run_id)).lastEventId;
    await abortAllDurableObjects();
    const abortedAt = Date.now();
    const run = await until("delivery after restart", async () => {
      const s = await runStatus(run_id);
      return s.callback?.status === "delivered" ? s : undefined;
    });
    expect(run.callback?.attempts).toBe(2);
    // the second attempt came from the restarted object's alarm, not from before the abort
    expect(run.callback!.log[1]!.at).toBeGreaterThanOrEqual(abortedAt - 5);
    expect(run.lastEventId).toBe(framesBefore);
    expect(run.status).toBe("completed");
  });
});
