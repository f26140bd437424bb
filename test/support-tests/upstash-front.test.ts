// The Upstash REST front itself (Node): the documented protocol as the real client and a raw HTTP caller see it,
// over a real redis-server started for this file.
import { Redis } from "@upstash/redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pong, startRedis, type RedisHandle } from "../support/redis-server.ts";
import { startUpstashFront, type UpstashFront } from "../support/upstash-front.ts";

const TOKEN = "front-test-token";
let redis: RedisHandle;
let front: UpstashFront;

beforeAll(async () => {
  redis = await startRedis();
  front = await startUpstashFront({ redisPort: redis.port, token: TOKEN });
});

afterAll(async () => {
  await front.close();
  await redis.stop();
});

interface Answer {
  status: number;
  body: unknown;
}

async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${front.url}${path}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${TOKEN}`, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const b64 = (s: string): string => Buffer.from(s).toString("base64");
const client = (): Redis => new Redis({ url: front.url, token: TOKEN, enableTelemetry: false });

describe("redis-server launcher", () => {
  it("starts independent servers on free ports and stops them", async () => {
    const [a, b] = await Promise.all([startRedis(), startRedis()]);
    expect(a.port).not.toBe(b.port);
    expect(await pong(a.port)).toBe(true);
    await a.stop();
    expect(await pong(a.port)).toBe(false);
    expect(await pong(b.port)).toBe(true);
    b.kill();
    await new Promise((r) => setTimeout(r, 100));
    expect(await pong(b.port)).toBe(false);
    await b.stop();
  });
});

describe("single commands (POST / with a JSON array)", () => {
  it("answers {result} with plain values without an encoding header", async () => {
    expect(await post("/", ["SET", "plain", "héllo ✓", "EX", 60])).toEqual({ status: 200, body: { result: "OK" } });
    expect(await post("/", ["GET", "plain"])).toEqual({ status: 200, body: { result: "héllo ✓" } });
    expect(await post("/", ["TTL", "plain"])).toMatchObject({ body: { result: expect.any(Number) } });
    expect(await post("/", ["GET", "absent"])).toEqual({ status: 200, body: { result: null } });
  });

  it("base64-encodes every string but a top-level OK when asked (Upstash-Encoding: base64)", async () => {
    const enc = { "Upstash-Encoding": "base64" };
    expect((await post("/", ["SET", "enc", "héllo"], enc)).body).toEqual({ result: "OK" });
    expect((await post("/", ["GET", "enc"], enc)).body).toEqual({ result: b64("héllo") });
    expect((await post("/", ["PING"], enc)).body).toEqual({ result: b64("PONG") });
    expect((await post("/", ["TYPE", "enc"], enc)).body).toEqual({ result: b64("string") });
    expect((await post("/", ["STRLEN", "enc"], enc)).body).toEqual({ result: 6 });
    await post("/", ["DEL", "list"]);
    await post("/", ["RPUSH", "list", "a", "OK"]);
    expect((await post("/", ["LRANGE", "list", 0, -1], enc)).body).toEqual({ result: [b64("a"), b64("OK")] });
  });

  it("answers a redis error with 400 {error}", async () => {
    expect(await post("/", ["NOSUCHCOMMAND"])).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/^ERR unknown command/) },
    });
    expect(await post("/", "not json")).toMatchObject({ status: 400, body: { error: expect.any(String) } });
    expect(await post("/", [])).toMatchObject({ status: 400 });
  });

  it("refuses a missing or wrong token with 401 JSON, and accepts ?_token=", async () => {
    const none = await fetch(front.url, { method: "POST", body: JSON.stringify(["PING"]) });
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({ error: "Unauthorized" });
    expect((await post("/", ["PING"], { Authorization: "Bearer nope" })).status).toBe(401);
    const query = await fetch(`${front.url}/?_token=${TOKEN}`, { method: "POST", body: JSON.stringify(["PING"]) });
    expect(await query.json()).toEqual({ result: "PONG" });
  });

  it("takes commands in the path form, a POST body as the last argument", async () => {
    const auth = { Authorization: `Bearer ${TOKEN}` };
    expect(await (await fetch(`${front.url}/set/path-key/path%20value`, { headers: auth })).json()).toEqual({
      result: "OK",
    });
    expect(await (await fetch(`${front.url}/get/path-key`, { headers: auth })).json()).toEqual({
      result: "path value",
    });
    await fetch(`${front.url}/set/body-key`, { method: "POST", headers: auth, body: '{"a":1}' });
    expect(await (await fetch(`${front.url}/get/body-key`, { headers: auth })).json()).toEqual({ result: '{"a":1}' });
  });
});

describe("pipelines and transactions", () => {
  it("runs a pipeline in order with an entry per command, errors included", async () => {
    const r = await post("/pipeline", [
      ["SET", "p1", "v"],
      ["INCR", "p1"],
      ["GET", "p1"],
      ["HSET", "p2", "f", 1],
    ]);
    expect(r.status).toBe(200);
    expect(r.body).toEqual([
      { result: "OK" },
      { error: "ERR value is not an integer or out of range" },
      { result: "v" },
      { result: expect.any(Number) },
    ]);
  });

  it("runs /multi-exec as one transaction that no concurrent request interleaves with", async () => {
    await post("/", ["SET", "counter", 0]);
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        i % 2
          ? post("/pipeline", [["INCR", "counter"]])
          : post("/multi-exec", [
              ["INCR", "counter"],
              ["GET", "counter"],
              ["INCR", "counter"],
            ]),
      ),
    );
    for (const [i, a] of answers.entries()) {
      if (i % 2) continue;
      const [first, read, second] = a.body as { result: number | string }[];
      expect(Number(read?.result)).toBe(first?.result);
      expect(second?.result).toBe(Number(first?.result) + 1);
    }
    expect((await post("/", ["GET", "counter"])).body).toEqual({ result: "60" });
  });

  it("aborts a transaction with a queueing error (400), reports a runtime error per entry", async () => {
    expect(await post("/multi-exec", [["SET", "tx", "1"], ["NOSUCH"]])).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/^EXECABORT/) },
    });
    expect((await post("/", ["GET", "tx"])).body).toEqual({ result: null });
    const r = await post("/multi-exec", [
      ["SET", "tx", "a"],
      ["INCR", "tx"],
    ]);
    expect(r).toEqual({
      status: 200,
      body: [{ result: "OK" }, { error: "ERR value is not an integer or out of range" }],
    });
  });

  it("rejects a pipeline that is not an array of commands", async () => {
    expect((await post("/pipeline", ["GET", "x"])).status).toBe(400);
    expect((await post("/pipeline", [])).status).toBe(400);
  });
});

describe("the real @upstash/redis client over the front", () => {
  it("round-trips JSON values, hashes, pipelines and transactions with its default base64 encoding", async () => {
    const r = client();
    await r.set("client:obj", { plan: [1, "two", { three: true }] }, { ex: 30 });
    expect(await r.get("client:obj")).toEqual({ plan: [1, "two", { three: true }] });
    expect(await r.ttl("client:obj")).toBeGreaterThan(25);
    await r.hset("client:hash", { a: 1, b: "x", c: { d: [1] } });
    expect(await r.hgetall("client:hash")).toEqual({ a: 1, b: "x", c: { d: [1] } });
    const p = r.pipeline();
    p.set("client:p", "v");
    p.get("client:p");
    p.sadd("client:s", "m1", "m2");
    p.smembers("client:s");
    const [ok, got, added, members] = await p.exec();
    expect([ok, got, added]).toEqual(["OK", "v", 2]);
    expect((members as string[]).sort()).toEqual(["m1", "m2"]);
    const tx = r.multi();
    tx.incr("client:n");
    tx.incr("client:n");
    expect(await tx.exec()).toEqual([1, 2]);
    expect(await r.ping()).toBe("PONG");
  });
});

describe("faults for tests", () => {
  it("delays answers, scoped or everywhere", async () => {
    front.setDelay(400, "slow");
    try {
      let t = Date.now();
      await post("/~slow", ["PING"]);
      expect(Date.now() - t).toBeGreaterThanOrEqual(390);
      t = Date.now();
      await post("/", ["PING"]);
      expect(Date.now() - t).toBeLessThan(300);
      expect(front.requests("slow")).toBe(1);
    } finally {
      front.setDelay(0, "slow");
    }
  });

  it("answers 500 when down, or drops the connection", async () => {
    front.setDown(true);
    try {
      expect(await post("/", ["PING"])).toMatchObject({ status: 500, body: { error: expect.any(String) } });
      await expect(client().get("x")).rejects.toThrow(/unavailable/);
      front.setDown(true, { mode: "reset" });
      await expect(post("/", ["PING"])).rejects.toThrow();
    } finally {
      front.setDown(false);
    }
    expect((await post("/", ["PING"])).body).toEqual({ result: "PONG" });
  });

  it("is controlled over HTTP with the same token", async () => {
    expect((await post("/__control", { scope: "ctl", down: true }, { Authorization: "Bearer nope" })).status).toBe(401);
    expect(await post("/__control", { scope: "ctl", down: true })).toMatchObject({
      status: 200,
      body: { scope: "ctl", down: true },
    });
    expect((await post("/~ctl/pipeline", [["PING"]])).status).toBe(500);
    expect((await post("/pipeline", [["PING"]])).status).toBe(200);
    await post("/__control", { scope: "ctl", down: false });
    expect((await post("/~ctl/pipeline", [["PING"]])).body).toEqual([{ result: "PONG" }]);
  });

  it("answers 500 JSON when redis itself is gone", async () => {
    const own = await startRedis();
    const f = await startUpstashFront({ redisPort: own.port, token: TOKEN });
    try {
      own.kill();
      await new Promise((r) => setTimeout(r, 100));
      const res = await fetch(f.url, {
        method: "POST",
        headers: { Authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(["PING"]),
      });
      expect(res.status).toBe(500);
      expect(await res.json()).toMatchObject({ error: expect.stringMatching(/redis unavailable/) });
    } finally {
      await f.close();
      await own.stop();
    }
  });
});
