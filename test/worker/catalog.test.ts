// The D1 catalog on its own (spec §3, §1.5.4–1.5.10, §9.2, §9.3; §12.3 items 6, 31, 32 at the storage level):
// flows, comparisons, "latest published", versions, licences and the publish matrix, against the real D1 of workerd.
import { beforeAll, describe, expect, it } from "vitest";
import { createIdGenerator } from "../../src/worker/ids.ts";
import { Catalog, compareVersions, isPublished, versionKey, type FlowRow } from "../../src/worker/store/catalog.ts";
import { loadFixture } from "../support/fixtures.ts";
import { seedApps, testEnv } from "../support/seed.ts";
import { codeOfAsync as codeOf } from "../support/errors.ts";

let cat: Catalog;
const ids = createIdGenerator();

beforeAll(async () => {
  await seedApps();
  cat = new Catalog(testEnv.DB, ids);
});

/** A DSL whose text-joiner says `label`, to tell versions apart. */
function dsl(label: string): Record<string, unknown> {
  const e = loadFixture("example-core-if-else-branch.json") as {
    data: { nodes: { id: string; data: { nodeParam: Record<string, unknown> } }[] };
  };
  const tj = e.data.nodes.find((n) => n.id.startsWith("text-joiner"));
  if (tj) tj.data.nodeParam.prompt = `${label}: {{input}}`;
  return e as unknown as Record<string, unknown>;
}

const labelOf = (row: FlowRow, field: "data" | "release_data" = "release_data"): string => {
  const nodes = (row[field] as { data: { nodes: { id: string; data: { nodeParam: { prompt?: string } } }[] } }).data
    .nodes;
  return String(nodes.find((n) => n.id.startsWith("text-joiner"))?.data.nodeParam.prompt).split(":")[0] ?? "";
};

async function flow(opts: { source?: number; appId?: string; data?: unknown } = {}): Promise<string> {
  const id = ids();
  await cat.createFlow({
    id,
    name: "cat",
    description: "d",
    appId: opts.appId ?? "d1590f30",
    status: 0,
    data: opts.data === undefined ? dsl("DRAFT") : opts.data,
    source: opts.source ?? 1,
  });
  return id;
}

const publish = (
  flowId: string,
  op: number,
  plat: number,
  extra: { version?: string; data?: unknown; tenant?: string } = {},
): Promise<void> =>
  cat.publish({
    tenantAlias: extra.tenant ?? "tenant01",
    flowId,
    op,
    plat,
    version: extra.version ?? "",
    data: extra.data ?? null,
  });

const releaseStatus = async (id: string): Promise<number> => (await cat.requireFlow(id)).release_status;

describe("flow rows", () => {
  it("round-trips a row with string ids and parsed JSON", async () => {
    const id = await flow();
    const row = await cat.requireFlow(id);
    expect(row).toMatchObject({
      id,
      group_id: id,
      version: "-1",
      status: 0,
      release_status: 0,
      app_id: "d1590f30",
      source: 1,
      tag: 0,
      release_data: null,
    });
    expect(typeof row.id).toBe("string");
    expect(BigInt(row.id) > 0n).toBe(true);
    expect(labelOf(row, "data")).toBe("DRAFT");
    expect(await cat.getFlow("1")).toBeUndefined();
    expect(await codeOf(cat.requireFlow("1"))).toBe(20201);
  });

  it("updates only the given fields; status 0 is honoured; status 1 copies data into release_data", async () => {
    const id = await flow();
    await cat.updateFlow(id, { status: 1 });
    let row = await cat.requireFlow(id);
    expect(row.status).toBe(1);
    expect(labelOf(row)).toBe("DRAFT");
    await cat.updateFlow(id, { name: "", description: "", data: null, status: 0 });
    row = await cat.requireFlow(id);
    expect(row).toMatchObject({ name: "cat", description: "", status: 0 });
    expect(labelOf(row, "data")).toBe("DRAFT");
    await cat.updateFlow(id, { data: dsl("NEW"), status: 1 });
    row = await cat.requireFlow(id);
    expect([labelOf(row, "data"), labelOf(row)]).toEqual(["NEW", "NEW"]);
  });

  it("deletes by id and owning app only", async () => {
    const id = await flow();
    expect(await cat.deleteFlow(id, "other01")).toBe(false);
    expect(await cat.getFlow(id)).toBeDefined();
    expect(await cat.deleteFlow(id, "d1590f30")).toBe(true);
    expect(await cat.getFlow(id)).toBeUndefined();
  });
});

describe("comparisons (item 6)", () => {
  it("saves tag-1 copies in the group, refuses a duplicate version with 20102, deletes only tag-1 rows", async () => {
    const id = await flow();
    await publish(id, 1, 1, { version: "v1.0" });
    await cat.saveComparison(await cat.requireFlow(id), dsl("CMP"), "cmp-1");
    const rows = await cat.groupRows(id);
    const cmp = rows.find((r) => r.version === "cmp-1");
    expect(cmp).toMatchObject({ group_id: id, tag: 1 });
    expect(cmp?.id).toMatch(/^\d+$/);
    expect(await codeOf(cat.saveComparison(await cat.requireFlow(id), dsl("CMP"), "cmp-1"))).toBe(20102);
    expect(await codeOf(cat.saveComparison(await cat.requireFlow(id), dsl("CMP"), "v1.0"))).toBe(20102);
    expect(await cat.deleteComparisons(await cat.requireFlow(id), "v1.0")).toBe(0);
    expect(await cat.deleteComparisons(await cat.requireFlow(id), "cmp-1")).toBe(1);
    expect((await cat.groupRows(id)).map((r) => r.version).sort()).toEqual(["-1", "v1.0"]);
  });

  it("runs a comparison by its version (it inherits the group's release bits) but never as the latest", async () => {
    const id = await flow();
    await publish(id, 1, 1);
    await cat.saveComparison(await cat.requireFlow(id), dsl("CMP"), "zz-random");
    expect(labelOf(await cat.getVersion(id, "zz-random"))).toBe("CMP");
    expect((await cat.getLatestPublished(id)).version).toBe("-1");
  });
});

describe("versions and the latest published row (item 32, spec §9.2)", () => {
  it("orders v<major>.<minor> numerically, the working row last", () => {
    expect(versionKey("v1.10")).toEqual([1, 10]);
    expect(versionKey("v2")).toEqual([2, 0]);
    expect(versionKey("-1")).toEqual([-1, -1]);
    const row = (version: string): FlowRow => ({ version, update_at: "" }) as FlowRow;
    expect(
      ["-1", "v1.2", "v1.10", "v2.0", "v1.9"]
        .map(row)
        .sort(compareVersions)
        .map((r) => r.version),
    ).toEqual(["v2.0", "v1.10", "v1.9", "v1.2", "-1"]);
  });

  it("publishing v1.1 then v1.2 makes v1.2 the latest; v1.1 stays reachable by version", async () => {
    const id = await flow();
    await publish(id, 1, 1, { version: "v1.1", data: dsl("ONE") });
    await publish(id, 1, 1, { version: "v1.2", data: dsl("TWO") });
    const latest = await cat.getLatestPublished(id);
    expect(latest.version).toBe("v1.2");
    expect(labelOf(latest)).toBe("TWO");
    expect(labelOf(await cat.getVersion(id, "v1.1"))).toBe("ONE");
    expect(await codeOf(cat.getVersion(id, "v9.9"))).toBe(20204);
    // the working row keeps version -1 and its id; version rows have 64-bit ids of their own
    const rows = await cat.groupRows(id);
    expect(rows.map((r) => r.version).sort()).toEqual(["-1", "v1.1", "v1.2"]);
    for (const r of rows) expect(r.id).toMatch(/^\d{15,20}$/);
    expect((await cat.requireFlow(id)).version).toBe("-1");
  });

  it("re-publishing a version updates its row instead of adding one; v1.10 beats v1.9", async () => {
    const id = await flow();
    await publish(id, 1, 1, { version: "v1.9", data: dsl("NINE") });
    await publish(id, 1, 1, { version: "v1.10", data: dsl("TEN") });
    await publish(id, 1, 1, { version: "v1.9", data: dsl("NINE-B") });
    expect((await cat.groupRows(id)).length).toBe(3);
    expect(labelOf(await cat.getVersion(id, "v1.9"))).toBe("NINE-B");
    expect(labelOf(await cat.getLatestPublished(id))).toBe("TEN");
  });

  it("a flow never published, or published on AIUI only, has no latest published row (20204)", async () => {
    const id = await flow();
    expect(await codeOf(cat.getLatestPublished(id))).toBe(20204);
    await publish(id, 1, 4);
    expect(await releaseStatus(id)).toBe(32);
    expect(await codeOf(cat.getLatestPublished(id))).toBe(20204);
    expect(await codeOf(cat.getLatestPublished("1"))).toBe(20201);
  });
});

describe("the publish matrix (item 31, spec §9.3)", () => {
  it("refuses a non-tenant (20002), an unauthorised platform (20003), an impossible operation (20006), an unknown flow (20201)", async () => {
    const id = await flow();
    expect(await codeOf(publish(id, 1, 1, { tenant: "d1590f30" }))).toBe(20002);
    expect(await codeOf(publish(id, 1, 1, { tenant: "nobody" }))).toBe(20002);
    expect(await codeOf(publish(id, 1, 2, { tenant: "tenant02" }))).toBe(20003); // tenant02 may publish on 1 and 4
    const foreign = await flow({ source: 2 });
    expect(await codeOf(publish(foreign, 1, 1, { tenant: "tenant02" }))).toBe(20003); // nor own open-platform flows
    expect(await codeOf(publish(id, 2, 4, { tenant: "tenant02" }))).toBe(20006);
    expect(await codeOf(publish("1", 1, 1))).toBe(20201);
  });

  it("sets, clears and swaps the release bits per operation and platform, on every row of the group", async () => {
    const id = await flow();
    await publish(id, 1, 1, { version: "v1.0" });
    expect(await releaseStatus(id)).toBe(1);
    await publish(id, 1, 2);
    expect(await releaseStatus(id)).toBe(1 | 4);
    await publish(id, 2, 1);
    expect(await releaseStatus(id)).toBe(1 | 4 | 8);
    await publish(id, 3, 1); // take off Xingchen: clears its publish and API bits
    expect(await releaseStatus(id)).toBe(4 | 2);
    await publish(id, 1, 1); // publish again: clears the take-off bit
    expect(await releaseStatus(id)).toBe(4 | 1);
    await publish(id, 1, 0); // plat 0 = the tenant's own source (1)
    expect(await releaseStatus(id)).toBe(4 | 1);
    for (const r of await cat.groupRows(id)) expect(r.release_status, r.version).toBe(4 | 1);
  });

  it("take-off on all three platforms leaves nothing to run: latest published fails with 20204", async () => {
    const id = await flow();
    await publish(id, 1, 1);
    await publish(id, 1, 2);
    await publish(id, 1, 4);
    expect(isPublished(await releaseStatus(id))).toBe(true);
    for (const plat of [1, 2, 4]) await publish(id, 3, plat);
    expect(await releaseStatus(id)).toBe(2 | 16 | 64);
    expect(isPublished(2 | 16 | 64)).toBe(false);
    expect(await codeOf(cat.getLatestPublished(id))).toBe(20204);
    expect(await codeOf(cat.openFlow(id, "d1590f30", ""))).toBe(20004); // licence is checked first (spec §1.5.1)
  });

  it("copies data into release_data on every operation, and publish with data replaces both", async () => {
    const id = await flow();
    await publish(id, 1, 1, { data: dsl("PUB") });
    const row = await cat.requireFlow(id);
    expect([labelOf(row, "data"), labelOf(row)]).toEqual(["PUB", "PUB"]);
  });
});

describe("licences (item 31, spec §9.2)", () => {
  it("20004 without a licence, 20005 with a disabled one, the row once enabled", async () => {
    const id = await flow();
    await publish(id, 1, 1);
    expect(await codeOf(cat.checkLicence("d1590f30", id))).toBe(20004);
    expect(await codeOf(cat.openFlow(id, "d1590f30", ""))).toBe(20004);
    await cat.authorize("tenant01", id, "d1590f30");
    await cat.authorize("tenant01", id, "d1590f30"); // idempotent
    expect((await cat.openFlow(id, "d1590f30", "")).group_id).toBe(id);
    const demo = await cat.requireApp("d1590f30");
    await cat.setLicenceStatus(demo.id, id, 0);
    expect(await codeOf(cat.checkLicence("d1590f30", id))).toBe(20005);
    expect(await codeOf(cat.openFlow(id, "d1590f30", ""))).toBe(20005);
    await cat.setLicenceStatus(demo.id, id, 1);
    expect(await codeOf(cat.checkLicence("d1590f30", id))).toBeUndefined();
    // another app is not covered by d1590f30's licence
    expect(await codeOf(cat.checkLicence("other01", id))).toBe(20004);
  });

  it("binds only published flows (20204), for tenants (20002), known apps (20007) and known flows (20201)", async () => {
    const id = await flow();
    expect(await codeOf(cat.authorize("tenant01", id, "d1590f30"))).toBe(20204);
    await publish(id, 1, 1);
    expect(await codeOf(cat.authorize("d1590f30", id, "d1590f30"))).toBe(20002);
    expect(await codeOf(cat.authorize("tenant01", id, "nobody"))).toBe(20007);
    expect(await codeOf(cat.authorize("tenant01", "1", "d1590f30"))).toBe(20201);
    for (const plat of [1, 2, 4]) await publish(id, 3, plat);
    expect(await codeOf(cat.authorize("tenant01", id, "d1590f30"))).toBe(20204);
  });
});

describe("apps", () => {
  it("finds apps by alias and by api key, and tells tenants apart", async () => {
    expect((await cat.app("d1590f30"))?.api_key).toBe("demo-key");
    expect((await cat.appByKey("tenant-key"))?.alias_id).toBe("tenant01");
    expect(await cat.app("nobody")).toBeUndefined();
    expect(await codeOf(cat.requireApp("nobody"))).toBe(20000);
    expect(await codeOf(cat.requireTenant("d1590f30"))).toBe(20002);
    expect((await cat.requireTenant("tenant01")).is_tenant).toBe(1);
  });
});
