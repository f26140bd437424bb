// issue 13 item 8 at the HTTP edge: a bad body is a 460 that names the field and quotes a short prefix of the value,
// whatever the body is (null, a list, a 3 MB string), and never shows an internal error text.
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { seedApps } from "../support/seed.ts";

const APP = { "X-Consumer-Username": "d1590f30" };
const MB3 = 3 * 1024 * 1024;

async function post(path: string, body: string): Promise<{ code: number; message: string }> {
  const res = await SELF.fetch(`http://astron.test${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...APP },
    body,
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { code: number; message: string };
}

beforeAll(async () => {
  await seedApps();
});

describe("POST /workflow/v1/cancel with a body that is not an object", () => {
  it("answers 460 in the spec's wording for null, a list, a string, a number and an empty object", async () => {
    for (const body of ["null", "[]", '"x"', "5"]) {
      const r = await post("/workflow/v1/cancel", body);
      expect(r, body).toMatchObject({
        code: 460,
        message: expect.stringMatching(/^Parameter: body, Input: .*valid dictionary/),
      });
    }
    expect(await post("/workflow/v1/cancel", "{}")).toMatchObject({
      code: 460,
      message: expect.stringContaining("Parameter: body->event_id, Input: {}, Error: Field required (missing)"),
    });
  });
});

describe("chat validation errors quote a 3 MB value by a short prefix", () => {
  it("cuts an over-long field to 100 characters and its size", async () => {
    const uid = "u".repeat(MB3);
    const r = await post("/workflow/v1/chat/completions", JSON.stringify({ flow_id: "1", parameters: {}, uid }));
    expect(r.code).toBe(460);
    expect(r.message).toBe(
      `Parameter: body->uid, Input: "${"u".repeat(100)}…(${MB3} bytes), Error: String should have at most 40 characters (string_too_long)`,
    );
  });

  it("cuts the body a missing field is reported with", async () => {
    const r = await post(
      "/workflow/v1/debug/chat/completions",
      JSON.stringify({ parameters: { big: "p".repeat(MB3) } }),
    );
    expect(r.code).toBe(460);
    expect(r.message.length).toBeLessThan(400);
    expect(r.message).toMatch(
      /^Parameter: body->flow_id, Input: \{"parameters":\{"big":"p+…\(\d+ bytes\), Error: Field required \(missing\)$/,
    );
  });

  it("cuts a value in the other routes' 460 lines too (protocol/add)", async () => {
    const r = await post(
      "/workflow/v1/protocol/add",
      JSON.stringify({ name: "n".repeat(MB3), status: "x".repeat(MB3) }),
    );
    expect(r.code).toBe(460);
    expect(r.message.length).toBeLessThan(400);
    expect(r.message).toContain(`…(${MB3} bytes)`);
  });
});
