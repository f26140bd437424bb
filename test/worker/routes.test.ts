// Spec §12.3 item 1 over every non-chat route of §1.1: both prefixes where the table lists them, with and without a
// trailing slash (answered directly, never redirected), unknown body fields ignored; plus the error surface every
// route shares (460 lines, per-route generic codes, JSON 404, CORS).
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { genericCode } from "../../src/worker/app.ts";
import { loadFixture } from "../support/fixtures.ts";
import { seedApps, testEnv } from "../support/seed.ts";

const APP = { "X-Consumer-Username": "d1590f30" };
const TENANT = { "X-Consumer-Username": "tenant01" };
/** fields no route knows: every route must ignore them (the Agent service sends OpenAI-SDK extras, spec §1.1) */
const EXTRA = { model: "", messages: [], extra_body: { bot_id: "workflow" }, unknown_field: { deep: [1, 2] } };

async function call(
  method: string,
  path: string,
  body?: unknown,
  // the flows of these tests belong to APP (issue 13: every flow route needs the owner); tests of a missing
  // header pass {} explicitly
  headers: Record<string, string> = APP,
): Promise<Response> {
  return SELF.fetch(`http://astron.test${path}`, {
    method,
    redirect: "manual",
    headers: { "Content-Type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function api(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = APP,
): Promise<Record<string, unknown>> {
  const res = await call(method, path, body, headers);
  expect(res.status, `${method} ${path}`).toBe(200);
  expect(res.headers.get("content-type"), `${method} ${path}`).toContain("application/json");
  return (await res.json()) as Record<string, unknown>;
}

const dsl = (): Record<string, unknown> => loadFixture("example-core-if-else-branch.json") as Record<string, unknown>;

async function newFlow(): Promise<string> {
  const r = await api("POST", "/workflow/v1/protocol/add", {
    app_id: "d1590f30",
    name: "routes",
    description: "",
    data: dsl(),
  });
  expect(r.code).toBe(0);
  return (r.data as { flow_id: string }).flow_id;
}

/** Both spellings of a path: as given and with a trailing slash. */
const spellings = (path: string): string[] => [path, `${path}/`];

beforeAll(async () => {
  await seedApps();
});

describe("every non-chat route, with and without a trailing slash (item 1)", () => {
  for (const prefix of ["/workflow/v1", "/sparkflow/v1"]) {
    describe(prefix, () => {
      it("protocol/add, get, update, build and delete", async () => {
        for (const add of spellings(`${prefix}/protocol/add`)) {
          const created = await api("POST", add, {
            ...EXTRA,
            app_id: "d1590f30",
            name: "n",
            description: "d",
            data: null,
            id: "ignored",
            group_id: "ignored",
          });
          expect(created.code, add).toBe(0);
          const id = (created.data as { flow_id: string }).flow_id;
          for (const get of spellings(`${prefix}/protocol/get`)) {
            const got = await api("POST", get, { ...EXTRA, flow_id: id });
            expect(got, get).toMatchObject({ code: 0, data: { id, group_id: id, name: "n" } });
          }
          for (const update of spellings(`${prefix}/protocol/update/${id}`)) {
            expect(
              await api("POST", update, { ...EXTRA, id, app_id: "d1590f30", name: "n2", data: dsl() }),
              update,
            ).toEqual({ code: 0, message: "success", sid: expect.any(String) });
          }
          for (const build of spellings(`${prefix}/protocol/build/${id}`)) {
            const res = await call("POST", build);
            expect(res.status, build).toBe(200);
            expect(res.headers.get("content-type"), build).toContain("text/event-stream");
            expect(await res.text(), build).toMatch(/^data: \{"end_of_stream":true,"sid":"spf[^"]+"\}\n\n$/);
          }
        }
        for (const del of spellings(`${prefix}/protocol/delete`)) {
          const id = await newFlow();
          expect((await api("POST", del, { ...EXTRA, flow_id: id, app_id: "d1590f30" })).code, del).toBe(0);
        }
      });

      it("comparisons: both save paths and the DELETE with a JSON body", async () => {
        const id = await newFlow();
        let n = 0;
        for (const save of [
          ...spellings(`${prefix}/protocolcompare/save`),
          ...spellings(`${prefix}/protocol/compare/save`),
        ]) {
          const version = `cmp-${prefix.length}-${n++}`;
          expect((await api("POST", save, { ...EXTRA, flow_id: id, data: dsl(), version })).code, save).toBe(0);
        }
        for (const [i, del] of spellings(`${prefix}/protocol/compare/delete`).entries()) {
          expect(
            (await api("DELETE", del, { ...EXTRA, flow_id: id, version: `cmp-${prefix.length}-${i}` })).code,
            del,
          ).toBe(0);
        }
      });

      it("get_flow_info", async () => {
        const id = await newFlow();
        expect((await api("POST", "/v1/publish", { flow_id: id, release_status: 1, plat: 1 }, TENANT)).code).toBe(0);
        expect((await api("POST", "/v1/auth", { flow_id: id, app_id: "d1590f30" }, TENANT)).code).toBe(0);
        for (const path of spellings(`${prefix}/get_flow_info/${id}`)) {
          const info = await api("GET", path, undefined, APP);
          expect(info, path).toMatchObject({
            code: 0,
            data: {
              name: "routes",
              inputSchema: {
                type: "object",
                properties: { AGENT_USER_INPUT: { type: "string" }, score: { type: "integer" } },
                required: ["AGENT_USER_INPUT"],
              },
            },
          });
        }
      });

      it("node/debug, code/run and run", async () => {
        const nodes = (dsl() as { data: { nodes: { id: string; data: { inputs: unknown[] } }[] } }).data.nodes;
        const joiner = nodes.find((x) => x.id.startsWith("text-joiner"));
        if (!joiner) throw new Error("the fixture has a text-joiner");
        joiner.data.inputs = [
          { id: "in", name: "input", schema: { type: "string", value: { type: "literal", content: "x" } } },
        ];
        for (const path of spellings(`${prefix}/node/debug`)) {
          const r = await api("POST", path, {
            ...EXTRA,
            id: "1",
            name: "f",
            description: "",
            version: "v3.0.0",
            data: { nodes: [joiner], edges: [] },
          });
          expect(r, path).toMatchObject({ code: 0, data: { output: '{"output":"FAIL: x"}' } });
        }
        for (const path of [...spellings(`${prefix}/code/run`), ...spellings(`${prefix}/run`)]) {
          const r = await api("POST", path, {
            ...EXTRA,
            code: "def main():\n  return {}",
            variables: [],
            app_id: "d1590f30",
            uid: "u",
          });
          expect(r.code, path).toBe(21600); // the route answers; no code executor in this build
        }
      });
    });
  }

  it("upload_file, upload_files and the file URL", async () => {
    for (const path of spellings("/workflow/v1/upload_file")) {
      const form = new FormData();
      form.append("file", new File([new TextEncoder().encode("hello")], "a.txt", { type: "text/plain" }));
      form.append("unknown", "ignored");
      const res = await SELF.fetch(`http://astron.test${path}`, {
        method: "POST",
        body: form,
        headers: APP,
        redirect: "manual",
      });
      const r = (await res.json()) as { code: number; data: { url: string } };
      expect(r.code, path).toBe(0);
      for (const url of spellings(r.data.url)) {
        const got = await SELF.fetch(url, { redirect: "manual" });
        expect(got.status, url).toBe(200);
        expect(await got.text()).toBe("hello");
      }
    }
    for (const path of spellings("/workflow/v1/upload_files")) {
      const form = new FormData();
      form.append("files", new File([new Uint8Array([1])], "a.png"));
      const res = await SELF.fetch(`http://astron.test${path}`, {
        method: "POST",
        body: form,
        headers: APP,
        redirect: "manual",
      });
      expect(((await res.json()) as { code: number }).code, path).toBe(0);
    }
  });

  it("/v1/publish and /v1/auth at the root", async () => {
    for (const [i, publish] of spellings("/v1/publish").entries()) {
      const id = await newFlow();
      expect(
        (await api("POST", publish, { ...EXTRA, flow_id: id, release_status: 1, plat: 1, version: `v1.${i}` }, TENANT))
          .code,
        publish,
      ).toBe(0);
      for (const auth of spellings("/v1/auth")) {
        expect((await api("POST", auth, { ...EXTRA, flow_id: id, app_id: "d1590f30" }, TENANT)).code, auth).toBe(0);
      }
    }
  });
});

describe("shared error surface", () => {
  it("words 460 lines like the original: missing fields show their object, wrong values show themselves", async () => {
    const missing = await api("POST", "/workflow/v1/protocol/get", { app_id: "x" });
    expect(missing).toMatchObject({ code: 460, sid: expect.any(String) });
    expect(missing.message).toBe('Parameter: body->flow_id, Input: {"app_id":"x"}, Error: Field required (missing)');
    const wrong = await api("POST", "/v1/publish", { flow_id: "1", release_status: 7 }, TENANT);
    expect(wrong.code).toBe(460);
    expect(wrong.message).toBe(
      "Parameter: body->release_status, Input: 7, Error: Input should be 1, 2 or 3 (literal_error)",
    );
    const two = await api("POST", "/workflow/v1/protocolcompare/save", { flow_id: "1", data: "x" });
    expect(String(two.message).split("\n")).toEqual([
      'Parameter: body->data, Input: "x", Error: Input should be a valid dictionary (dict_type)',
      'Parameter: body->version, Input: {"flow_id":"1","data":"x"}, Error: Field required (missing)',
    ]);
  });

  it("answers a missing X-Consumer-Username where §1.1 requires it with a header 460", async () => {
    for (const [method, path] of [
      ["GET", "/workflow/v1/get_flow_info/1"],
      ["POST", "/v1/publish"],
      ["POST", "/v1/auth"],
    ] as const) {
      const r = await api(
        method,
        path,
        method === "GET" ? undefined : { flow_id: "1", release_status: 1, app_id: "a" },
        {},
      );
      expect(r.code, path).toBe(460);
      expect(r.message, path).toContain("Parameter: header->x-consumer-username");
    }
    const res = await SELF.fetch("http://astron.test/workflow/v1/upload_file", {
      method: "POST",
      body: new FormData(),
    });
    expect(((await res.json()) as { message: string }).message).toContain("header->x-consumer-username");
  });

  it("answers an unknown route or method with a JSON 404, never HTML", async () => {
    for (const [method, path] of [
      ["GET", "/nowhere"],
      ["GET", "/workflow/v1/protocol/add"],
      ["POST", "/workflow/v1/v1/publish"],
    ] as const) {
      const res = await call(method, path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get("content-type"), path).toContain("application/json");
      expect(await res.json(), path).toMatchObject({ code: 404, sid: expect.any(String) });
    }
  });

  it("maps an unexpected failure to the route's generic code (spec §1.6)", () => {
    expect(genericCode("/workflow/v1/protocol/add")).toBe(20102);
    expect(genericCode("/sparkflow/v1/protocol/get/")).toBe(20209);
    expect(genericCode("/workflow/v1/protocol/update/1")).toBe(20104);
    expect(genericCode("/workflow/v1/protocol/delete")).toBe(20103);
    expect(genericCode("/workflow/v1/protocol/build/1")).toBe(20101);
    expect(genericCode("/workflow/v1/protocolcompare/save")).toBe(20102);
    expect(genericCode("/workflow/v1/protocol/compare/save")).toBe(20102);
    expect(genericCode("/workflow/v1/get_flow_info/1")).toBe(20209);
    expect(genericCode("/workflow/v1/node/debug/")).toBe(21700);
    expect(genericCode("/sparkflow/v1/run")).toBe(21600);
    expect(genericCode("/workflow/v1/upload_files")).toBe(23604);
    expect(genericCode("/v1/publish")).toBe(20206);
    expect(genericCode("/v1/auth/")).toBe(20007);
    expect(genericCode("/workflow/v1/chat/completions")).toBe(20805);
  });

  it("stores a flow that fails validation nowhere: add answers the DSL's code and leaves no row", async () => {
    const bad = dsl() as { data: { nodes: unknown[] } };
    bad.data.nodes.push({
      id: "no-such-type::1",
      data: { nodeMeta: { nodeType: "x", aliasName: "x" }, inputs: [], outputs: [], nodeParam: {} },
    });
    const r = await api("POST", "/workflow/v1/protocol/add", {
      app_id: "d1590f30",
      name: "never-stored-flow",
      description: "",
      data: bad,
    });
    expect(r.code).toBe(22101);
    const { results } = await testEnv.DB.prepare("SELECT id FROM flow WHERE name = 'never-stored-flow'").all();
    expect(results).toHaveLength(0);
  });

  it("answers add with status other than 0 or 1 with 20102 and an unknown app with 20000", async () => {
    expect((await api("POST", "/workflow/v1/protocol/add", { app_id: "d1590f30", name: "s", status: 2 })).code).toBe(
      20102,
    );
    const unknown = { "X-Consumer-Username": "no-such-app" };
    expect((await api("POST", "/workflow/v1/protocol/add", { app_id: "no-such-app", name: "s" }, unknown)).code).toBe(
      20000,
    );
  });
});

describe("CORS (spec §1.1)", () => {
  it("answers a preflight for any origin, method and header, with credentials", async () => {
    const res = await SELF.fetch("http://astron.test/sparkflow/v1/protocol/build/1/", {
      method: "OPTIONS",
      headers: {
        Origin: "https://console.example",
        "Access-Control-Request-Method": "DELETE",
        "Access-Control-Request-Headers": "content-type,x-consumer-username,authorization",
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://console.example");
    expect(res.headers.get("access-control-allow-credentials")).toBe("true");
    expect(res.headers.get("access-control-allow-methods")).toContain("DELETE");
    expect(res.headers.get("access-control-allow-headers")).toBe("content-type,x-consumer-username,authorization");
  });

  it("echoes the origin on ordinary answers, streams and errors alike", async () => {
    const origin = { Origin: "https://other.example" };
    const ok = await call("POST", "/workflow/v1/protocol/get", { flow_id: "1" }, origin);
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://other.example");
    expect(ok.headers.get("access-control-allow-credentials")).toBe("true");
    const stream = await call("POST", "/workflow/v1/protocol/build/1", undefined, origin);
    expect(stream.headers.get("access-control-allow-origin")).toBe("https://other.example");
    await stream.text();
    const missing = await call("GET", "/nowhere", undefined, origin);
    expect(missing.headers.get("access-control-allow-origin")).toBe("https://other.example");
  });
});
