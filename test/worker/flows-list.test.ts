// The console's reads (issue 16): GET /flows lists the caller's flows — each flow once (not its version or comparison
// rows), its published versions newest first and its latest finished run — and nothing of another app's;
// GET /flows/{id}/runs?status= keeps one status and refuses an unknown one.
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { optionQuestionFlow } from "../support/dsl-builder.ts";
import { loadFixture } from "../support/fixtures.ts";
import { seedApps } from "../support/seed.ts";

const APP = { "X-Consumer-Username": "d1590f30", "Content-Type": "application/json" };
const OTHER = { "X-Consumer-Username": "other01", "Content-Type": "application/json" };
const TENANT = { "X-Consumer-Username": "tenant01", "Content-Type": "application/json" };

interface Listing {
  id: string;
  name: string;
  published: boolean;
  versions: string[];
  lastRun: { id: string; status: string; code: number } | null;
}

async function post(path: string, body: unknown, headers = APP): Promise<Record<string, unknown>> {
  const res = await SELF.fetch(`http://astron.test${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  return (await res.json()) as Record<string, unknown>;
}

async function addFlow(name: string, headers = APP): Promise<string> {
  const app = headers["X-Consumer-Username"];
  const r = await post(
    "/workflow/v1/protocol/add",
    { app_id: app, name, description: "", data: loadFixture("example-core-if-else-branch.json") },
    headers,
  );
  return (r.data as { flow_id: string }).flow_id;
}

async function list(headers: Record<string, string> = APP): Promise<Listing[]> {
  const res = await SELF.fetch("http://astron.test/flows", { headers });
  expect(res.status).toBe(200);
  return ((await res.json()) as { flows: Listing[] }).flows;
}

/** A debug run of the flow (score ≥ 60 passes; a string score fails validation before the run). */
async function run(flowId: string, score: unknown): Promise<string> {
  const res = await SELF.fetch("http://astron.test/workflow/v1/debug/chat/completions", {
    method: "POST",
    headers: APP,
    body: JSON.stringify({ flow_id: flowId, stream: false, parameters: { AGENT_USER_INPUT: "x", score } }),
  });
  await res.text();
  return res.headers.get("x-run-id") ?? "";
}

let draft = "";
let published = "";
let foreign = "";

beforeAll(async () => {
  await seedApps();
  draft = await addFlow("draft flow");
  published = await addFlow("published flow");
  foreign = await addFlow("someone else's", OTHER);
  const envelope = {
    id: published,
    name: "published flow",
    version: "v3.1",
    ...(loadFixture("example-core-if-else-branch.json") as object),
  };
  for (const version of ["v3.1", "v3.10", "v3.2"])
    expect(
      await post(
        "/v1/publish",
        { flow_id: published, release_status: 1, plat: 1, version, data: { ...envelope, version } },
        TENANT,
      ),
    ).toMatchObject({ code: 0 });
  // a comparison copy is not a flow of its own and not a published version
  expect(
    await post("/workflow/v1/protocol/compare/save", {
      flow_id: published,
      version: "v9.9",
      data: loadFixture("example-core-if-else-branch.json"),
    }),
  ).toMatchObject({ code: 0 });
});

describe("GET /flows", () => {
  it("lists each of the caller's flows once, with its published versions newest first", async () => {
    const flows = await list();
    const ids = flows.map((f) => f.id);
    expect(ids).toContain(draft);
    expect(ids).toContain(published);
    expect(ids).not.toContain(foreign);
    expect(ids.filter((id) => id === published)).toHaveLength(1);
    expect(flows.filter((f) => f.name === "published flow")).toHaveLength(1);
    expect(flows.find((f) => f.id === draft)).toMatchObject({ published: false, versions: [], lastRun: null });
    expect(flows.find((f) => f.id === published)).toMatchObject({
      published: true,
      versions: ["v3.10", "v3.2", "v3.1"],
    });
    expect((await list(OTHER)).map((f) => f.id)).toEqual([foreign]);
  });

  it("shows the caller's latest finished run of each flow", async () => {
    await run(draft, 10);
    const last = await run(draft, 90);
    let listing: Listing | undefined;
    // finished runs reach the history in batches, at most 100 ms late
    for (let i = 0; i < 50 && listing?.lastRun?.id !== last; i++) {
      await new Promise((r) => setTimeout(r, 20));
      listing = (await list()).find((f) => f.id === draft);
    }
    expect(listing?.lastRun).toMatchObject({ id: last, status: "completed", code: 0 });
    expect((await list(OTHER)).find((f) => f.id === draft)).toBeUndefined();
  });

  it("answers 401 without an app", async () => {
    const res = await SELF.fetch("http://astron.test/flows");
    expect(res.status).toBe(401);
  });
});

describe("GET /flows/{id}/runs?status=", () => {
  it("keeps the runs that ended so, and refuses an unknown status", async () => {
    const r = await post("/workflow/v1/protocol/add", {
      app_id: "d1590f30",
      name: "status filter",
      description: "",
      data: optionQuestionFlow(),
    });
    const flowId = (r.data as { flow_id: string }).flow_id;
    /** a debug run that stops at its question */
    const ask = async (): Promise<string> => {
      const res = await SELF.fetch("http://astron.test/workflow/v1/debug/chat/completions", {
        method: "POST",
        headers: APP,
        body: JSON.stringify({ flow_id: flowId, stream: false, parameters: { AGENT_USER_INPUT: "go" } }),
      });
      await res.text();
      return res.headers.get("x-run-id") ?? "";
    };
    const cancelled = await ask();
    expect(
      (await SELF.fetch(`http://astron.test/runs/${cancelled}/cancel`, { method: "POST", headers: APP })).status,
    ).toBe(200);
    const completed = await ask();
    const resumed = await SELF.fetch("http://astron.test/workflow/v1/debug/resume", {
      method: "POST",
      headers: APP,
      body: JSON.stringify({ event_id: completed, event_type: "resume", content: "A" }),
    });
    expect(await resumed.text()).toContain('"finish_reason":"stop"');

    type Page = { runs: { id: string; status: string }[]; next: string | null };
    const runs = async (query: string): Promise<Page> =>
      (await (await SELF.fetch(`http://astron.test/flows/${flowId}/runs${query}`, { headers: APP })).json()) as Page;
    // finished runs reach the history in batches, at most 100 ms late
    for (let i = 0; i < 50 && (await runs("")).runs.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await runs("?status=completed")).runs.map((x) => x.id)).toEqual([completed]);
    expect((await runs("?status=cancelled")).runs.map((x) => x.id)).toEqual([cancelled]);
    expect((await runs("?status=failed")).runs).toEqual([]);
    expect((await runs("?limit=1&status=cancelled")).next).toBeNull();
    const bad = await SELF.fetch(`http://astron.test/flows/${flowId}/runs?status=sleeping`, { headers: APP });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 460 });
  });
});
