// The LLM node on the Spark protocol (spec §5.3.1, §5.3.4) against a fake Spark WebSocket server that checks the
// signed URL; the real example fixture example-core-start-llm-end.json runs unchanged but for its URL and keys.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGuardedFetch, createSocketOpener } from "../../src/engine/net.ts";
import type { Frame } from "../../src/engine/types.ts";
import { registry } from "../../src/plugins/index.ts";
import { signSparkUrl } from "../../src/plugins/providers/spark.ts";
import { describeFrame, frameNode, runFlow } from "../support/engine-harness.ts";
import { SPARK_KEY, SPARK_SECRET, startFakeSpark, type SparkScript } from "../support/fake-spark.ts";
import { loadFixture } from "../support/fixtures.ts";

let spark: Awaited<ReturnType<typeof startFakeSpark>>;
beforeAll(async () => {
  spark = await startFakeSpark();
});
afterAll(async () => {
  await spark.close();
});

const LLM = "spark-llm::3a4f6c1e-1b2d-4c5e-9f70-112233445566";

function fixture(script: SparkScript, secret = SPARK_SECRET): unknown {
  const dsl = loadFixture("example-core-start-llm-end.json") as {
    data: { nodes: { id: string; data: { nodeParam: Record<string, unknown> } }[] };
  };
  const llm = dsl.data.nodes.find((n) => n.id === LLM) as { data: { nodeParam: Record<string, unknown> } };
  Object.assign(llm.data.nodeParam, {
    url: spark.url,
    apiKey: SPARK_KEY,
    apiSecret: secret,
    uid: `script:${JSON.stringify(script)}`,
  });
  return dsl;
}

const opts = () => ({
  registry,
  fetch: createGuardedFetch(fetch, { allowPrivate: true }),
  openSocket: createSocketOpener({ allowPrivate: true }),
  parameters: { AGENT_USER_INPUT: "hi" },
});

describe("Spark protocol", () => {
  it("signs the URL as spec §5.3.1 describes", async () => {
    const signed = new URL(
      await signSparkUrl("wss://spark-api.xf-yun.com/v4.0/chat", "k", "s", new Date(Date.UTC(2026, 0, 1))),
    );
    expect(signed.searchParams.get("host")).toBe("spark-api.xf-yun.com");
    expect(signed.searchParams.get("date")).toBe("Thu, 01 Jan 2026 00:00:00 GMT");
    expect(atob(signed.searchParams.get("authorization") ?? "")).toMatch(
      /^api_key="k", algorithm="hmac-sha256", headers="host date request-line", signature="[A-Za-z0-9+/=]+"$/,
    );
  });

  it("runs the real start → llm → end fixture: tokens relayed, usage, the request frame of §5.3.1 (spec §2.8)", async () => {
    const { frames, outcome } = await runFlow(
      fixture({ tokens: ["Hel", "lo", "!"], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } }),
      opts(),
    );
    expect(outcome).toMatchObject({ status: "completed", outputs: { output: "Hello!" } });
    const end = frames.filter((f) => frameNode(f) === "node-end::cda617af-551e-462e-b3b8-3bb9a041bf88");
    expect(end.slice(1, -1).map((f) => f.choices[0]?.delta.content)).toEqual(["", "Hel", "lo", "!"]);
    expect((frames.at(-1) as Frame).usage).toEqual({ completion_tokens: 5, prompt_tokens: 10, total_tokens: 15 });
    const req = spark.requests().at(-1) as {
      header: Record<string, unknown>;
      parameter: { chat: Record<string, unknown> };
      payload: { message: { text: unknown[] } };
    };
    expect(req.parameter.chat).toMatchObject({
      domain: "4.0Ultra",
      temperature: 0.5,
      max_tokens: 2048,
      top_k: 4,
      auditing: "default",
    });
    expect(req.payload.message.text).toEqual([
      { role: "system", content: "You are a helpful assistant." },
      { role: "user", content: "hi" },
    ]);
  });

  it("maps Spark error 10013 to 20363: node error frame, then the workflow error end (item 12)", async () => {
    const { frames, outcome } = await runFlow(fixture({ errorCode: 10013 }), opts());
    expect(outcome).toMatchObject({ status: "failed", error: { code: 20363 } });
    const d = frames.map(describeFrame);
    expect(d).toContain(`${LLM}:error:20363`);
    expect(d.at(-1)).toBe("error:20363");
  });

  it("maps an unknown Spark code, a refused signature and a dropped connection to 20303", async () => {
    expect((await runFlow(fixture({ errorCode: 99999 }), opts())).outcome).toMatchObject({ error: { code: 20303 } });
    expect((await runFlow(fixture({ tokens: ["a"] }, "wrong-secret"), opts())).outcome).toMatchObject({
      error: { code: 20303 },
    });
    expect((await runFlow(fixture({ tokens: ["a", "b", "c"], dropAfter: 1 }), opts())).outcome).toMatchObject({
      error: { code: 20303 },
    });
  });
});

describe("Spark image domains (spec §5.3 step 2)", () => {
  it("downloads SYSTEM_IMAGE and sends it first as a base64 image message", async () => {
    const { createServer } = await import("node:http");
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    const img = createServer((_q, r) => r.end(png));
    await new Promise<void>((r) => img.listen(0, "127.0.0.1", r));
    const addr = img.address();
    const imageUrl = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}/cat.png`;
    try {
      const dsl = fixture({ tokens: ["a cat"] }) as {
        data: { nodes: { id: string; data: { nodeParam: Record<string, unknown>; inputs: unknown[] } }[] };
      };
      const llm = dsl.data.nodes.find((n) => n.id === LLM) as {
        data: { nodeParam: Record<string, unknown>; inputs: unknown[] };
      };
      llm.data.nodeParam.domain = "imagev3";
      llm.data.inputs.push({
        name: "SYSTEM_IMAGE",
        schema: { type: "string", value: { type: "literal", content: imageUrl } },
      });
      const { outcome } = await runFlow(dsl, opts());
      expect(outcome).toMatchObject({ status: "completed", outputs: { output: "a cat" } });
      const req = spark.requests().at(-1) as {
        payload: { message: { text: { role: string; content: string; content_type?: string }[] } };
      };
      expect(req.payload.message.text[0]).toEqual({
        role: "user",
        content: png.toString("base64"),
        content_type: "image",
      });
    } finally {
      img.close();
    }
  });
});
