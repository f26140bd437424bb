// The relay from a RunObject's frame stream to the client (spec §2.4, §2.7, §6.11, §6.12).
import { describe, expect, it } from "vitest";
import { workflowStartFrame } from "../../src/engine/frames.ts";
import { SseParser } from "../../src/engine/sse.ts";
import { readLines, relayResponse, type StoredLine } from "../../src/worker/relay.ts";
import { searchWork } from "../support/search-work.ts";

function stalled(lines: string[]): { stream: ReadableStream<Uint8Array>; cancelled: () => boolean } {
  let cancelled = false;
  const enc = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      for (const l of lines) c.enqueue(enc.encode(`${l}\n`));
      // then nothing more: a run that stopped producing frames
    },
    cancel() {
      cancelled = true;
    },
  });
  return { stream, cancelled: () => cancelled };
}

describe("relay", () => {
  it("ends a silent stream with a 20804 frame after the frame timeout (item 13)", async () => {
    const { stream } = stalled([JSON.stringify({ seq: 1, frame: workflowStartFrame("s", 1) })]);
    const res = await relayResponse(stream, { mode: "open", stream: true, sid: "resp-sid", frameTimeoutMs: 50 });
    const events = new SseParser().push(`${await res.text()}\n\n`);
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0]?.data ?? "{}")).toMatchObject({
      code: 20804,
      message: "OpenAPI output timeout",
      id: "resp-sid",
    });
  });

  it("cancels the run when the client goes away before the final frame (spec §6.12 [new])", async () => {
    const { stream } = stalled([JSON.stringify({ seq: 1, frame: workflowStartFrame("s", 1) })]);
    let gone = 0;
    const res = await relayResponse(stream, {
      mode: "debug",
      stream: true,
      sid: "s",
      frameTimeoutMs: 5_000,
      onClientGone: () => gone++,
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await reader.cancel();
    expect(gone).toBe(1);
  });
});

describe("reading a run's frame lines", () => {
  it("reads a multi-megabyte frame line in 4 KB chunks examining each character a bounded number of times", async () => {
    // searching the accumulated buffer from its start for every chunk made a 3 MB frame take seconds (issue 13)
    const big = JSON.stringify({ seq: 2, frame: { ...workflowStartFrame("s", 1), message: "z".repeat(3 << 20) } });
    const text = `${JSON.stringify({ seq: 1, frame: workflowStartFrame("s", 1) })}\n${big}\n`;
    const bytes = new TextEncoder().encode(text);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 4096) c.enqueue(bytes.subarray(i, i + 4096));
        c.close();
      },
    });
    const { result, chars } = await searchWork(async () => {
      const lines: StoredLine[] = [];
      for await (const l of readLines(stream)) lines.push(l);
      return lines;
    });
    expect(result.map((l) => l.seq)).toEqual([1, 2]);
    expect(result[1]?.frame.message).toHaveLength(3 << 20);
    expect(chars).toBeLessThan(2 * text.length);
  });
});
