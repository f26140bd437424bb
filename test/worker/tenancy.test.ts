// Tenancy (issue 13 item 1): every route the app registers × {no credentials, wrong secret, another app's valid
// credentials} × {gateway, key, hmac} reaches nothing of app A. The route list is read from the Hono app itself, so
// a new route without an entry in ROUTES fails the first test. Afterwards A's flow, comparison, hook and paused run
// are checked untouched, and A itself can still use every one of them.
import { createExecutionContext, env, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { RunObject, RunSummary } from "../../src/durable/run-object.ts";
import { SseParser } from "../../src/engine/sse.ts";
import { app } from "../../src/worker/app.ts";
import { hmacSignature, sha256Digest } from "../../src/worker/auth.ts";
import type { Env } from "../../src/worker/env.ts";
import { newRunId, RUN_ID_DIGITS } from "../../src/worker/ids.ts";
import { runObject } from "../../src/worker/owner.ts";
import { optionQuestionFlow } from "../support/dsl-builder.ts";
import { seedApps, testEnv } from "../support/seed.ts";

type Mode = "gateway" | "key" | "hmac";
type Caller = "none" | "wrong-secret" | "other-app";

const A = { alias: "d1590f30", key: "demo-key", secret: "demo-secret" };
const B = { alias: "other01", key: "other-key", secret: "other-secret" };
const ns = (env as unknown as { RUN: DurableObjectNamespace<RunObject> }).RUN;

interface Ids {
  flowId: string;
  pausedRun: string;
  hookId: string;
  fileName: string;
}

interface Probe {
  method: string;
  path: string;
  body?: unknown;
  /** a multipart body instead of JSON */
  form?: FormData;
}

/**
 * One entry per registered route (method and Hono path): the request another app would send to reach A's data, or
 * `public` with the reason the route needs no credentials. Both prefixes share entries (the path below uses the
 * registered prefix).
 */
type Entry =
  | {
      probe: (ids: Ids, prefix: string) => Probe;
      /**
       * For routes that rightly answer any authenticated app with its own data (lists, uploads): whether the answer
       * reached anything of A's. Without it, any success counts as an access.
       */
      leaks?: (text: string, ids: Ids) => Promise<boolean>;
    }
  | { public: string };

/** an upload stored under A's name (the answer's file URL, looked up in R2) */
const storedForA = async (text: string): Promise<boolean> => {
  const data = (JSON.parse(text) as { data?: { url?: string; urls?: string[] } }).data;
  for (const url of [data?.url, ...(data?.urls ?? [])]) {
    if (!url) continue;
    const obj = await testEnv.FILES.head(new URL(url).pathname.split("/").pop() ?? "");
    if (!obj || obj.customMetadata?.app === A.alias) return true;
  }
  return false;
};

const ROUTES: Record<string, Entry> = {
  "GET /health": { public: "the liveness check carries no data" },
  "GET /openapi.json": { public: "the API's description, the same for every caller (issue 14)" },
  "GET /docs": { public: "a page that renders /openapi.json" },
  "GET /workflow/v1/files/:name": {
    public: "file URLs are capabilities of 122 random bits that services fetch anonymously (spec §8.2)",
  },
  "HEAD /workflow/v1/files/:name": { public: "as GET" },
  "POST /hooks/:id": {
    public: "a webhook delivery authenticates by its own signature or token (tested below and in hooks.test.ts)",
  },

  "POST {p}/protocol/add": {
    probe: (_ids, p) => ({
      method: "POST",
      path: `${p}/protocol/add`,
      body: { app_id: A.alias, name: "planted", data: {} },
    }),
  },
  "POST {p}/protocol/get": {
    probe: (ids, p) => ({ method: "POST", path: `${p}/protocol/get`, body: { flow_id: ids.flowId } }),
  },
  "POST {p}/protocol/update/:flow_id": {
    probe: (ids, p) => ({
      method: "POST",
      path: `${p}/protocol/update/${ids.flowId}`,
      body: { name: "renamed by B", app_id: A.alias },
    }),
  },
  "POST {p}/protocol/delete": {
    probe: (ids, p) => ({
      method: "POST",
      path: `${p}/protocol/delete`,
      body: { flow_id: ids.flowId, app_id: A.alias },
    }),
  },
  "POST {p}/protocol/build/:flow_id": {
    probe: (ids, p) => ({ method: "POST", path: `${p}/protocol/build/${ids.flowId}` }),
  },
  "POST {p}/protocolcompare/save": {
    probe: (ids, p) => ({
      method: "POST",
      path: `${p}/protocolcompare/save`,
      body: { flow_id: ids.flowId, version: "cmp-b", data: {} },
    }),
  },
  "POST {p}/protocol/compare/save": {
    probe: (ids, p) => ({
      method: "POST",
      path: `${p}/protocol/compare/save`,
      body: { flow_id: ids.flowId, version: "cmp-b", data: {} },
    }),
  },
  "DELETE {p}/protocol/compare/delete": {
    probe: (ids, p) => ({
      method: "DELETE",
      path: `${p}/protocol/compare/delete`,
      body: { flow_id: ids.flowId, version: "cmp-a" },
    }),
  },
  "GET {p}/get_flow_info/:flow_id": {
    probe: (ids, p) => ({ method: "GET", path: `${p}/get_flow_info/${ids.flowId}` }),
  },
  "POST {p}/node/debug": {
    probe: (ids, p) => ({
      method: "POST",
      path: `${p}/node/debug`,
      body: { id: ids.flowId, name: "n", data: { nodes: [{}], edges: [] } },
    }),
  },
  "POST {p}/code/run": {
    probe: (_ids, p) => ({
      method: "POST",
      path: `${p}/code/run`,
      body: { code: "function main(){return {}}", app_id: A.alias, uid: "u", codeLanguage: "js" },
    }),
  },
  "POST {p}/run": {
    probe: (_ids, p) => ({
      method: "POST",
      path: `${p}/run`,
      body: { code: "function main(){return {}}", app_id: A.alias, uid: "u", codeLanguage: "js" },
    }),
  },
  "POST /workflow/v1/chat/completions": {
    probe: (ids) => ({
      method: "POST",
      path: "/workflow/v1/chat/completions",
      body: { flow_id: ids.flowId, stream: false, parameters: { AGENT_USER_INPUT: "x" } },
    }),
  },
  "POST /workflow/v1/debug/chat/completions": {
    probe: (ids) => ({
      method: "POST",
      path: "/workflow/v1/debug/chat/completions",
      body: { flow_id: ids.flowId, parameters: { AGENT_USER_INPUT: "x" } },
    }),
  },
  "POST /workflow/v1/resume": {
    probe: (ids) => ({ method: "POST", path: "/workflow/v1/resume", body: { event_id: ids.pausedRun, content: "B" } }),
  },
  "POST /workflow/v1/debug/resume": {
    probe: (ids) => ({
      method: "POST",
      path: "/workflow/v1/debug/resume",
      body: { event_id: ids.pausedRun, content: "B" },
    }),
  },
  "POST /workflow/v1/cancel": {
    probe: (ids) => ({ method: "POST", path: "/workflow/v1/cancel", body: { event_id: ids.pausedRun } }),
  },
  // an upload creates the caller's own file; it must never be recorded as A's
  "POST /workflow/v1/upload_file": {
    probe: () => ({ method: "POST", path: "/workflow/v1/upload_file", form: upload("file") }),
    leaks: storedForA,
  },
  "POST /workflow/v1/upload_files": {
    probe: () => ({ method: "POST", path: "/workflow/v1/upload_files", form: upload("files") }),
    leaks: storedForA,
  },
  "POST /v1/publish": {
    probe: (ids) => ({
      method: "POST",
      path: "/v1/publish",
      body: { flow_id: ids.flowId, release_status: 3, plat: 1 },
    }),
  },
  "POST /v1/auth": {
    probe: (ids) => ({ method: "POST", path: "/v1/auth", body: { flow_id: ids.flowId, app_id: B.alias } }),
  },
  "GET /runs/:id": { probe: (ids) => ({ method: "GET", path: `/runs/${ids.pausedRun}` }) },
  "GET /runs/:id/events": { probe: (ids) => ({ method: "GET", path: `/runs/${ids.pausedRun}/events` }) },
  "POST /runs/:id/cancel": { probe: (ids) => ({ method: "POST", path: `/runs/${ids.pausedRun}/cancel` }) },
  // lists answer every app with its own rows: none of A's may appear
  "GET /flows/:id/runs": {
    probe: (ids) => ({ method: "GET", path: `/flows/${ids.flowId}/runs` }),
    leaks: async (text) => !/"runs":\[\]/.test(text) && /"runs":\[/.test(text),
  },
  "GET /flows": {
    probe: () => ({ method: "GET", path: "/flows" }),
    leaks: async (text, ids) => text.includes(ids.flowId),
  },
  "POST /hooks": { probe: (ids) => ({ method: "POST", path: "/hooks", body: { flow_id: ids.flowId, mode: "async" } }) },
  "GET /hooks": {
    probe: (ids) => ({ method: "GET", path: `/hooks?flow_id=${ids.flowId}` }),
    leaks: async (text, ids) => text.includes(ids.hookId),
  },
  "GET /hooks/:id": { probe: (ids) => ({ method: "GET", path: `/hooks/${ids.hookId}` }) },
  "POST /hooks/:id/rotate": {
    probe: (ids) => ({ method: "POST", path: `/hooks/${ids.hookId}/rotate`, body: { keep_previous_seconds: 0 } }),
  },
  "DELETE /hooks/:id": { probe: (ids) => ({ method: "DELETE", path: `/hooks/${ids.hookId}` }) },
};

function upload(field: string): FormData {
  const form = new FormData();
  form.append(field, new File(["hello"], "note.txt", { type: "text/plain" }));
  return form;
}

/** The app's own routes, as Hono registered them (middleware, registered for every method, left out). */
function registeredRoutes(): { method: string; path: string }[] {
  const seen = new Map<string, { method: string; path: string }>();
  for (const r of app.routes) {
    if (r.method === "ALL") continue;
    seen.set(`${r.method} ${r.path}`, { method: r.method, path: r.path });
  }
  return [...seen.values()];
}

/** The ROUTES key of a registered route: the two Astron prefixes share one entry. */
function entryKey(method: string, path: string): string {
  return `${method} ${path.replace(/^\/(workflow|sparkflow)\/v1(?=\/(protocol|protocolcompare|get_flow_info|node|code|run)\b)/, "{p}")}`;
}

function prefixOf(path: string): string {
  return /^\/sparkflow\/v1/.test(path) ? "/sparkflow/v1" : "/workflow/v1";
}

async function sign(
  secret: string,
  key: string,
  method: string,
  url: URL,
  body: ArrayBuffer,
): Promise<Record<string, string>> {
  const date = new Date().toUTCString();
  const digest = await sha256Digest(body);
  const signature = await hmacSignature(
    secret,
    `host: ${url.host}\ndate: ${date}\n${method} ${url.pathname}${url.search} HTTP/1.1\ndigest: ${digest}`,
  );
  return {
    host: url.host,
    date,
    digest,
    authorization: `hmac-auth api_key="${key}", algorithm="hmac-sha256", headers="host date request-line digest", signature="${signature}"`,
  };
}

/** Sends a probe as `who` in `mode`, through the real app with AUTH_MODE switched for the request. */
async function send(probe: Probe, mode: Mode, who: Caller | "owner"): Promise<Response> {
  const url = new URL(`http://astron.test${probe.path}`);
  let body: BodyInit | undefined;
  const headers: Record<string, string> = {};
  if (probe.form) {
    const r = new Request(url, { method: "POST", body: probe.form });
    headers["content-type"] = r.headers.get("content-type") ?? "";
    body = await r.arrayBuffer();
  } else if (probe.body !== undefined) {
    headers["content-type"] = "application/json";
    body = new TextEncoder().encode(JSON.stringify(probe.body)).buffer as ArrayBuffer;
  }
  const creds = who === "owner" ? A : B;
  if (who !== "none") {
    const secret = who === "wrong-secret" ? "not-the-secret" : creds.secret;
    if (mode === "gateway") {
      // a gateway deployment trusts the header: "wrong secret" is a name no app has
      headers["x-consumer-username"] = who === "wrong-secret" ? "no-such-app" : creds.alias;
    } else if (mode === "key") {
      headers.authorization = `${creds.key}:${secret}`;
      headers["x-consumer-username"] = who === "wrong-secret" ? A.alias : creds.alias;
    } else {
      Object.assign(
        headers,
        await sign(secret, creds.key, probe.method, url, body instanceof ArrayBuffer ? body : new ArrayBuffer(0)),
      );
      if (who === "wrong-secret") headers["x-consumer-username"] = A.alias;
    }
  }
  const ctx = createExecutionContext();
  const res = await app.fetch(
    new Request(url, { method: probe.method, headers, body }),
    { ...(env as unknown as Env), AUTH_MODE: mode },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

/** What a response granted: an Astron envelope or frame with code 0, or a 2xx of the project's own routes. */
async function granted(res: Response): Promise<{ ok: boolean; what: string }> {
  const type = res.headers.get("content-type") ?? "";
  const text = await res.text();
  if (res.status >= 400) return { ok: false, what: `${res.status}` };
  if (type.includes("text/event-stream")) {
    // chat frames carry `code`; build's failure frame is `{"message": "<code>: <text>"}` (spec §1.5.8)
    const frames = new SseParser()
      .push(`${text}\n\n`)
      .map((e) => JSON.parse(e.data) as { code?: number; message?: string });
    const failed = frames.some((f) => (f.code ?? 0) !== 0 || /^\d+: /.test(f.message ?? ""));
    return { ok: !failed, what: text.slice(0, 200) };
  }
  const parsed = JSON.parse(text) as { code?: number };
  return { ok: parsed.code === 0 || parsed.code === undefined, what: text.slice(0, 200) };
}

async function ownerCall(probe: Probe): Promise<Record<string, unknown>> {
  const res = await send(probe, "gateway", "owner");
  return (await res.json()) as Record<string, unknown>;
}

let ids: Ids;

beforeAll(async () => {
  await seedApps();
  const add = await ownerCall({
    method: "POST",
    path: "/workflow/v1/protocol/add",
    body: { app_id: A.alias, name: "A's flow", data: optionQuestionFlow() },
  });
  const flowId = (add.data as { flow_id: string }).flow_id;
  const tenant = { "content-type": "application/json", "x-consumer-username": "tenant01" };
  for (const [path, body] of [
    ["/v1/publish", { flow_id: flowId, release_status: 1, plat: 1 }],
    ["/v1/auth", { flow_id: flowId, app_id: A.alias }],
  ] as const) {
    const ctx = createExecutionContext();
    const r = await app.fetch(
      new Request(`http://astron.test${path}`, { method: "POST", headers: tenant, body: JSON.stringify(body) }),
      env as unknown as Env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(((await r.json()) as { code: number }).code).toBe(0);
  }
  expect(
    (
      await ownerCall({
        method: "POST",
        path: "/workflow/v1/protocol/compare/save",
        body: { flow_id: flowId, version: "cmp-a", data: {} },
      })
    ).code,
  ).toBe(0);
  const started = await send(
    {
      method: "POST",
      path: "/workflow/v1/debug/chat/completions",
      body: { flow_id: flowId, parameters: { AGENT_USER_INPUT: "x" } },
    },
    "gateway",
    "owner",
  );
  const frames = new SseParser()
    .push(`${await started.text()}\n\n`)
    .map((e) => JSON.parse(e.data) as { event_data?: { event_id: string } });
  const pausedRun = frames.at(-1)?.event_data?.event_id ?? "";
  const hook = await (
    await send({ method: "POST", path: "/hooks", body: { flow_id: flowId, mode: "async" } }, "gateway", "owner")
  ).json();
  const up = await ownerCall({ method: "POST", path: "/workflow/v1/upload_file", form: upload("file") });
  ids = {
    flowId,
    pausedRun,
    hookId: (hook as { hook_id: string }).hook_id,
    fileName: new URL((up.data as { url: string }).url).pathname.split("/").pop() ?? "",
  };
  expect(ids.pausedRun).toMatch(/^\d{39}$/);
});

describe("every route × every way in × every auth mode reaches nothing of another app", () => {
  it("has an entry for every route the app registers, and no entry for a route it does not", () => {
    const keys = new Set(registeredRoutes().map((r) => entryKey(r.method, r.path)));
    const missing = [...keys].filter((k) => !(k in ROUTES));
    expect(missing, "routes without a tenancy entry (add one to ROUTES)").toEqual([]);
    expect(
      Object.keys(ROUTES).filter((k) => !keys.has(k)),
      "entries for routes the app no longer has",
    ).toEqual([]);
  });

  for (const mode of ["gateway", "key", "hmac"] as const) {
    for (const who of ["none", "wrong-secret", "other-app"] as const) {
      it(`${mode} mode, ${who}: 0 accesses`, async () => {
        const accesses: string[] = [];
        for (const route of registeredRoutes()) {
          const entry = ROUTES[entryKey(route.method, route.path)];
          if (!entry || "public" in entry) continue;
          const probe = entry.probe(ids, prefixOf(route.path));
          const res = await send(probe, mode, who);
          if (entry.leaks && res.status < 400) {
            const text = await res.text();
            if (await entry.leaks(text, ids)) accesses.push(`${probe.method} ${probe.path}: ${text.slice(0, 200)}`);
            continue;
          }
          const verdict = await granted(res);
          if (verdict.ok) accesses.push(`${probe.method} ${probe.path}: ${verdict.what}`);
        }
        expect(accesses).toEqual([]);
      });
    }
  }

  it("refuses a webhook delivery without its signature", async () => {
    const res = await send(
      { method: "POST", path: `/hooks/${ids.hookId}`, body: { AGENT_USER_INPUT: "x" } },
      "gateway",
      "other-app",
    );
    expect(res.status).toBe(401);
  });

  it("left A's flow, comparison, hook and paused run as they were, and A still reaches all of them", async () => {
    const got = await ownerCall({ method: "POST", path: "/workflow/v1/protocol/get", body: { flow_id: ids.flowId } });
    expect(got).toMatchObject({ code: 0, data: { name: "A's flow", app_id: A.alias } });
    const versions = await testEnv.DB.prepare("SELECT version, app_id FROM flow WHERE group_id = ?")
      .bind(ids.flowId)
      .all<{ version: string; app_id: string }>();
    expect(versions.results.map((r) => r.version).sort()).toEqual(["-1", "cmp-a"].sort());
    expect(new Set(versions.results.map((r) => r.app_id))).toEqual(new Set([A.alias]));
    // nothing was planted under A's name
    const planted = await testEnv.DB.prepare("SELECT count(*) AS n FROM flow WHERE name = 'planted'").first<{
      n: number;
    }>();
    expect(planted?.n).toBe(0);
    const hook = await send({ method: "GET", path: `/hooks/${ids.hookId}` }, "gateway", "owner");
    expect(hook.status).toBe(200);
    const run = (await ns.get(ns.idFromName(ids.pausedRun)).summary(A.alias)) as RunSummary | null;
    expect(run?.status).toBe("interrupt");
    // A answers its own question
    const resumed = await send(
      { method: "POST", path: "/workflow/v1/debug/resume", body: { event_id: ids.pausedRun, content: "A" } },
      "gateway",
      "owner",
    );
    expect(await resumed.text()).toContain('"answer":"yes"');
  });
});

/** A debug run of the owner's flow, paused at its question; its run id. */
async function startOwnersRun(): Promise<string> {
  const started = await send(
    {
      method: "POST",
      path: "/workflow/v1/debug/chat/completions",
      body: { flow_id: ids.flowId, parameters: { AGENT_USER_INPUT: "y" } },
    },
    "gateway",
    "owner",
  );
  const runId = started.headers.get("x-run-id") ?? "";
  await started.text();
  return runId;
}

describe("the run object checks the app itself", () => {
  it("answers another app's summary, attach, resume and cancel as if the run did not exist", async () => {
    const runId = await startOwnersRun();
    const stub = ns.get(ns.idFromName(runId));
    expect(await stub.summary(B.alias)).toBeNull();
    expect(await stub.attach(0, B.alias)).toMatchObject({ ok: false, error: { code: 23900 } });
    expect(await stub.resume({ eventType: "resume", content: "A" }, B.alias)).toMatchObject({
      ok: false,
      error: { code: 23900 },
    });
    expect(await stub.cancel(B.alias)).toBe(false);
    expect(((await stub.summary(A.alias)) as RunSummary | null)?.status).toBe("interrupt");
    // the owner's cancel through the Astron route works
    const cancel = await ownerCall({ method: "POST", path: "/workflow/v1/cancel", body: { event_id: runId } });
    expect(cancel).toMatchObject({ code: 0, data: { cancelled: true } });
    expect(((await stub.summary(A.alias)) as RunSummary | null)?.status).toBe("cancelled");
  });
});

describe("a run's object", () => {
  it("is the object its id names, reached without the name (no name for miniflare's wrapper to write)", async () => {
    const runId = await startOwnersRun();
    const seen = await runInDurableObject(runObject(ns, runId), (_instance, state) => ({
      name: state.id.name,
      sameAsNamed: state.id.equals(ns.idFromName(runId)),
    }));
    // the object named by the run id (runs started before this addressing are reached as before)...
    expect(seen.sameAsNamed).toBe(true);
    // ...but it does not know that name: under `wrangler dev`, miniflare's class wrapper writes an object's name into
    // its SQLite only when `ctx.id.name` is set
    expect(seen.name).toBeUndefined();
    expect(((await ns.get(ns.idFromName(runId)).summary(A.alias)) as RunSummary | null)?.status).toBe("interrupt");
  });
});

describe("run ids", () => {
  it("are 39 digits of 128 random bits: no two alike, no shared prefix from time or a counter", () => {
    const many = Array.from({ length: 2000 }, () => newRunId());
    expect(new Set(many).size).toBe(many.length);
    for (const id of many) expect(id).toMatch(new RegExp(`^\\d{${RUN_ID_DIGITS}}$`));
    // consecutive ids of one isolate share no structure: the leading 10 digits differ almost always
    // (a snowflake's lead with its millisecond time and isolate bits)
    const samePrefix = many.slice(1).filter((id, i) => id.slice(0, 10) === many[i]?.slice(0, 10)).length;
    expect(samePrefix).toBe(0);
    // every decimal digit position varies (no fixed bits)
    for (let pos = 1; pos < RUN_ID_DIGITS; pos++) expect(new Set(many.map((id) => id[pos])).size).toBeGreaterThan(5);
  });
});
