// Authentication modes of spec §1.4 [new], against the real app table in D1: the verifier on its own, then the
// worker's real routes with AUTH_MODE switched per request (the failure is always the JSON envelope, never a 401 page).
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { app } from "../../src/worker/app.ts";
import {
  authenticate,
  authMode,
  hmacSignature,
  sha256Digest,
  timingSafeEqual,
  type AuthOptions,
  type AuthRequest,
} from "../../src/worker/auth.ts";
import type { Env } from "../../src/worker/env.ts";
import type { Catalog } from "../../src/worker/store/catalog.ts";
import { seedApps } from "../support/seed.ts";
import { codeOfAsync as codeOf } from "../support/errors.ts";

let catalog: Catalog;
beforeAll(async () => {
  catalog = await seedApps();
});

function req(headers: Record<string, string>, body = "", path = "/v1/publish"): AuthRequest {
  return {
    method: "POST",
    url: new URL(`http://astron.test${path}`),
    headers: new Headers(headers),
    body: async () => new TextEncoder().encode(body).buffer as ArrayBuffer,
  };
}

const now = Date.parse("2026-11-24T10:00:00Z");
const opts = { skewSeconds: 300, now };

async function hmacHeaders(
  secret: string,
  key: string,
  body: string,
  {
    date = new Date(now).toUTCString(),
    path = "/v1/publish",
    host = "astron.test",
  }: { date?: string; path?: string; host?: string } = {},
): Promise<Record<string, string>> {
  const digest = await sha256Digest(body);
  const signature = await hmacSignature(
    secret,
    `host: ${host}\ndate: ${date}\nPOST ${path} HTTP/1.1\ndigest: ${digest}`,
  );
  return {
    host,
    date,
    digest,
    authorization: `hmac-auth api_key="${key}", algorithm="hmac-sha256", headers="host date request-line digest", signature="${signature}"`,
  };
}

describe("the verifier (spec §1.4)", () => {
  it("defaults to gateway mode for anything but key or hmac", () => {
    expect(authMode(undefined)).toBe("gateway");
    expect(authMode("nonsense")).toBe("gateway");
    expect(authMode("key")).toBe("key");
    expect(authMode("hmac")).toBe("hmac");
  });

  it("compares secrets without stopping at the first difference or at a length difference", () => {
    expect(timingSafeEqual("abc", "abc")).toBe(true);
    expect(timingSafeEqual("abc", "abd")).toBe(false);
    expect(timingSafeEqual("abc", "abcd")).toBe(false);
    expect(timingSafeEqual("", "")).toBe(true);
  });

  it("gateway mode trusts X-Consumer-Username and names no app without it", async () => {
    expect(await authenticate("gateway", req({ "x-consumer-username": "anyone" }), catalog, opts)).toBe("anyone");
    expect(await authenticate("gateway", req({}), catalog, opts)).toBeUndefined();
  });

  it("key mode accepts key:secret plain or as Bearer, for the named app or the app owning the key", async () => {
    expect(
      await authenticate(
        "key",
        req({ "x-consumer-username": "d1590f30", authorization: "demo-key:demo-secret" }),
        catalog,
        opts,
      ),
    ).toBe("d1590f30");
    expect(
      await authenticate(
        "key",
        req({ "x-consumer-username": "d1590f30", authorization: "Bearer demo-key:demo-secret" }),
        catalog,
        opts,
      ),
    ).toBe("d1590f30");
    expect(await authenticate("key", req({ authorization: "Bearer demo-key:demo-secret" }), catalog, opts)).toBe(
      "d1590f30",
    );
  });

  it("key mode refuses a wrong secret, another app's key, a malformed or missing Authorization with 460", async () => {
    const cases: Record<string, string>[] = [
      { "x-consumer-username": "d1590f30", authorization: "demo-key:wrong" },
      { "x-consumer-username": "d1590f30", authorization: "other-key:other-secret" },
      { "x-consumer-username": "nobody", authorization: "demo-key:demo-secret" },
      { "x-consumer-username": "d1590f30", authorization: "demo-key" },
      { "x-consumer-username": "d1590f30", authorization: ":demo-secret" },
      { "x-consumer-username": "d1590f30" },
      { authorization: "unknown-key:whatever" },
    ];
    for (const headers of cases)
      expect(await codeOf(authenticate("key", req(headers), catalog, opts)), JSON.stringify(headers)).toBe(460);
  });

  it("hmac mode verifies signature, digest and clock skew", async () => {
    const body = '{"flow_id":"1"}';
    const good = await hmacHeaders("tenant-secret", "tenant-key", body);
    expect(await authenticate("hmac", req(good, body), catalog, opts)).toBe("tenant01");
    // wrong secret, tampered body, stale or future date, unknown key
    expect(
      await codeOf(authenticate("hmac", req(await hmacHeaders("bad-secret", "tenant-key", body), body), catalog, opts)),
    ).toBe(460);
    expect(await codeOf(authenticate("hmac", req(good, '{"flow_id":"2"}'), catalog, opts))).toBe(460);
    const old = await hmacHeaders("tenant-secret", "tenant-key", body, { date: new Date(now - 301_000).toUTCString() });
    expect(await codeOf(authenticate("hmac", req(old, body), catalog, opts))).toBe(460);
    const future = await hmacHeaders("tenant-secret", "tenant-key", body, {
      date: new Date(now + 301_000).toUTCString(),
    });
    expect(await codeOf(authenticate("hmac", req(future, body), catalog, opts))).toBe(460);
    const withinSkew = await hmacHeaders("tenant-secret", "tenant-key", body, {
      date: new Date(now - 299_000).toUTCString(),
    });
    expect(await authenticate("hmac", req(withinSkew, body), catalog, opts)).toBe("tenant01");
    expect(
      await codeOf(authenticate("hmac", req(await hmacHeaders("x", "no-such-key", body), body), catalog, opts)),
    ).toBe(460);
  });

  it("hmac mode binds the signature to the route: a signature for /v1/auth does not open /v1/publish", async () => {
    const body = "{}";
    const forAuth = await hmacHeaders("tenant-secret", "tenant-key", body, { path: "/v1/auth" });
    expect(await codeOf(authenticate("hmac", req(forAuth, body, "/v1/publish"), catalog, opts))).toBe(460);
    expect(await authenticate("hmac", req(forAuth, body, "/v1/auth"), catalog, opts)).toBe("tenant01");
  });

  it("hmac mode: a tenant may act for another app, an ordinary app only for itself", async () => {
    const body = "{}";
    const tenant = await hmacHeaders("tenant-secret", "tenant-key", body);
    expect(await authenticate("hmac", req({ ...tenant, "x-consumer-username": "d1590f30" }, body), catalog, opts)).toBe(
      "d1590f30",
    );
    const demo = await hmacHeaders("demo-secret", "demo-key", body);
    expect(await authenticate("hmac", req({ ...demo, "x-consumer-username": "d1590f30" }, body), catalog, opts)).toBe(
      "d1590f30",
    );
    expect(
      await codeOf(authenticate("hmac", req({ ...demo, "x-consumer-username": "other01" }, body), catalog, opts)),
    ).toBe(460);
  });

  it("hmac mode also accepts key:secret (the console sends it on chat and resume)", async () => {
    expect(
      await authenticate(
        "hmac",
        req({ "x-consumer-username": "d1590f30", authorization: "demo-key:demo-secret" }),
        catalog,
        opts,
      ),
    ).toBe("d1590f30");
    expect(await codeOf(authenticate("hmac", req({ "x-consumer-username": "d1590f30" }), catalog, opts))).toBe(460);
  });

  it("hmac mode refuses a signature that leaves out the date or an unsupported algorithm", async () => {
    const body = "{}";
    const date = new Date(now).toUTCString();
    const digest = await sha256Digest(body);
    const sig = await hmacSignature("tenant-secret", `host: astron.test\nPOST /v1/publish HTTP/1.1\ndigest: ${digest}`);
    const noDate = {
      host: "astron.test",
      date,
      digest,
      authorization: `hmac-auth api_key="tenant-key", algorithm="hmac-sha256", headers="host request-line digest", signature="${sig}"`,
    };
    expect(await codeOf(authenticate("hmac", req(noDate, body), catalog, opts))).toBe(460);
    const good = await hmacHeaders("tenant-secret", "tenant-key", body);
    const sha1 = { ...good, authorization: good.authorization?.replace("hmac-sha256", "hmac-sha1") ?? "" };
    expect(await codeOf(authenticate("hmac", req(sha1, body), catalog, opts))).toBe(460);
  });
});

describe("strict hmac mode (issue 13 item 9)", () => {
  const strict = (): AuthOptions => ({ ...opts, strict: true, nonces: catalog });
  let n = 0;
  const freshNonce = (): string => `nonce-${Date.now()}-${n++}-${"x".repeat(8)}`;

  /** headers signed the strict way: digest, nonce and (when given) the identity header are covered */
  async function strictHeaders(
    secret: string,
    key: string,
    body: string,
    { consumer, nonce = freshNonce(), path = "/v1/publish" }: { consumer?: string; nonce?: string; path?: string } = {},
  ): Promise<Record<string, string>> {
    const date = new Date(now).toUTCString();
    const digest = await sha256Digest(body);
    const names = ["host", "date", "request-line", "digest", "x-nonce", ...(consumer ? ["x-consumer-username"] : [])];
    const values: Record<string, string> = {
      host: "astron.test",
      date,
      digest,
      "x-nonce": nonce,
      ...(consumer ? { "x-consumer-username": consumer } : {}),
    };
    const text = names.map((h) => (h === "request-line" ? `POST ${path} HTTP/1.1` : `${h}: ${values[h]}`)).join("\n");
    const signature = await hmacSignature(secret, text);
    return {
      ...values,
      authorization: `hmac-auth api_key="${key}", algorithm="hmac-sha256", headers="${names.join(" ")}", signature="${signature}"`,
    };
  }

  it("refuses the console's scheme, which signs no nonce and no identity header", async () => {
    const body = '{"flow_id":"1"}';
    const legacy = await hmacHeaders("tenant-secret", "tenant-key", body);
    expect(await authenticate("hmac", req(legacy, body), catalog, opts)).toBe("tenant01");
    const e = await authenticate("hmac", req(legacy, body), catalog, strict()).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 460, message: expect.stringContaining("x-nonce") });
  });

  it("accepts a strictly signed request once: the identical replay is refused", async () => {
    const body = '{"flow_id":"1"}';
    const h = await strictHeaders("tenant-secret", "tenant-key", body, { consumer: "d1590f30" });
    expect(await authenticate("hmac", req(h, body), catalog, strict())).toBe("d1590f30");
    const replay = await authenticate("hmac", req(h, body), catalog, strict()).catch((x: unknown) => x);
    expect(replay).toMatchObject({ code: 460, message: expect.stringContaining("replayed") });
    // the compatible mode cannot tell the two apart (what strict mode exists for)
    expect(await authenticate("hmac", req(h, body), catalog, opts)).toBe("d1590f30");
  });

  it("binds the identity header: a tenant's signature replayed for another app fails, and so does an unsigned one", async () => {
    const body = '{"flow_id":"1"}';
    const h = await strictHeaders("tenant-secret", "tenant-key", body, { consumer: "d1590f30" });
    const swapped = { ...h, "x-consumer-username": "other01" };
    expect(await authenticate("hmac", req(swapped, body), catalog, strict()).catch((x: unknown) => x)).toMatchObject({
      code: 460,
      message: expect.stringContaining("bad signature"),
    });
    // signed without the header, then the header added: refused before any signature check
    const bare = await strictHeaders("tenant-secret", "tenant-key", body);
    const added = { ...bare, "x-consumer-username": "other01" };
    expect(await authenticate("hmac", req(added, body), catalog, strict()).catch((x: unknown) => x)).toMatchObject({
      code: 460,
      message: expect.stringContaining("x-consumer-username"),
    });
  });

  it("does not let a wrong signature burn the signer's nonce, and refuses malformed nonces", async () => {
    const body = "{}";
    const nonce = freshNonce();
    const h = await strictHeaders("tenant-secret", "tenant-key", body, { nonce });
    const forged = { ...h, authorization: h.authorization?.replace(/signature="[^"]*"/, 'signature="AAAA"') ?? "" };
    expect(await codeOf(authenticate("hmac", req(forged, body), catalog, strict()))).toBe(460);
    expect(await authenticate("hmac", req(h, body), catalog, strict())).toBe("tenant01");
    const short = await strictHeaders("tenant-secret", "tenant-key", body, { nonce: "abc" });
    expect(await authenticate("hmac", req(short, body), catalog, strict()).catch((x: unknown) => x)).toMatchObject({
      message: expect.stringContaining("x-nonce must be"),
    });
  });

  it("accepts a nonce again once its window has passed", async () => {
    const body = "{}";
    const nonce = freshNonce();
    const h = await strictHeaders("tenant-secret", "tenant-key", body, { nonce });
    expect(await authenticate("hmac", req(h, body), catalog, strict())).toBe("tenant01");
    const later = now + 2 * opts.skewSeconds * 1000 + 1;
    const h2: Record<string, string> = {
      ...(await strictHeaders("tenant-secret", "tenant-key", body, { nonce })),
      date: new Date(later).toUTCString(),
    };
    // re-sign with the later date
    const text = `host: astron.test\ndate: ${h2.date}\nPOST /v1/publish HTTP/1.1\ndigest: ${h2.digest}\nx-nonce: ${nonce}`;
    h2.authorization =
      h2.authorization?.replace(/signature="[^"]*"/, `signature="${await hmacSignature("tenant-secret", text)}"`) ?? "";
    expect(await authenticate("hmac", req(h2, body), catalog, { ...strict(), now: later })).toBe("tenant01");
  });
});

describe("authentication on the real routes", () => {
  async function call(
    mode: string,
    path: string,
    init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  ): Promise<Response> {
    const ctx = createExecutionContext();
    const res = await app.fetch(
      new Request(`http://astron.test${path}`, {
        method: init.method ?? "POST",
        headers: { "Content-Type": "application/json", ...init.headers },
        body: init.body,
      }),
      { ...(env as unknown as Env), AUTH_MODE: mode },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return res;
  }

  async function envelope(res: Response): Promise<{ code: number; message: string; sid?: string }> {
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    return (await res.json()) as { code: number; message: string; sid?: string };
  }

  it("gateway mode passes X-Consumer-Username through to the route", async () => {
    const r = await envelope(
      await call("gateway", "/v1/auth", {
        headers: { "X-Consumer-Username": "d1590f30" },
        body: JSON.stringify({ flow_id: "1", app_id: "d1590f30" }),
      }),
    );
    expect(r.code).toBe(20002); // the route ran and found d1590f30 is no tenant
  });

  it("key mode: good credentials reach the route, bad ones get a 460 envelope with a sid", async () => {
    const good = await envelope(
      await call("key", "/workflow/v1/get_flow_info/1", {
        method: "GET",
        headers: { "X-Consumer-Username": "d1590f30", Authorization: "demo-key:demo-secret" },
      }),
    );
    expect(good.code).toBe(20201); // authenticated; flow 1 does not exist
    const bearer = await envelope(
      await call("key", "/workflow/v1/get_flow_info/1", {
        method: "GET",
        headers: { Authorization: "Bearer demo-key:demo-secret" },
      }),
    );
    expect(bearer.code).toBe(20201); // the key alone names the app
    const bad = await envelope(
      await call("key", "/workflow/v1/get_flow_info/1", {
        method: "GET",
        headers: { "X-Consumer-Username": "d1590f30", Authorization: "demo-key:nope" },
      }),
    );
    expect(bad).toMatchObject({ code: 460, sid: expect.stringMatching(/^spf/) });
    expect(bad.message).toContain("Authentication failed");
    const none = await envelope(
      await call("key", "/workflow/v1/protocol/get", { body: JSON.stringify({ flow_id: "1" }) }),
    );
    expect(none.code).toBe(460);
  });

  it("hmac mode: a signed publish reaches the route; a bad signature or a stale date does not", async () => {
    const body = JSON.stringify({ flow_id: "424242", release_status: 1, plat: 1 });
    const date = new Date().toUTCString();
    const good = await hmacHeaders("tenant-secret", "tenant-key", body, { date });
    expect((await envelope(await call("hmac", "/v1/publish", { headers: good, body }))).code).toBe(20201); // authenticated as tenant01
    const bad = await hmacHeaders("wrong", "tenant-key", body, { date });
    expect((await envelope(await call("hmac", "/v1/publish", { headers: bad, body }))).code).toBe(460);
    const stale = await hmacHeaders("tenant-secret", "tenant-key", body, {
      date: new Date(Date.now() - 600_000).toUTCString(),
    });
    expect((await envelope(await call("hmac", "/v1/publish", { headers: stale, body }))).code).toBe(460);
  });

  it("hmac mode: a signed multipart upload (the console's) is verified over its raw bytes and still parsed by the route", async () => {
    const form = new FormData();
    form.append("file", new File([new TextEncoder().encode("signed file")], "s.txt", { type: "text/plain" }));
    const draft = new Request("http://astron.test/workflow/v1/upload_file", { method: "POST", body: form });
    const bytes = await draft.arrayBuffer();
    const contentType = draft.headers.get("content-type") ?? "";
    const date = new Date().toUTCString();
    const digest = await sha256Digest(bytes);
    const signature = await hmacSignature(
      "tenant-secret",
      `host: astron.test\ndate: ${date}\nPOST /workflow/v1/upload_file HTTP/1.1\ndigest: ${digest}`,
    );
    const headers = {
      "Content-Type": contentType,
      "X-Consumer-Username": "d1590f30",
      host: "astron.test",
      date,
      digest,
      authorization: `hmac-auth api_key="tenant-key", algorithm="hmac-sha256", headers="host date request-line digest", signature="${signature}"`,
    };
    const ctx = createExecutionContext();
    const res = await app.fetch(
      new Request("http://astron.test/workflow/v1/upload_file", { method: "POST", headers, body: bytes }),
      { ...(env as unknown as Env), AUTH_MODE: "hmac" },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    const r = (await res.json()) as { code: number; data?: { url: string } };
    expect(r.code).toBe(0);
    expect(r.data?.url).toMatch(/\.txt$/);
    const tampered = new Uint8Array(bytes);
    tampered[tampered.length - 10] ^= 1;
    const ctx2 = createExecutionContext();
    const bad = await app.fetch(
      new Request("http://astron.test/workflow/v1/upload_file", { method: "POST", headers, body: tampered }),
      { ...(env as unknown as Env), AUTH_MODE: "hmac" },
      ctx2,
    );
    await waitOnExecutionContext(ctx2);
    expect(((await bad.json()) as { code: number }).code).toBe(460);
  });

  it("keeps file URLs and the health check public in every mode", async () => {
    expect((await call("key", "/health", { method: "GET" })).status).toBe(200);
    const missing = await call("hmac", "/workflow/v1/files/none.pdf", { method: "GET" });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { code: number }).code).not.toBe(460);
  });

  it("lets preflights through without credentials", async () => {
    const res = await call("key", "/workflow/v1/chat/completions", {
      method: "OPTIONS",
      headers: { Origin: "https://console.example", "Access-Control-Request-Method": "POST" },
    });
    expect(res.status).toBe(204);
  });
});
