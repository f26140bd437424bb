// The private-address guard of the guarded fetch (issue 13 items 2 and 8), decided on the parsed address: every
// spelling of a loopback, private, link-local or special-purpose address a user can put into a URL is refused before
// anything is sent, on the first URL and on every redirect hop; and a failure to connect reaches the caller as its
// own code with a short message, never the platform's text. The fetch function is injected (it records what would
// have been sent), so this suite runs unchanged on Node, workerd and Deno; one test makes a real failing connection.
import { describe, expect, it, vi } from "vitest";
import { Codes } from "../../src/engine/codes.ts";
import { WorkflowError } from "../../src/engine/errors.ts";
import { createGuardedFetch, createSocketOpener, isPrivateHost } from "../../src/engine/net.ts";

const CODE = Codes.OPEN_AI_REQUEST_ERROR;

/** A fetch that answers from a script and records every request it was asked to send. */
function recorder(answer: (url: string, init: RequestInit) => Response = () => new Response("ok")): {
  fetch: typeof fetch;
  calls: { url: string; init: RequestInit }[];
} {
  const calls: { url: string; init: RequestInit }[] = [];
  const fn = (async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = String(input);
    calls.push({ url, init });
    return answer(url, init);
  }) as typeof fetch;
  return { fetch: fn, calls };
}

async function outcome(p: Promise<Response>): Promise<string> {
  try {
    return `ok ${await (await p).text()}`;
  } catch (e) {
    return e instanceof WorkflowError ? `${e.code} ${e.message}` : `other ${String(e)}`;
  }
}

// every one of these reaches this machine, its network or a special-purpose range when fetched
const REFUSED = [
  // IPv4 loopback in the numeric and short forms the URL parser accepts
  "http://127.0.0.1/",
  "http://127.1/",
  "http://2130706433/",
  "http://0x7f.1/",
  "http://0x7f000001/",
  "http://0177.0.0.1/",
  "http://127.000.000.001/",
  "http://127.0.0.1./",
  "http://127.255.255.254:8080/x",
  // IPv6 loopback and IPv6 forms that carry a private IPv4 address
  "http://[::1]/",
  "http://[0:0:0:0:0:0:0:1]/",
  "http://[::ffff:127.0.0.1]:8080/",
  "http://[0:0:0:0:0:ffff:7f00:1]/",
  "http://[::FFFF:7F00:1]/",
  "http://[::ffff:0:127.0.0.1]/",
  "http://[::ffff:169.254.169.254]/latest/meta-data/",
  "http://[::127.0.0.1]/",
  "http://[64:ff9b::127.0.0.1]/",
  "http://[64:ff9b::a9fe:a9fe]/",
  "http://[64:ff9b:1::808:808]/",
  "http://[2002:7f00:1::1]/",
  "http://[2002:c0a8:101::1]/",
  "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
  // local names, any case, with or without the trailing dot
  "http://localhost/",
  "http://localhost./",
  "http://LOCALHOST/",
  "http://LocalHost.:8080/",
  "http://api.localhost/",
  "http://a.b.LOCALHOST./",
  "http://localhost.localdomain/",
  "http://ip6-localhost/",
  "http://metadata.google.internal/computeMetadata/v1/",
  "http://printer.local/",
  "http://router.home.arpa/",
  // unspecified
  "http://0.0.0.0/",
  "http://0/",
  "http://[::]/",
  // RFC 1918, CGNAT, link-local and the cloud metadata address
  "http://10.0.0.1/",
  "http://10.255.255.255/",
  "http://172.16.0.1/",
  "http://172.31.255.255/",
  "http://192.168.1.1/",
  "http://100.64.0.1/",
  "http://100.127.255.254/",
  "http://169.254.169.254/latest/meta-data/",
  "http://0xa9fea9fe/",
  // multicast, broadcast, reserved, benchmarking, documentation, IETF protocol assignments
  "http://224.0.0.1/",
  "http://255.255.255.255/",
  "http://240.0.0.1/",
  "http://198.18.0.1/",
  "http://192.0.2.1/",
  "http://198.51.100.7/",
  "http://203.0.113.9/",
  "http://192.0.0.8/",
  // IPv6 link-local, unique-local, site-local, multicast, discard, documentation, benchmarking, unallocated
  "http://[fe80::1]/",
  "http://[fd00::1]/",
  "http://[fc00::1]/",
  "http://[fec0::1]/",
  "http://[ff02::1]/",
  "http://[100::1]/",
  "http://[2001:db8::1]/",
  "http://[2001:2::1]/",
  "http://[4000::1]/",
  "https://[::ffff:a00:1]:443/",
];

const ALLOWED = [
  "https://api.openai.com/v1/chat/completions",
  "https://example.com/",
  "http://8.8.8.8/",
  "http://1.1.1.1./",
  "http://172.32.0.1/",
  "http://100.128.0.1/",
  "https://[2606:4700:4700::1111]/",
  "http://[::ffff:8.8.8.8]/",
  "http://[64:ff9b::808:808]/",
  "http://[2002:808:808::1]/",
  "https://localhost.example.com/",
  "https://notlocalhost.dev/",
];

describe("private-address guard", () => {
  it(`refuses ${REFUSED.length} spellings of private addresses without sending anything`, async () => {
    expect(REFUSED.length).toBeGreaterThanOrEqual(40);
    const { fetch: base, calls } = recorder();
    const guarded = createGuardedFetch(base, { allowPrivate: false, errorCode: CODE });
    const wrong: string[] = [];
    for (const url of REFUSED) {
      const got = await outcome(guarded(url));
      if (!got.startsWith(`${CODE} `) || !got.includes("refused to call a private address"))
        wrong.push(`${url} → ${got}`);
    }
    expect(wrong).toEqual([]);
    expect(calls).toEqual([]);
  });

  it("lets public addresses and names through", async () => {
    const { fetch: base, calls } = recorder();
    const guarded = createGuardedFetch(base, { allowPrivate: false, errorCode: CODE });
    for (const url of ALLOWED) expect([url, await outcome(guarded(url))]).toEqual([url, "ok ok"]);
    expect(calls.length).toBe(ALLOWED.length);
  });

  it("decides on bare host names the same way (isPrivateHost)", () => {
    for (const h of [
      "127.1",
      "::ffff:127.0.0.1",
      "[::ffff:7f00:1]",
      "localhost.",
      "LOCALHOST",
      "x.localhost",
      "0x7f.1",
      "",
      "a/b",
      "evil.com@127.0.0.1",
    ]) {
      expect([h, isPrivateHost(h)]).toEqual([h, true]);
    }
    for (const h of ["example.com", "8.8.8.8", "2606:4700:4700::1111", "[2606:4700:4700::1111]"])
      expect([h, isPrivateHost(h)]).toEqual([h, false]);
  });

  it("keeps private targets reachable when the deployment allows them (tests, local development)", async () => {
    const { fetch: base, calls } = recorder();
    const open = createGuardedFetch(base, { allowPrivate: true, errorCode: CODE });
    expect(await outcome(open("http://[::ffff:127.0.0.1]:8080/v1"))).toBe("ok ok");
    expect(calls.map((c) => c.url)).toEqual(["http://[::ffff:7f00:1]:8080/v1"]);
  });

  it("refuses the same spellings for WebSocket URLs (Spark) before a socket is opened", () => {
    const open = createSocketOpener({ allowPrivate: false, errorCode: Codes.SPARK_REQUEST_ERROR });
    for (const url of [
      "ws://[::ffff:127.0.0.1]:9000/v3.1/chat",
      "wss://[0:0:0:0:0:ffff:7f00:1]/",
      "ws://localhost.:9000/",
      "WS://127.1/",
      "wss://[::1]/",
    ]) {
      let got = "";
      try {
        open(url);
        got = "opened";
      } catch (e) {
        got = e instanceof WorkflowError ? `${e.code} ${e.message}` : String(e);
      }
      expect([url, got]).toEqual([url, expect.stringMatching(/^20303 .*refused to call a private address/)]);
    }
  });
});

describe("redirects", () => {
  it("refuses a redirect from an allowed public URL to a private address, and sends nothing there", async () => {
    for (const target of [
      "http://[::ffff:127.0.0.1]:8080/admin",
      "http://localhost./",
      "http://169.254.169.254/latest/meta-data/",
      "http://2130706433/",
    ]) {
      const { fetch: base, calls } = recorder((url) =>
        url.startsWith("https://public.example/")
          ? new Response(null, { status: 302, headers: { location: target } })
          : new Response("secret"),
      );
      const guarded = createGuardedFetch(base, { allowPrivate: false, errorCode: CODE });
      expect(await outcome(guarded("https://public.example/start"))).toMatch(
        new RegExp(`^${CODE} .*refused to call a private address`),
      );
      expect(calls.map((c) => c.url)).toEqual(["https://public.example/start"]);
      expect(calls[0]?.init.redirect).toBe("manual");
    }
  });

  it("follows public redirects, re-checking each hop, and stops after the hop cap", async () => {
    const { fetch: base, calls } = recorder((url) => {
      const n = Number(new URL(url).pathname.slice(1));
      return new Response(null, { status: 301, headers: { location: `https://hop${n + 1}.example/${n + 1}` } });
    });
    const guarded = createGuardedFetch(base, { errorCode: CODE });
    expect(await outcome(guarded("https://hop0.example/0"))).toBe(
      `${CODE} ${new WorkflowError(CODE).message}(too many redirects)`,
    );
    expect(calls.length).toBe(6);
  });

  it("drops credentials on a redirect to another origin and turns a redirected POST into a GET", async () => {
    const { fetch: base, calls } = recorder((url) => {
      if (url === "https://a.example/one") return new Response(null, { status: 302, headers: { location: "/two" } });
      if (url === "https://a.example/two")
        return new Response(null, { status: 307, headers: { location: "https://b.example/three" } });
      return new Response("done");
    });
    const guarded = createGuardedFetch(base, { errorCode: CODE });
    const res = await guarded("https://a.example/one", {
      method: "POST",
      body: "{}",
      headers: { Authorization: "Bearer sk-secret", "X-Trace": "t" },
    });
    expect(await res.text()).toBe("done");
    expect(
      calls.map((c) => [
        c.url,
        c.init.method,
        new Headers(c.init.headers).get("authorization"),
        new Headers(c.init.headers).get("x-trace"),
      ]),
    ).toEqual([
      ["https://a.example/one", "POST", "Bearer sk-secret", "t"],
      ["https://a.example/two", "GET", "Bearer sk-secret", "t"],
      ["https://b.example/three", "GET", null, "t"],
    ]);
  });
});

describe("network failures", () => {
  it("turns the platform's error text into the caller's code and 'could not reach <host>'", async () => {
    const failures = [
      new Error("internal error; reference = 5f1nq4c2mjk0a7d3"),
      new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED 10.0.0.5:8443") }),
      new TypeError(
        "error sending request for url (https://llm.example:8443/): dns error: failed to lookup address information",
      ),
    ];
    for (const failure of failures) {
      const guarded = createGuardedFetch(() => Promise.reject(failure), { errorCode: CODE });
      const got = await outcome(guarded("https://llm.example:8443/v1/chat/completions"));
      expect(got).toBe(`${CODE} ${new WorkflowError(CODE).message}(could not reach llm.example:8443)`);
    }
  });

  it("says the same for a real connection that fails (`localhost.` on a closed port)", async () => {
    // workerd answers this one with "internal error; reference = …", Node with a resolver or socket error and
    // Deno (run without net permission) with a permission error: none of that text may come through
    const guarded = createGuardedFetch(fetch, { allowPrivate: true, errorCode: CODE, timeoutMs: 10_000 });
    const got = await outcome(guarded("http://localhost.:1/v1/chat/completions"));
    expect(got).toBe(`${CODE} ${new WorkflowError(CODE).message}(could not reach localhost.:1)`);
  });
});

// Issue 15 (memory): the request's timeout is a timer that ends with the request. AbortSignal.timeout's could not be
// cleared, and on workerd a pending timer keeps a Durable Object resident with its storage open: every run that made
// a request stayed in memory for the whole limit (30 minutes for a model's stream).
describe("the request timeout", () => {
  const LIMIT = 987_654; // a delay nothing else in these tests arms

  function timers(): { armed: () => unknown; cleared: () => boolean; restore: () => void } {
    const set = vi.spyOn(globalThis, "setTimeout");
    const clear = vi.spyOn(globalThis, "clearTimeout");
    const armed = (): unknown => {
      const i = set.mock.calls.findIndex((c) => c[1] === LIMIT);
      if (i < 0) throw new Error("no timer was armed for the request");
      return set.mock.results[i]?.value;
    };
    return {
      armed,
      cleared: () => clear.mock.calls.some((c) => c[0] === armed()),
      restore: () => {
        set.mockRestore();
        clear.mockRestore();
      },
    };
  }

  it("covers the body, and is cleared once the body has been read to its end", async () => {
    const t = timers();
    try {
      const guarded = createGuardedFetch(recorder(() => new Response("a body")).fetch, { timeoutMs: LIMIT });
      const res = await guarded("https://api.example/x");
      t.armed();
      expect(t.cleared()).toBe(false); // the body is still to come: the limit still holds
      expect(await res.text()).toBe("a body");
      expect(t.cleared()).toBe(true);
    } finally {
      t.restore();
    }
  });

  it("is cleared when the caller cancels the body, when there is none, and when the request fails", async () => {
    const cases: [string, (url: string, init: RequestInit) => Response, (p: Promise<Response>) => Promise<unknown>][] =
      [
        ["cancelled", () => new Response("never read"), async (p) => (await p).body?.cancel()],
        ["no body", () => new Response(null, { status: 204 }), (p) => p],
        [
          "failed",
          () => {
            throw new TypeError("connection refused");
          },
          (p) => p.catch(() => undefined),
        ],
        ["refused", () => new Response("x"), (p) => p.catch(() => undefined)],
      ];
    for (const [name, answer, use] of cases) {
      const t = timers();
      try {
        const guarded = createGuardedFetch(recorder(answer).fetch, { timeoutMs: LIMIT });
        // "refused": a private target, turned down after the timer was armed
        await use(guarded(name === "refused" ? "http://10.0.0.1/" : "https://api.example/x"));
        expect([name, t.cleared()]).toEqual([name, true]);
      } finally {
        t.restore();
      }
    }
  });

  it("still ends a request whose answer does not come in time", async () => {
    const hang = ((_input: RequestInfo | URL, init: RequestInit = {}) =>
      new Promise<Response>((_resolve, reject) =>
        init.signal?.addEventListener("abort", () => reject(init.signal?.reason)),
      )) as typeof fetch;
    const guarded = createGuardedFetch(hang, { timeoutMs: 30, errorCode: CODE });
    expect(await outcome(guarded("https://slow.example/x"))).toBe(
      `${CODE} ${new WorkflowError(CODE).message}(request to slow.example timed out after 30 ms)`,
    );
  });
});
