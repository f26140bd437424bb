// SSE encoding and parsing (spec §2.1, §1.3). Frames are compact JSON, raw UTF-8, with null fields omitted
// ("exclude none"). Numbers print as JavaScript prints them: `0` and `1` where Python printed `0.0` and `1.0`;
// JSON clients do not tell them apart.
import type { ErrorData } from "./errors.ts";

export const SSE_HEADERS: Readonly<Record<string, string>> = {
  "Content-Type": "text/event-stream; charset=utf-8",
  "Cache-Control": "no-cache",
  "X-Accel-Buffering": "no",
};

/** Compact JSON with null/undefined object fields omitted at every depth (array elements are kept). */
export function frameJson(frame: object): string {
  return JSON.stringify(frame, (_key, value: unknown) => {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      let hasNull = false;
      for (const v of Object.values(value as Record<string, unknown>)) {
        if (v === null) {
          hasNull = true;
          break;
        }
      }
      if (!hasNull) return value;
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (v !== null) out[k] = v;
      return out;
    }
    return value;
  });
}

export function sseEncode(frame: object): string {
  return `data: ${frameJson(frame)}\n\n`;
}

export function sseEncodeWithId(frame: object, seq: number): string {
  return `id: ${seq}\ndata: ${frameJson(frame)}\n\n`;
}

/** Build stream (spec §1.3 [new]): `{"message":"<code>: <message>"}` on failure, then the end frame. */
export function buildErrorFrame(error: ErrorData): { message: string } {
  return { message: `${error.code}: ${error.message}` };
}

export function buildEndFrame(sid: string): { end_of_stream: true; sid: string } {
  return { end_of_stream: true, sid };
}

export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/** An incremental SSE parser (text in, events out): handles \n and \r\n, multi-line data, comments and ids. */
export class SseParser {
  #buffer = "";
  #data: string[] = [];
  #id: string | undefined;
  #event: string | undefined;

  push(chunk: string): SseEvent[] {
    this.#buffer += chunk;
    const events: SseEvent[] = [];
    for (;;) {
      const m = /\r\n|\n|\r/.exec(this.#buffer);
      if (!m) break;
      // a lone \r at the very end may be the first half of \r\n: wait for more
      if (m[0] === "\r" && m.index === this.#buffer.length - 1) break;
      const line = this.#buffer.slice(0, m.index);
      this.#buffer = this.#buffer.slice(m.index + m[0].length);
      if (line === "") {
        if (this.#data.length > 0) {
          const ev: SseEvent = { data: this.#data.join("\n") };
          if (this.#id !== undefined) ev.id = this.#id;
          if (this.#event !== undefined) ev.event = this.#event;
          events.push(ev);
        }
        this.#data = [];
        this.#event = undefined;
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") this.#data.push(value);
      else if (field === "id") this.#id = value;
      else if (field === "event") this.#event = value;
    }
    return events;
  }
}

export function parseSse(text: string): string[] {
  const parser = new SseParser();
  return [...parser.push(text), ...parser.push("\n\n")].map((e) => e.data);
}

/** Decodes a byte stream into text chunks with streaming UTF-8 (multi-byte characters split across chunks). */
export async function* decodeStream(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  const reader = stream.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const text = decoder.decode(value, { stream: true });
      if (text) yield text;
    }
    const rest = decoder.decode();
    if (rest) yield rest;
  } finally {
    reader.releaseLock();
  }
}
