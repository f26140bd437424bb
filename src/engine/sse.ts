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

/**
 * Splits text arriving in chunks into `\n`-terminated lines. Each chunk is searched once, from where the last line
 * ended; the pieces of an unfinished line are kept apart and joined once when it ends. Appending chunks to one
 * string and searching it from its start made a line that spans k chunks cost k² (a 3 MB frame in 4 KB chunks took
 * seconds to relay).
 */
export class LineSplitter {
  #pieces: string[] = [];

  /** The complete lines in `chunk` (and before it), without their `\n`. */
  push(chunk: string): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf("\n"); nl >= 0; nl = chunk.indexOf("\n", start)) {
      lines.push(this.#take(chunk.slice(start, nl)));
      start = nl + 1;
    }
    if (start < chunk.length) this.#pieces.push(start === 0 ? chunk : chunk.slice(start));
    return lines;
  }

  /** What is left after the last `\n` (an unterminated last line), and a fresh start. */
  end(): string {
    return this.#take("");
  }

  #take(last: string): string {
    if (this.#pieces.length === 0) return last;
    this.#pieces.push(last);
    const line = this.#pieces.join("");
    this.#pieces = [];
    return line;
  }
}

/**
 * An incremental SSE parser (text in, events out): handles \n, \r\n and \r, multi-line data, comments and ids.
 * Like LineSplitter it searches each chunk once (an event of megabytes arrives in thousands of chunks).
 */
export class SseParser {
  #pieces: string[] = [];
  /** the previous chunk ended in \r: a \n that starts this one belongs to that line end */
  #afterCr = false;
  #data: string[] = [];
  #id: string | undefined;
  #event: string | undefined;

  push(chunk: string): SseEvent[] {
    const events: SseEvent[] = [];
    const eol = /\r\n|\n|\r/g;
    let start = 0;
    if (this.#afterCr && chunk.startsWith("\n")) start = 1;
    this.#afterCr = false;
    eol.lastIndex = start;
    for (let m = eol.exec(chunk); m; m = eol.exec(chunk)) {
      let line = chunk.slice(start, m.index);
      if (this.#pieces.length > 0) {
        this.#pieces.push(line);
        line = this.#pieces.join("");
        this.#pieces = [];
      }
      start = m.index + m[0].length;
      // a \r at the very end may be the first half of \r\n split across chunks
      if (m[0] === "\r" && start === chunk.length) this.#afterCr = true;
      this.#line(line, events);
    }
    if (start < chunk.length) this.#pieces.push(chunk.slice(start));
    return events;
  }

  #line(line: string, events: SseEvent[]): void {
    if (line === "") {
      if (this.#data.length > 0) {
        const ev: SseEvent = { data: this.#data.join("\n") };
        if (this.#id !== undefined) ev.id = this.#id;
        if (this.#event !== undefined) ev.event = this.#event;
        events.push(ev);
      }
      this.#data = [];
      this.#event = undefined;
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.#data.push(value);
    else if (field === "id") this.#id = value;
    else if (field === "event") this.#event = value;
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
