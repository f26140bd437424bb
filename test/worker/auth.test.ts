// Authentication modes of spec §1.4 [new], against the real app table in D1.
import { beforeAll, describe, expect, it } from "vitest";
import { WorkflowError } from "../../src/engine/errors.ts";
import { authenticate, hmacSignature, sha256Digest, type AuthRequest } from "../../src/worker/auth.ts";
import type { Catalog } from "../../src/worker/store/catalog.ts";
import { seedApps } from "../support/seed.ts";

let catalog: Catalog;
beforeAll(async () => {
  catalog = await seedApps();
});

function req(headers: Record<string, string>, body = "", path = "/v1/publish"): AuthRequest {
  return { method: "POST", url: new URL(`http://astron.test${path}`), headers: new Headers(headers), body: async () => new TextEncoder().encode(body).buffer as ArrayBuffer };
}

async function codeOf(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
  } catch (e) {
    return e instanceof WorkflowError ? e.code : -1;
  }
  return undefined;
}

const now = Date.parse("2026-11-24T10:00:00Z");
const opts = { skewSeconds: 300, now };

async function hmacHeaders(secret: string, key: string, body: string, date = new Date(now).toUTCString()): Promise<Record<string, string>> {
  const digest = await sha256Digest(body);
  const signature = await hmacSignature(secret, `host: astron.test\ndate: ${date}\nPOST /v1/publish HTTP/1.1\ndigest: ${digest}`);
  return {
    host: "astron.test",
    date,
    digest,
    authorization: `hmac-auth api_key="${key}", algorithm="hmac-sha256", headers="host date request-line digest", signature="${signature}"`,
  };
}

describe("authentication (spec §1.4)", () => {
  it("gateway mode trusts X-Consumer-Username", async () => {
    expect(await authenticate("gateway", req({ "x-consumer-username": "anyone" }), catalog, opts)).toBe("anyone");
    expect(await authenticate("gateway", req({}), catalog, opts)).toBeUndefined();
  });

  it("key mode accepts key:secret plain or as Bearer, and refuses a wrong secret with an envelope code", async () => {
    expect(await authenticate("key", req({ "x-consumer-username": "d1590f30", authorization: "demo-key:demo-secret" }), catalog, opts)).toBe("d1590f30");
    expect(await authenticate("key", req({ "x-consumer-username": "d1590f30", authorization: "Bearer demo-key:demo-secret" }), catalog, opts)).toBe("d1590f30");
    expect(await codeOf(authenticate("key", req({ "x-consumer-username": "d1590f30", authorization: "demo-key:wrong" }), catalog, opts))).toBe(460);
    expect(await codeOf(authenticate("key", req({ "x-consumer-username": "d1590f30", authorization: "other-key:other-secret" }), catalog, opts))).toBe(460);
    expect(await codeOf(authenticate("key", req({ authorization: "demo-key:demo-secret" }), catalog, opts))).toBe(460);
  });

  it("hmac mode verifies signature, digest and clock skew", async () => {
    const body = '{"flow_id":"1"}';
    const good = await hmacHeaders("tenant-secret", "tenant-key", body);
    expect(await authenticate("hmac", req(good, body), catalog, opts)).toBe("tenant01");
    expect(await codeOf(authenticate("hmac", req(await hmacHeaders("bad-secret", "tenant-key", body), body), catalog, opts))).toBe(460);
    expect(await codeOf(authenticate("hmac", req(good, '{"flow_id":"2"}'), catalog, opts))).toBe(460);
    const old = await hmacHeaders("tenant-secret", "tenant-key", body, new Date(now - 301_000).toUTCString());
    expect(await codeOf(authenticate("hmac", req(old, body), catalog, opts))).toBe(460);
    // a tenant signing for one of its apps may name it in X-Consumer-Username
    expect(await authenticate("hmac", req({ ...good, "x-consumer-username": "d1590f30" }, body), catalog, opts)).toBe("d1590f30");
  });
});
