// The OpenAPI document (issue 14) checked with maintained validators on Node, against `wrangler dev`: the document
// served at /openapi.json is a valid OpenAPI 3.1 document (@seriousme/openapi-schema-validator), and for every route
// it describes, at least one success and one error answer of the real runtime validates (ajv, JSON Schema 2020-12)
// against the schema the document gives for that status and content type — SSE answers event by event against
// the frame schema. A status or content type the document does not list fails too.
import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";
import type { ValidateFunction } from "ajv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SseParser } from "../../src/engine/sse.ts";
import { optionQuestionFlow } from "../support/dsl-builder.ts";
import { loadFixture } from "../support/fixtures.ts";
import { seededState, startDev } from "../support/wrangler-dev.ts";

const APP = { "X-Consumer-Username": "d1590f30" };
const TENANT = { "X-Consumer-Username": "tenant01" };
const PARAMS = { AGENT_USER_INPUT: "edge", score: 75 };

let child: ChildProcess | undefined;
let base = "";
let persist = "";

beforeAll(async () => {
  persist = seededState("wrangler-openapi-");
  ({ base, child } = await startDev({ persist, vars: () => ["ALLOW_PRIVATE_FETCH:true"], stdio: "ignore" }));
}, 60_000);

afterAll(async () => {
  child?.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 300));
  if (child && child.exitCode === null) child.kill("SIGKILL");
  rmSync(persist, { recursive: true, force: true });
});

type Json = Record<string, unknown>;
interface MediaType {
  schema?: Json;
  "x-sse-data"?: Json;
}
interface Operation {
  responses: Record<string, { content?: Record<string, MediaType> }>;
}

const joiner = {
  id: "text-joiner::44444444-4444-4444-8444-444444444444",
  data: {
    nodeMeta: { nodeType: "tool", aliasName: "Join" },
    inputs: [{ id: "in-1", name: "input", schema: { type: "string", value: { type: "literal", content: "world" } } }],
    outputs: [{ id: "o-1", name: "output", schema: { type: "string" } }],
    nodeParam: { mode: 0, prompt: "hello {{input}}" },
  },
};

describe("the OpenAPI document against the running worker", () => {
  it("is a valid OpenAPI 3.1 document, and every route's success and error answers match its schemas", async () => {
    const raw = (await (await fetch(`${base}/openapi.json`)).json()) as Json;
    const validator = new Validator();
    const verdict = await validator.validate(raw);
    expect(verdict.errors, "OpenAPI validation errors").toBeUndefined();
    expect(verdict.valid).toBe(true);
    expect(validator.version).toBe("3.1");
    // every $ref replaced by its target, so each response schema compiles on its own
    const doc = validator.resolveRefs() as { paths: Record<string, Record<string, Operation>> };
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictTuples: false });
    const compiled = new Map<Json, ValidateFunction>();
    const check = (schema: Json, value: unknown, where: string): void => {
      let fn = compiled.get(schema);
      if (!fn) compiled.set(schema, (fn = ajv.compile(schema)));
      expect(fn(value), `${where}: ${ajv.errorsText(fn.errors)}\n${JSON.stringify(value).slice(0, 600)}`).toBe(true);
    };

    /** route key (METHOD + document path) → outcomes seen */
    const seen = new Map<string, Set<"success" | "error">>();

    /** Sends a request, validates the answer against the document, records whether it was a success or an error. */
    const call = async (
      route: string,
      path: string,
      init: { body?: unknown; form?: FormData; headers?: Record<string, string> } = {},
    ): Promise<{ res: Response; text: string; json: () => Json; events: Json[] }> => {
      const [method = "", docPath = ""] = route.split(" ");
      const op = doc.paths[docPath]?.[method.toLowerCase()];
      expect(op, `${route} is not in the document`).toBeDefined();
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          ...(init.body !== undefined ? { "Content-Type": "application/json" } : {}),
          ...(init.headers ?? APP),
        },
        body: init.form ?? (init.body === undefined ? undefined : JSON.stringify(init.body)),
      });
      const text = await res.text();
      const answer = op?.responses[String(res.status)];
      expect(answer, `${route}: status ${res.status} not documented (${text.slice(0, 300)})`).toBeDefined();
      const type = (res.headers.get("content-type") ?? "").split(";")[0]?.trim() ?? "";
      const content = answer?.content ?? {};
      const media = content[type] ?? content["*/*"];
      expect(media, `${route} ${res.status}: content type ${type} not documented`).toBeDefined();
      let ok = res.status < 400;
      const events: Json[] = [];
      if (type === "application/json" && method !== "HEAD") {
        const body = JSON.parse(text) as Json;
        check(media?.schema ?? {}, body, `${route} ${res.status}`);
        if (typeof body.code === "number" && body.code !== 0) ok = false;
      } else if (type === "text/event-stream") {
        for (const e of new SseParser().push(`${text}\n\n`)) {
          const data = JSON.parse(e.data) as Json;
          check(media?.["x-sse-data"] ?? {}, data, `${route} ${res.status} event`);
          events.push(data);
          // a chat frame's code, or build's `"<code>: <message>"` failure (spec §1.5.8)
          if ((typeof data.code === "number" && data.code !== 0) || /^\d+: /.test(String(data.message ?? "")))
            ok = false;
        }
        expect(events.length, `${route}: an empty event stream`).toBeGreaterThan(0);
      }
      const outcomes = seen.get(route) ?? new Set();
      outcomes.add(ok ? "success" : "error");
      seen.set(route, outcomes);
      return { res, text, json: () => JSON.parse(text) as Json, events };
    };

    // ---- flows, on both Astron prefixes ------------------------------------------------------------------------
    let flowId = "";
    for (const p of ["/workflow/v1", "/sparkflow/v1"]) {
      const add = await call(`POST ${p}/protocol/add`, `${p}/protocol/add`, {
        body: { app_id: "d1590f30", name: "openapi", data: loadFixture("example-core-if-else-branch.json") },
      });
      const id = String((add.json().data as Json).flow_id);
      flowId ||= id;
      await call(`POST ${p}/protocol/add`, `${p}/protocol/add`, { body: { name: "bad", status: 5 } });
      await call(`POST ${p}/protocol/get`, `${p}/protocol/get`, { body: { flow_id: id } });
      await call(`POST ${p}/protocol/get`, `${p}/protocol/get`, { body: { flow_id: "999" } });
      await call(`POST ${p}/protocol/update/{flow_id}`, `${p}/protocol/update/${id}`, { body: { name: "renamed" } });
      await call(`POST ${p}/protocol/update/{flow_id}`, `${p}/protocol/update/999`, { body: { name: "x" } });
      await call(`POST ${p}/protocol/build/{flow_id}`, `${p}/protocol/build/${id}`);
      await call(`POST ${p}/protocol/build/{flow_id}`, `${p}/protocol/build/999`);
      // one version each: a version is saved once
      for (const [save, version] of [
        ["protocolcompare/save", "c1"],
        ["protocol/compare/save", "c2"],
      ]) {
        await call(`POST ${p}/${save}`, `${p}/${save}`, { body: { flow_id: id, version, data: { a: 1 } } });
        await call(`POST ${p}/${save}`, `${p}/${save}`, { body: { flow_id: id } });
      }
      await call(`DELETE ${p}/protocol/compare/delete`, `${p}/protocol/compare/delete`, {
        body: { flow_id: id, version: "c1" },
      });
      await call(`DELETE ${p}/protocol/compare/delete`, `${p}/protocol/compare/delete`, { body: { flow_id: id } });
      await call(`POST ${p}/node/debug`, `${p}/node/debug`, {
        body: { id: "f1", name: "flow", data: { nodes: [joiner], edges: [] } },
      });
      await call(`POST ${p}/node/debug`, `${p}/node/debug`, { body: {} });
      for (const run of ["code/run", "run"]) {
        await call(`POST ${p}/${run}`, `${p}/${run}`, {
          body: {
            code: "function main({a}) { return {b: a + 1}; }",
            variables: [{ name: "a", content: 1 }],
            app_id: "d1590f30",
            uid: "u",
            codeLanguage: "js",
          },
        });
        await call(`POST ${p}/${run}`, `${p}/${run}`, { body: { app_id: "d1590f30", uid: "u" } });
      }
      // a flow to delete, and a flow that is not there
      await call(`POST ${p}/protocol/delete`, `${p}/protocol/delete`, { body: { flow_id: id } });
      await call(`POST ${p}/protocol/delete`, `${p}/protocol/delete`, { body: { flow_id: id } });
    }
    // the deleted flow of the first prefix was the one to run: add it again
    flowId = String(
      (
        (
          await call("POST /workflow/v1/protocol/add", "/workflow/v1/protocol/add", {
            body: { name: "run me", data: loadFixture("example-core-if-else-branch.json") },
          })
        ).json().data as Json
      ).flow_id,
    );
    const qaId = String(
      (
        (
          await call("POST /workflow/v1/protocol/add", "/workflow/v1/protocol/add", {
            body: { name: "ask", data: optionQuestionFlow() },
          })
        ).json().data as Json
      ).flow_id,
    );

    // ---- publishing -------------------------------------------------------------------------------------------
    for (const id of [flowId, qaId]) {
      await call("POST /v1/publish", "/v1/publish", {
        body: { flow_id: id, release_status: 1, plat: 1 },
        headers: TENANT,
      });
      await call("POST /v1/auth", "/v1/auth", { body: { flow_id: id, app_id: "d1590f30" }, headers: TENANT });
    }
    await call("POST /v1/publish", "/v1/publish", { body: { flow_id: flowId, release_status: 9 }, headers: TENANT });
    await call("POST /v1/auth", "/v1/auth", { body: { flow_id: flowId }, headers: TENANT });
    for (const p of ["/workflow/v1", "/sparkflow/v1"]) {
      await call(`GET ${p}/get_flow_info/{flow_id}`, `${p}/get_flow_info/${flowId}`);
      await call(`GET ${p}/get_flow_info/{flow_id}`, `${p}/get_flow_info/999`);
    }

    // ---- chat, resume, cancel ---------------------------------------------------------------------------------
    const chat = "POST /workflow/v1/chat/completions";
    const debug = "POST /workflow/v1/debug/chat/completions";
    await call(chat, "/workflow/v1/chat/completions", { body: { flow_id: flowId, parameters: PARAMS } });
    const finished = await call(chat, "/workflow/v1/chat/completions", {
      body: { flow_id: flowId, stream: false, parameters: PARAMS },
    });
    const finishedRun = finished.res.headers.get("x-run-id") ?? "";
    expect(finishedRun).not.toBe("");
    await call(chat, "/workflow/v1/chat/completions", { body: { parameters: PARAMS } });
    await call(chat, "/workflow/v1/chat/completions", { body: { flow_id: "999", parameters: PARAMS } });
    await call(debug, "/workflow/v1/debug/chat/completions", { body: { flow_id: flowId, parameters: PARAMS } });
    await call(debug, "/workflow/v1/debug/chat/completions", { body: { flow_id: "999", parameters: PARAMS } });
    const paused = async (route: string, path: string): Promise<string> => {
      const r = await call(route, path, { body: { flow_id: qaId, parameters: { AGENT_USER_INPUT: "x" } } });
      const id = String((r.events.at(-1)?.event_data as Json | undefined)?.event_id ?? "");
      expect(id).toMatch(/^\d+$/);
      return id;
    };
    const openPaused = await paused(chat, "/workflow/v1/chat/completions");
    const debugPaused = await paused(debug, "/workflow/v1/debug/chat/completions");
    const toCancel = await paused(debug, "/workflow/v1/debug/chat/completions");
    const toCancelByRuns = await paused(debug, "/workflow/v1/debug/chat/completions");
    await call("POST /workflow/v1/resume", "/workflow/v1/resume", { body: { event_id: openPaused, content: "A" } });
    await call("POST /workflow/v1/resume", "/workflow/v1/resume", { body: { event_id: "1", content: "A" } });
    await call("POST /workflow/v1/debug/resume", "/workflow/v1/debug/resume", {
      body: { event_id: debugPaused, content: "A" },
    });
    await call("POST /workflow/v1/debug/resume", "/workflow/v1/debug/resume", { body: { content: "A" } });
    await call("POST /workflow/v1/cancel", "/workflow/v1/cancel", { body: { event_id: toCancel } });
    await call("POST /workflow/v1/cancel", "/workflow/v1/cancel", { body: { event_id: "1" } });

    // ---- files ------------------------------------------------------------------------------------------------
    const form = (field: string): FormData => {
      const f = new FormData();
      f.append(field, new File(["hello file"], "note.txt", { type: "text/plain" }));
      return f;
    };
    const up = await call("POST /workflow/v1/upload_file", "/workflow/v1/upload_file", { form: form("file") });
    await call("POST /workflow/v1/upload_file", "/workflow/v1/upload_file", { form: form("nope") });
    await call("POST /workflow/v1/upload_files", "/workflow/v1/upload_files", { form: form("files") });
    await call("POST /workflow/v1/upload_files", "/workflow/v1/upload_files", { form: form("nope") });
    const name = new URL(String((up.json().data as Json).url)).pathname.split("/").pop() ?? "";
    for (const method of ["GET", "HEAD"]) {
      await call(`${method} /workflow/v1/files/{name}`, `/workflow/v1/files/${name}`, { headers: {} });
      await call(`${method} /workflow/v1/files/{name}`, "/workflow/v1/files/nope.txt", { headers: {} });
    }

    // ---- runs -------------------------------------------------------------------------------------------------
    await call("GET /runs/{id}", `/runs/${debugPaused}`);
    await call("GET /runs/{id}", "/runs/1");
    await call("GET /runs/{id}", `/runs/${debugPaused}`, { headers: {} });
    await call("GET /runs/{id}/events", `/runs/${finishedRun}/events`);
    await call("GET /runs/{id}/events", `/runs/${finishedRun}/events?after=x`);
    await call("GET /runs/{id}/events", "/runs/1/events");
    await call("POST /runs/{id}/cancel", `/runs/${toCancelByRuns}/cancel`);
    await call("POST /runs/{id}/cancel", `/runs/${finishedRun}/cancel`);
    await call("POST /runs/{id}/cancel", "/runs/1/cancel");
    await call("GET /flows/{id}/runs", `/flows/${flowId}/runs?limit=5`);
    await call("GET /flows/{id}/runs", `/flows/${flowId}/runs`, { headers: {} });
    await call("GET /flows/{id}/runs", `/flows/${flowId}/runs?status=failed`);
    await call("GET /flows/{id}/runs", `/flows/${flowId}/runs?status=sleeping`);
    await call("GET /flows", "/flows");
    await call("GET /flows", "/flows", { headers: {} });

    // ---- webhooks ---------------------------------------------------------------------------------------------
    const created = await call("POST /hooks", "/hooks", {
      body: { flow_id: flowId, auth: "bearer", mapping: { AGENT_USER_INPUT: "body.text", score: "body.score" } },
    });
    expect(created.res.status).toBe(201);
    const hook = created.json();
    const asyncHook = (
      await call("POST /hooks", "/hooks", { body: { flow_id: flowId, auth: "bearer", mode: "async" } })
    ).json();
    await call("POST /hooks", "/hooks", { body: { flow_id: flowId, mode: "never" } });
    await call("POST /hooks", "/hooks", { body: { flow_id: "999" } });
    await call("GET /hooks", `/hooks?flow_id=${flowId}`);
    await call("GET /hooks", "/hooks", { headers: {} });
    await call("GET /hooks/{id}", `/hooks/${String(hook.hook_id)}`);
    await call("GET /hooks/{id}", "/hooks/hk_nope");
    const rotated = (
      await call("POST /hooks/{id}/rotate", `/hooks/${String(hook.hook_id)}/rotate`, { body: {} })
    ).json();
    await call("POST /hooks/{id}/rotate", `/hooks/${String(hook.hook_id)}/rotate`, {
      body: { keep_previous_seconds: -1 },
    });
    const deliver = (h: Json, token: unknown, body: unknown) =>
      call("POST /hooks/{id}", `/hooks/${String(h.hook_id)}`, {
        body,
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${String(token)}` },
      });
    expect((await deliver(hook, rotated.token, { text: "edge", score: 75 })).res.status).toBe(200);
    expect((await deliver(asyncHook, asyncHook.token, PARAMS)).res.status).toBe(202);
    await deliver(hook, "wht_wrong", { text: "edge", score: 75 });
    await call("POST /hooks/{id}", "/hooks/hk_nope", { body: {}, headers: {} });
    await call("DELETE /hooks/{id}", `/hooks/${String(hook.hook_id)}`);
    await call("DELETE /hooks/{id}", `/hooks/${String(hook.hook_id)}`);

    // ---- the service routes (no error answers of their own) ---------------------------------------------------
    await call("GET /health", "/health", { headers: {} });
    await call("GET /openapi.json", "/openapi.json", { headers: {} });
    await call("GET /docs", "/docs", { headers: {} });

    const serviceOnly = new Set(["GET /health", "GET /openapi.json", "GET /docs"]);
    const missing: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths))
      for (const method of Object.keys(ops)) {
        const route = `${method.toUpperCase()} ${path}`;
        const outcomes = seen.get(route) ?? new Set();
        if (!outcomes.has("success")) missing.push(`${route}: no success`);
        if (!serviceOnly.has(route) && !outcomes.has("error")) missing.push(`${route}: no error`);
      }
    expect(missing).toEqual([]);
  }, 120_000);
});
