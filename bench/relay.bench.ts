// Streaming a large output (issue 13). Run: `node bench/relay.bench.ts` (Node 22 strips the types).
// A start → end flow whose end node streams its input back (prompt mode, streamOutput) runs in the engine; its
// frames become the run object's NDJSON lines, delivered in 4 KB chunks as a Durable Object's RPC stream delivers
// them; the worker's relay (line reading, open filter, SSE encoding) turns them into the response, which a client
// reads with the project's SSE parser. Prints one JSON line per output size: the time of each part and ms per MB.
// Before issue 13 the relay searched its whole buffer again per chunk: in workerd 1 MB took 0.34 s, 2 MB 1.5 s,
// 3 MB 3.9 s (quadratic); the time per MB below must stay about the same from 1 MB to 10 MB.
import { compile } from "../src/engine/compile.ts";
import { Run } from "../src/engine/run.ts";
import { SseParser } from "../src/engine/sse.ts";
import type { Frame } from "../src/engine/types.ts";
import { registry } from "../src/plugins/index.ts";
import { relayResponse } from "../src/worker/relay.ts";

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };
const r1 = (x: number): number => Math.round(x * 10) / 10;
const out = (o: Record<string, unknown>): void => console.log(JSON.stringify(o));

const ref = (nodeId: string, name: string): Json => ({
  type: "string",
  value: { type: "ref", content: { nodeId, name } },
});
const plan = compile(
  {
    data: {
      nodes: [
        {
          id: "node-start::s",
          data: {
            nodeMeta: { nodeType: "b", aliasName: "Start" },
            inputs: [],
            outputs: [{ name: "AGENT_USER_INPUT", schema: { type: "string" } }],
            nodeParam: {},
          },
        },
        {
          id: "node-end::e",
          data: {
            nodeMeta: { nodeType: "b", aliasName: "End" },
            inputs: [{ name: "input", schema: ref("node-start::s", "AGENT_USER_INPUT") }],
            outputs: [],
            nodeParam: { outputMode: 1, template: "{{input}}", streamOutput: true },
          },
        },
      ],
      edges: [{ sourceNodeId: "node-start::s", targetNodeId: "node-end::e" }],
    },
  },
  registry,
);
const info = { sid: "b", eventId: "e", flowId: "f", appId: "a", uid: "u", chatId: "", isRelease: true, history: [] };
const encoder = new TextEncoder();

async function once(mb: number): Promise<Record<string, number>> {
  const input = "x".repeat(mb << 20);
  const t0 = performance.now();
  // the run object's side: frames → numbered NDJSON lines
  const lines: string[] = [];
  const run = new Run(plan, {
    registry,
    sid: "b",
    info,
    parameters: { AGENT_USER_INPUT: input },
    emit: (f: Frame) => lines.push(`{"seq":${lines.length + 1},"frame":${JSON.stringify(f)}}\n`),
  });
  const o = await run.execute();
  if (o.status !== "completed") throw new Error(JSON.stringify(o));
  const bytes = encoder.encode(lines.join(""));
  const t1 = performance.now();
  const source = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < bytes.length; i += 4096) c.enqueue(bytes.subarray(i, i + 4096));
      c.close();
    },
  });
  const res = await relayResponse(source, { mode: "open", stream: true, sid: "b", frameTimeoutMs: 60_000 });
  // the client: the response read chunk by chunk
  const parser = new SseParser();
  const decoder = new TextDecoder();
  let answer = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    for (const ev of parser.push(decoder.decode(chunk, { stream: true })))
      answer += ((JSON.parse(ev.data) as Frame).choices[0]?.delta.content ?? "").length;
  }
  const t2 = performance.now();
  if (answer !== input.length) throw new Error(`answer ${answer} of ${input.length}`);
  return { engine: t1 - t0, relay: t2 - t1, total: t2 - t0, lineBytes: bytes.length };
}

await once(1); // warm up
for (const mb of [1, 4, 10]) {
  const rounds = [await once(mb), await once(mb), await once(mb)].sort(
    (a, b) => (a.total as number) - (b.total as number),
  );
  const m = rounds[1] as Record<string, number>;
  out({
    figure: "streamed output",
    mb,
    lineMB: r1((m.lineBytes as number) / (1 << 20)),
    engineMs: r1(m.engine as number),
    relayAndClientMs: r1(m.relay as number),
    totalMs: r1(m.total as number),
    msPerMB: r1((m.total as number) / mb),
  });
}
