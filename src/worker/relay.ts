// Relays a run's frames from its RunObject (NDJSON `{seq, frame}` lines) to an HTTP client: the open or debug
// filter (spec §2.4), SSE encoding (§2.1) or one JSON body, the 120 s no-frame timeout (§2.7, §6.11) and
// cancellation of the run when the client goes away (§6.12 [new]).
import { DebugFilter, OpenFilter, timeoutFrame } from "../engine/filter.ts";
import { LineSplitter, SSE_HEADERS, sseEncode } from "../engine/sse.ts";
import type { Frame } from "../engine/types.ts";

export interface RelayOptions {
  mode: "open" | "debug";
  stream: boolean;
  /** the response's sid: every frame's `id` (a resume answers with its own sid, spec §2.6) */
  sid: string;
  /** no frame for this long → 20804 and close (default 120 s) */
  frameTimeoutMs: number;
  /** called when the client disconnects before the final frame */
  onClientGone?: () => void;
}

export interface StoredLine {
  seq: number;
  frame: Frame;
}

/** Parses NDJSON lines from a byte stream, in time linear in its size however the bytes are chunked. */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<StoredLine> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  const splitter = new LineSplitter();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const line of splitter.push(value)) if (line) yield JSON.parse(line) as StoredLine;
    }
    const rest = splitter.end();
    if (rest.trim()) yield JSON.parse(rest) as StoredLine;
  } finally {
    reader.releaseLock();
  }
}

type Next = { kind: "line"; line: StoredLine } | { kind: "end" } | { kind: "timeout" };

function nextWithTimeout(it: AsyncGenerator<StoredLine>, ms: number): Promise<Next> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<Next>((resolve) => {
    timer = setTimeout(() => resolve({ kind: "timeout" }), ms);
  });
  const next = it.next().then((r): Next => (r.done ? { kind: "end" } : { kind: "line", line: r.value }));
  return Promise.race([next, timeout]).finally(() => {
    if (timer !== undefined) clearTimeout(timer);
  });
}

/** Frames for the client, in order, ending after the filter's final frame (or a timeout frame). */
export async function* filteredFrames(source: ReadableStream<Uint8Array>, opts: RelayOptions): AsyncGenerator<Frame> {
  const filter =
    opts.mode === "open" ? new OpenFilter({ stream: opts.stream }) : new DebugFilter({ stream: opts.stream });
  const lines = readLines(source);
  try {
    for (;;) {
      const next = await nextWithTimeout(lines, opts.frameTimeoutMs);
      if (next.kind === "timeout") {
        yield timeoutFrame(opts.sid, Math.floor(Date.now() / 1000));
        return;
      }
      if (next.kind === "end") return;
      const frame = { ...next.line.frame, id: opts.sid };
      for (const out of filter.push(frame)) yield out;
      if (filter.done) return;
    }
  } finally {
    void lines.return(undefined);
  }
}

/** The HTTP response of a chat or resume call: SSE when streaming, else the first frame the filter lets out. */
export async function relayResponse(
  source: ReadableStream<Uint8Array>,
  opts: RelayOptions,
  extraHeaders: Record<string, string> = {},
): Promise<Response> {
  const frames = filteredFrames(source, opts);
  if (!opts.stream) {
    const first = await frames.next();
    void frames.return(undefined);
    const body = first.done ? timeoutFrame(opts.sid, Math.floor(Date.now() / 1000)) : first.value;
    return new Response(JSON.stringify(body), {
      headers: { "Content-Type": "application/json; charset=utf-8", ...extraHeaders },
    });
  }
  const encoder = new TextEncoder();
  let finished = false;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const r = await frames.next();
      if (r.done) {
        finished = true;
        controller.close();
        return;
      }
      controller.enqueue(encoder.encode(sseEncode(r.value)));
    },
    cancel() {
      if (!finished) opts.onClientGone?.();
      void frames.return(undefined);
    },
  });
  return new Response(body, { headers: { ...SSE_HEADERS, ...extraHeaders } });
}
