// The OpenAPI document (issue 14) against the app itself, in workerd: the document lists exactly the routes the Hono
// app registers, every path in it is served (not the framework's 404), its request schemas are the routes' own zod
// schemas, and /openapi.json and /docs answer without credentials in every auth mode. The document's validity and
// the response schemas are checked on Node with real validators (test/node/openapi-responses.test.ts).
import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { app } from "../../src/worker/app.ts";
import type { Env } from "../../src/worker/env.ts";
import { documentedRoutes, openApiDocument, openApiPath } from "../../src/worker/openapi/document.ts";
import { ChatBody } from "../../src/worker/chat.ts";
import { AddBody } from "../../src/worker/routes/protocol.ts";
import { CreateHook } from "../../src/worker/store/hooks.ts";

/** The app's routes as Hono registered them (middleware, registered for every method, left out). */
function registered(): string[] {
  const out = new Set<string>();
  for (const r of app.routes) if (r.method !== "ALL") out.add(`${r.method} ${openApiPath(r.path)}`);
  return [...out].sort();
}

const documented = (): string[] => [...new Set(documentedRoutes().map((r) => `${r.method} ${r.path}`))].sort();

describe("the OpenAPI document", () => {
  it("describes exactly the routes the app registers, under both Astron prefixes, with {param} paths", () => {
    const doc = documented();
    expect(
      registered().filter((r) => !doc.includes(r)),
      "registered but not documented",
    ).toEqual([]);
    expect(
      doc.filter((r) => !registered().includes(r)),
      "documented but not registered",
    ).toEqual([]);
    // the paths object holds the same set
    const paths = (openApiDocument() as { paths: Record<string, Record<string, unknown>> }).paths;
    const fromPaths = Object.entries(paths).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(fromPaths.sort()).toEqual(doc);
    expect(doc).toContain("POST /sparkflow/v1/protocol/update/{flow_id}");
    expect(doc).toContain("POST /workflow/v1/protocol/update/{flow_id}");
    expect(doc).toContain("GET /runs/{id}/events");
  });

  it("serves every path it documents: none falls through to the framework's 404", async () => {
    for (const r of documentedRoutes()) {
      const path = r.path.replace(/\{[^}]+\}/g, "nope");
      const res = await SELF.fetch(`http://astron.test${path}`, {
        method: r.method,
        headers: { "X-Consumer-Username": "d1590f30", "Content-Type": "application/json" },
        ...(r.method === "GET" || r.method === "HEAD" ? {} : { body: "{}" }),
      });
      const text = await res.text();
      expect(text, `${r.method} ${r.path}`).not.toMatch(/"message":"Not Found: /);
    }
  });

  it("takes its request bodies from the schemas the routes validate with", () => {
    const schemas = (openApiDocument() as { components: { schemas: Record<string, unknown> } }).components.schemas;
    const input = (s: z.ZodType): unknown => {
      const { $schema: _dialect, ...rest } = z.toJSONSchema(s, { io: "input" }) as Record<string, unknown>;
      return rest;
    };
    expect(schemas.AddFlowRequest).toEqual(input(AddBody));
    expect(schemas.ChatRequest).toEqual(input(ChatBody));
    expect(schemas.CreateHookRequest).toEqual(input(CreateHook));
    // what the route enforces shows: the chat body's required flow_id and its uid cap
    expect(schemas.ChatRequest).toMatchObject({
      required: expect.arrayContaining(["flow_id", "parameters"]),
      properties: { uid: { maxLength: 40 } },
    });
  });

  for (const mode of ["gateway", "key", "hmac"] as const) {
    it(`answers /openapi.json and /docs without credentials (AUTH_MODE=${mode})`, async () => {
      const get = async (path: string): Promise<Response> => {
        const ctx = createExecutionContext();
        const res = await app.fetch(
          new Request(`http://astron.test${path}`),
          { ...(env as unknown as Env), AUTH_MODE: mode },
          ctx,
        );
        await waitOnExecutionContext(ctx);
        return res;
      };
      const doc = await get("/openapi.json");
      expect(doc.status).toBe(200);
      expect(doc.headers.get("content-type")).toMatch(/^application\/json/);
      const body = (await doc.json()) as { openapi: string; paths: Record<string, unknown> };
      expect(body.openapi).toBe("3.1.0");
      expect(body).toEqual(JSON.parse(JSON.stringify(openApiDocument())));
      const page = await get("/docs");
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toMatch(/^text\/html/);
      // Scalar's page loads the document from this deployment
      expect(await page.text()).toContain("/openapi.json");
    });
  }
});
