// The console talks to the runtime's own API with the same credentials as any client (README "Console"): gateway
// mode sends X-Consumer-Username, key mode `Authorization: Bearer <key>:<secret>`. They are kept in sessionStorage,
// for this tab only.

export type Session = { mode: "gateway"; app: string } | { mode: "key"; key: string; secret: string };

const KEY = "astron-console-session";

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null): void {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
}

export function authHeaders(s: Session): Record<string, string> {
  return s.mode === "gateway" ? { "X-Consumer-Username": s.app } : { Authorization: `Bearer ${s.key}:${s.secret}` };
}

/** A failed call: the API's code and message (never a stack). */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** Calls a JSON route; a non-2xx status or an Astron envelope with code ≠ 0 throws ApiError. */
export async function api<T>(s: Session, path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await fetch(path, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: { ...authHeaders(s), ...(init.body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(res.status, `unexpected answer (${res.status})`, res.status);
  }
  const env = data as { code?: unknown; message?: unknown } | null;
  if (!res.ok || (typeof env?.code === "number" && env.code !== 0))
    throw new ApiError(
      typeof env?.code === "number" ? env.code : res.status,
      typeof env?.message === "string" ? env.message : `HTTP ${res.status}`,
      res.status,
    );
  return data as T;
}

export interface Usage {
  completion_tokens: number;
  prompt_tokens: number;
  total_tokens: number;
}

/** A frame as docs/frames.md describes it (debug form). */
export interface Frame {
  code: number;
  message: string;
  created?: number;
  workflow_step?: {
    seq: number;
    progress: number;
    node?: {
      id: string;
      alias_name: string;
      finish_reason?: string;
      inputs?: Record<string, unknown>;
      outputs?: Record<string, unknown>;
      error_outputs?: Record<string, unknown>;
      ext?: Record<string, unknown>;
      executed_time?: number;
      usage?: Usage;
    };
  };
  choices?: { delta?: { content?: string; reasoning_content?: string }; finish_reason?: string }[];
  usage?: Usage;
  event_data?: Interrupt;
}

export interface Interrupt {
  event_id: string;
  event_type: string;
  need_reply: boolean;
  value: { type: string; content: string; option?: { id: string; text: string; content_type: string }[] };
}

/** One SSE event: its `id:` (the runs API's sequence number) when present, and its data parsed. */
export interface SseEvent {
  id: number | null;
  frame: Frame;
}

/**
 * Reads a `text/event-stream` answer event by event. A JSON answer (an error found before the run started) is
 * handed on as one frame.
 */
export async function readEvents(res: Response, onEvent: (e: SseEvent) => void, signal?: AbortSignal): Promise<void> {
  const type = res.headers.get("content-type") ?? "";
  if (!type.startsWith("text/event-stream")) {
    const text = await res.text();
    let frame: Frame;
    try {
      frame = JSON.parse(text) as Frame;
    } catch {
      frame = { code: res.status, message: `unexpected answer (${res.status})` };
    }
    if (!res.ok && typeof frame.code !== "number") frame = { code: res.status, message: frame.message ?? "error" };
    onEvent({ id: null, frame });
    return;
  }
  const reader = res.body?.pipeThrough(new TextDecoderStream()).getReader();
  if (!reader) return;
  let buffer = "";
  const onAbort = (): void => void reader.cancel().catch(() => undefined);
  signal?.addEventListener("abort", onAbort);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += value;
      let end: number;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
        let id: number | null = null;
        const data: string[] = [];
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith("id:")) id = Number(line.slice(3).trim());
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length === 0) continue;
        try {
          onEvent({ id, frame: JSON.parse(data.join("\n")) as Frame });
        } catch {
          // not a frame: ignored
        }
      }
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/** Starts a streaming request with the session's credentials. */
export function stream(s: Session, path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(path, {
    method: "POST",
    headers: { ...authHeaders(s), "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(body),
    signal,
  });
}

/** `GET /runs/{id}/events` after sequence number `after` (Last-Event-ID). */
export function events(s: Session, runId: string, after: number, signal?: AbortSignal): Promise<Response> {
  return fetch(`/runs/${encodeURIComponent(runId)}/events`, {
    headers: {
      ...authHeaders(s),
      Accept: "text/event-stream",
      ...(after > 0 ? { "Last-Event-ID": String(after) } : {}),
    },
    signal,
  });
}

/** Uploads files to R2 through /workflow/v1/upload_file(s); answers their URLs. */
export async function upload(s: Session, files: File[]): Promise<string[]> {
  const form = new FormData();
  const many = files.length > 1;
  for (const f of files) form.append(many ? "files" : "file", f);
  const res = await fetch(many ? "/workflow/v1/upload_files" : "/workflow/v1/upload_file", {
    method: "POST",
    headers: authHeaders(s),
    body: form,
  });
  const data = (await res.json()) as { code: number; message: string; data?: { url?: string; urls?: string[] } };
  if (data.code !== 0) throw new ApiError(data.code, data.message, res.status);
  return many ? (data.data?.urls ?? []) : data.data?.url ? [data.data.url] : [];
}

// ---- the API's shapes the console reads ----------------------------------------------------------------------------

export interface FlowListing {
  id: string;
  name: string;
  description: string;
  updatedAt: string;
  published: boolean;
  versions: string[];
  lastRun: { id: string; status: string; code: number; startedAt: number; endedAt: number } | null;
}

export interface NodeTiming {
  startedAt: number;
  endedAt: number;
  code?: number;
  usage?: Usage;
}

export interface RunView {
  id: string;
  flowId: string;
  status: "running" | "interrupt" | "completed" | "failed" | "cancelled";
  mode: "open" | "debug";
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown> | null;
  error: { code: number; message: string } | null;
  usage: Usage | null;
  createdAt: number;
  updatedAt: number;
  lastEventId: number;
  interrupt: { nodeId: string; deadline: number } | null;
  nodes: Record<string, NodeTiming>;
}

export interface RunRow {
  id: string;
  status: string;
  code: number;
  message: string;
  mode: string;
  startedAt: number;
  endedAt: number;
  usage: Usage | null;
}

export interface Hook {
  hook_id: string;
  url: string;
  flow_id: string;
  version: string;
  mode: "sync" | "async" | "stream";
  auth: "signature" | "bearer";
  mapping: Record<string, string>;
  created_at: number | string;
  active_secrets?: number;
  secret?: string;
  token?: string;
}
