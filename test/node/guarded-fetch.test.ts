// The guarded fetch every plugin uses (ARCHITECTURE decision 9): private addresses refused unless allowed, a
// timeout over headers and body, a body-size cap, and redirects re-checked at every hop. Real servers on loopback.
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WorkflowError } from "../../src/engine/errors.ts";
import { createGuardedFetch, isPrivateHost } from "../../src/engine/net.ts";

let server: Server;
let base = "";

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === "/slow") {
      setTimeout(() => res.end("late"), 1_000);
      return;
    }
    if (req.url === "/big") {
      res.writeHead(200);
      let n = 0;
      const t = setInterval(() => {
        res.write("x".repeat(1024));
        if (++n === 64) {
          clearInterval(t);
          res.end();
        }
      }, 1);
      return;
    }
    if (req.url === "/redirect-private") {
      res.writeHead(302, { location: "http://10.0.0.1/secret" });
      res.end();
      return;
    }
    res.end("ok");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
});

afterAll(() => {
  server.close();
});

async function code(p: Promise<unknown>): Promise<number | string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return e instanceof WorkflowError ? e.code : String(e);
  }
}

describe("guarded fetch", () => {
  it("refuses loopback, private and link-local targets unless allowed", async () => {
    const strict = createGuardedFetch(fetch, { errorCode: 23400 });
    expect(await code(strict(`${base}/`))).toBe(23400);
    for (const h of [
      "localhost",
      "127.0.0.1",
      "10.1.2.3",
      "172.16.0.1",
      "192.168.1.1",
      "169.254.169.254",
      "[::1]",
      "[fd00::1]",
      "0.0.0.0",
    ]) {
      expect(isPrivateHost(h)).toBe(true);
    }
    for (const h of ["example.com", "8.8.8.8", "172.32.0.1"]) expect(isPrivateHost(h)).toBe(false);
    const open = createGuardedFetch(fetch, { allowPrivate: true });
    expect(await (await open(`${base}/`)).text()).toBe("ok");
  });

  it("refuses non-http schemes", async () => {
    expect(await code(createGuardedFetch(fetch, { allowPrivate: true, errorCode: 1 })("file:///etc/passwd"))).toBe(1);
  });

  it("stops a slow response at its timeout", async () => {
    const f = createGuardedFetch(fetch, { allowPrivate: true, errorCode: 22302 });
    const t = Date.now();
    expect(await code(f(`${base}/slow`, { timeoutMs: 100 }))).toBe(22302);
    expect(Date.now() - t).toBeLessThan(800);
  });

  it("cuts a body larger than its cap", async () => {
    const f = createGuardedFetch(fetch, { allowPrivate: true, errorCode: 7 });
    const res = await f(`${base}/big`, { maxBytes: 10_000 });
    expect(await code(res.text())).toBe(7);
    expect((await (await f(`${base}/big`, { maxBytes: 100_000 })).text()).length).toBe(65_536);
  });

  it("re-checks every redirect hop against the private-address guard", async () => {
    // the first hop (this loopback server) is allowed by name; the redirect to 10.0.0.1 is not
    const f = createGuardedFetch(fetch, { allowHosts: ["127.0.0.1"], errorCode: 9 });
    expect(await (await f(`${base}/`)).text()).toBe("ok");
    let message = "";
    try {
      await f(`${base}/redirect-private`);
    } catch (e) {
      message = e instanceof WorkflowError ? `${e.code} ${e.message}` : String(e);
    }
    expect(message).toMatch(/^9 .*private address: 10\.0\.0\.1/);
  });
});
