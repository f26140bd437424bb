// The RunObject's SQLite storage (STYLE §17): the run log is append-only and the truth; the run row holds the
// latest captured engine state, written in the same transaction as the log entry that describes the change.
import type { ErrorData, Frame, Plan, RunState, Usage } from "../engine/index.ts";
import type { CallbackSpec, CallbackState } from "./callback.ts";

export const STORE_SCHEMA_VERSION = 1;

export type RunStatus = "running" | "interrupt" | "completed" | "failed" | "cancelled";

export interface RunRequest {
  eventId: string;
  sid: string;
  flowId: string;
  appId: string;
  uid: string;
  chatId: string;
  mode: "open" | "debug";
  stream: boolean;
  parameters: Record<string, unknown>;
  history: { role: "user" | "assistant"; content: string; content_type?: "text" | "image" | "audio" }[];
  /** per-run deadline, ms (spec §6.11 [new]) */
  deadlineMs: number;
  /** extra configuration handed to plugins (service URLs) */
  config: Record<string, string | undefined>;
  /** the webhook that started the run, if any */
  hookId?: string;
  /** where the result goes when the run ends (webhooks with a callback URL) */
  callback?: CallbackSpec;
  /** issue 17: the caller's W3C traceparent (validated by the worker), the run's root span's parent */
  traceparent?: string;
  /** the flow version the run executes (a span attribute) */
  flowVersion?: string;
  /** issue 17: the run's trace, decided by the run object when it creates the run (export configured) */
  trace?: RunTrace;
}

/** The run's trace: its root span and, when a caller sent a traceparent, that caller's span (remote parent). */
export interface RunTrace {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  flags: number;
}

export interface RunRow {
  status: RunStatus;
  request: RunRequest;
  plan: Plan;
  state: RunState | null;
  outcome: { code: number; message: string } | null;
  outputs: Record<string, unknown> | null;
  usage: Usage | null;
  interrupt: { nodeId: string; deadline: number } | null;
  createdAt: number;
  updatedAt: number;
}

export interface NodeTiming {
  startedAt: number;
  endedAt: number;
  /** the code of the node's end frame (0 success) once it ended */
  code?: number;
  usage?: Usage;
}

export interface StoredFrame {
  seq: number;
  frame: Frame;
}

/** A thin, typed layer over `ctx.storage.sql`. Every method is synchronous, like the SQL API itself. */
export class RunStore {
  readonly #sql: SqlStorage;
  readonly #storage: DurableObjectStorage;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
    this.#sql = storage.sql;
    this.#init();
  }

  #init(): void {
    // one call for the whole schema: a new run object pays for it once. Its last statement writes a row only into
    // a new database, so the count tells this instance that no run exists without reading for it
    const written = this.#sql.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS run (
        id INTEGER PRIMARY KEY CHECK (id = 1), status TEXT NOT NULL, request TEXT NOT NULL, plan TEXT NOT NULL,
        state TEXT, outcome TEXT, outputs TEXT, usage TEXT, interrupt TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS run_frames (seq INTEGER PRIMARY KEY, frame TEXT NOT NULL, node TEXT, at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS run_log (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, node TEXT, data TEXT, at INTEGER NOT NULL);
      INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', '${STORE_SCHEMA_VERSION}');`).rowsWritten;
    if (written > 0) {
      this.#status = undefined;
      this.#lastSeq = 0;
      this.#frameBytes = 0;
    }
  }

  transaction<T>(fn: () => T): T {
    return this.#storage.transactionSync(fn);
  }

  // what this instance knows without reading: the status (null: not read yet) and the run's request and start
  #status: RunStatus | undefined | null = null;
  #head: { request: RunRequest; createdAt: number } | undefined;

  /** the run row of a deferred `create`, written by the next `flush` (or `finish`, already in its final state) */
  #pendingRun: { request: string; plan: string; createdAt: number } | undefined;

  /**
   * Creates the run unless this object already holds one (then false, and nothing is written). `plan` is the plan's
   * JSON text (stored as it is).
   *
   * `defer`: the row is written by the next `flush` instead of now — by `finish` in its final state when the run
   * ends in this turn, saving the insert-then-update a short run would pay. Only for a caller that acknowledges
   * nothing before the run ends (the non-streaming start) and that flushes before the run's first I/O: a run that
   * no storage holds must not have touched the world.
   */
  create(request: RunRequest, plan: string, now: number, options: { defer?: boolean } = {}): boolean {
    if (this.status() !== undefined) return false;
    this.#status = "running";
    this.#head = { request, createdAt: now };
    this.#lastSeq = 0;
    this.#frameBytes = 0;
    this.#pendingRun = { request: JSON.stringify(request), plan, createdAt: now };
    this.#queueLog("start", null, { flowId: request.flowId, mode: request.mode }, now);
    if (!options.defer) this.transaction(() => this.flush());
    return true;
  }

  /** Writes whatever is queued: a deferred run row, numbered frames, log entries. */
  flush(): void {
    const run = this.#pendingRun;
    if (run) {
      this.#pendingRun = undefined;
      this.#sql.exec(
        `INSERT INTO run (id, status, request, plan, created_at, updated_at) VALUES (1, 'running', ?, ?, ?, ?)`,
        run.request,
        run.plan,
        run.createdAt,
        run.createdAt,
      );
    }
    this.#writeFrames();
    this.#writeLog();
  }

  get(): RunRow | undefined {
    if (this.#pendingRun) this.flush();
    const rows = this.#sql.exec(`SELECT * FROM run WHERE id = 1`).toArray();
    const r = rows[0];
    if (!r) {
      this.#status = undefined;
      return undefined;
    }
    const parse = <T>(v: SqlStorageValue | undefined): T | null =>
      typeof v === "string" ? (JSON.parse(v) as T) : null;
    this.#status = r.status as RunStatus;
    return {
      status: r.status as RunStatus,
      request: parse<RunRequest>(r.request) as RunRequest,
      plan: parse<Plan>(r.plan) as Plan,
      state: parse<RunState>(r.state),
      outcome: parse<{ code: number; message: string }>(r.outcome),
      outputs: parse<Record<string, unknown>>(r.outputs),
      usage: parse<Usage>(r.usage),
      interrupt: parse<{ nodeId: string; deadline: number }>(r.interrupt),
      createdAt: Number(r.created_at),
      updatedAt: Number(r.updated_at),
    };
  }

  /** what this instance wrote when the run ended (nothing after an eviction: then `result` reads) */
  #final: { outcome: ErrorData; outputs: Record<string, unknown> | null } | undefined;

  /** Where the run stands: its status and, once ended, its outputs and outcome — from memory when this instance knows. */
  result(): { status: RunStatus; outputs: Record<string, unknown> | null; outcome: ErrorData | null } | undefined {
    if (this.#final && this.#status) return { status: this.#status, ...this.#final };
    if (this.#status === "running" || this.#status === "interrupt")
      return { status: this.#status, outputs: null, outcome: null };
    const row = this.get();
    return row ? { status: row.status, outputs: row.outputs, outcome: row.outcome } : undefined;
  }

  status(): RunStatus | undefined {
    if (this.#status !== null) return this.#status;
    const r = this.#sql.exec(`SELECT status FROM run WHERE id = 1`).toArray()[0];
    this.#status = r ? (r.status as RunStatus) : undefined;
    return this.#status;
  }

  /** The run's request and start time (from memory when this instance created or read the run). */
  head(): { request: RunRequest; createdAt: number } | undefined {
    if (this.#head) return this.#head;
    const row = this.get();
    if (row) this.#head = { request: row.request, createdAt: row.createdAt };
    return this.#head;
  }

  /** The state after one or more node boundaries, with their frames and one log entry per boundary. */
  saveState(state: RunState, nodes: string | readonly string[], now: number): void {
    for (const n of typeof nodes === "string" ? [nodes] : nodes) this.#queueLog("boundary", n, null, now);
    this.transaction(() => {
      this.flush();
      this.#sql.exec(`UPDATE run SET state = ?, updated_at = ? WHERE id = 1`, JSON.stringify(state), now);
    });
  }

  setInterrupted(state: RunState, nodeId: string, deadline: number, now: number): void {
    this.#status = "interrupt";
    this.#queueLog("interrupt", nodeId, { deadline }, now);
    this.transaction(() => {
      this.flush();
      this.#sql.exec(
        `UPDATE run SET status = 'interrupt', state = ?, interrupt = ?, updated_at = ? WHERE id = 1`,
        JSON.stringify(state),
        JSON.stringify({ nodeId, deadline }),
        now,
      );
    });
  }

  setRunning(now: number, answer: { eventType: string; content: string }): void {
    this.#status = "running";
    this.#queueLog("resume", null, { eventType: answer.eventType }, now);
    this.transaction(() => {
      this.flush();
      this.#sql.exec(`UPDATE run SET status = 'running', interrupt = NULL, updated_at = ? WHERE id = 1`, now);
    });
  }

  finish(
    status: "completed" | "failed" | "cancelled",
    outcome: ErrorData,
    outputs: Record<string, unknown> | null,
    usage: Usage,
    now: number,
  ): void {
    this.#status = status;
    this.#final = { outcome, outputs };
    this.#queueLog(status, null, outcome, now);
    const values = [
      status,
      JSON.stringify(outcome),
      outputs ? JSON.stringify(outputs) : null,
      JSON.stringify(usage),
      now,
    ] as const;
    this.transaction(() => {
      const run = this.#pendingRun;
      this.#pendingRun = undefined;
      if (run) {
        // a run that ends in the turn that created it: one insert of the finished row
        this.#sql.exec(
          `INSERT INTO run (id, status, outcome, outputs, usage, updated_at, request, plan, created_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)`,
          ...values,
          run.request,
          run.plan,
          run.createdAt,
        );
      } else {
        this.#sql.exec(
          `UPDATE run SET status = ?, outcome = ?, outputs = ?, usage = ?, state = NULL, interrupt = NULL, updated_at = ? WHERE id = 1`,
          ...values,
        );
      }
      this.flush();
    });
  }

  /**
   * Numbers a frame and queues it; queued frames are written together by `flush` (at every node boundary,
   * with the state, and at the final frame), so a run costs a few writes instead of one per token. `json` is the
   * frame's JSON when the caller already made it, `bytes` its UTF-8 size when the caller measured it.
   */
  appendFrame(frame: Frame, now: number, json: string = JSON.stringify(frame), bytes?: number): number {
    const next = this.lastSeq() + 1;
    this.#frameBytes = bytes !== undefined && this.#frameBytes >= 0 ? this.#frameBytes + bytes : -1;
    this.#pending.push([next, json, frame.workflow_step?.node?.id ?? null, now]);
    this.#lastSeq = next;
    if (this.#pending.length >= 50) this.flush();
    return next;
  }

  readonly #pending: [number, string, string | null, number][] = [];

  #writeFrames(): void {
    const rows = this.#pending.splice(0);
    for (let i = 0; i < rows.length; i += 20) {
      const chunk = rows.slice(i, i + 20);
      this.#sql.exec(
        `INSERT INTO run_frames (seq, frame, node, at) VALUES ${chunk.map(() => "(?, ?, ?, ?)").join(", ")}`,
        ...chunk.flat(),
      );
    }
  }

  /** log entries waiting for the next write: they go with the state change they describe, in one insert */
  readonly #log: [string, string | null, string | null, number][] = [];

  #queueLog(kind: string, node: string | null, data: unknown, now: number): void {
    this.#log.push([kind, node, data === null ? null : JSON.stringify(data), now]);
  }

  #writeLog(): void {
    if (this.#log.length === 0) return;
    const rows = this.#log.splice(0);
    this.#sql.exec(
      `INSERT INTO run_log (kind, node, data, at) VALUES ${rows.map(() => "(?, ?, ?, ?)").join(", ")}`,
      ...rows.flat(),
    );
  }

  /** the UTF-8 size of the run's stored and queued frames (-1: not known here, read it) */
  #frameBytes = -1;

  /** What the run's frames take, for the run's output limit (read from storage once after an eviction). */
  frameBytes(): number {
    if (this.#frameBytes < 0) {
      this.flush();
      const r = this.#sql
        .exec(`SELECT COALESCE(SUM(length(CAST(frame AS BLOB))), 0) AS b FROM run_frames`)
        .toArray()[0];
      this.#frameBytes = Number(r?.b ?? 0);
    }
    return this.#frameBytes;
  }

  #lastSeq = -1;

  lastSeq(): number {
    if (this.#lastSeq < 0) {
      const r = this.#sql.exec(`SELECT COALESCE(MAX(seq), 0) AS m FROM run_frames`).toArray()[0];
      this.#lastSeq = Number(r?.m ?? 0);
    }
    return this.#lastSeq;
  }

  framesAfter(seq: number, limit = 1000): StoredFrame[] {
    this.flush();
    return this.#sql
      .exec(`SELECT seq, frame FROM run_frames WHERE seq > ? ORDER BY seq LIMIT ?`, seq, limit)
      .toArray()
      .map((r) => ({ seq: Number(r.seq), frame: JSON.parse(String(r.frame)) as Frame }));
  }

  /** The pending, delivered or failed callback of a webhook run (stored in `meta`). */
  callback(): CallbackState | undefined {
    const r = this.#sql.exec(`SELECT value FROM meta WHERE key = 'callback'`).toArray()[0];
    return r ? (JSON.parse(String(r.value)) as CallbackState) : undefined;
  }

  setCallback(state: CallbackState, attempt: { status: number; error: string | null } | null, now: number): void {
    this.transaction(() => {
      if (attempt)
        this.#queueLog(
          "callback",
          null,
          { attempt: state.attempts, status: attempt.status, error: attempt.error, outcome: state.status },
          now,
        );
      this.flush();
      this.#sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('callback', ?)`, JSON.stringify(state));
    });
  }

  /**
   * Records that a running stream source's tokens may reach a client from now on, written at once with whatever is
   * queued: it must be stored before a frame with such a token can leave (a restart then knows not to run it again).
   */
  markShown(node: string, now: number): void {
    this.#queueLog("shown", node, null, now);
    this.transaction(() => this.flush());
  }

  /** The nodes whose tokens may have reached a client (see `markShown`). */
  shownNodes(): Set<string> {
    this.flush();
    return new Set(
      this.#sql
        .exec(`SELECT DISTINCT node FROM run_log WHERE kind = 'shown'`)
        .toArray()
        .map((r) => String(r.node)),
    );
  }

  logEntries(): { kind: string; node: string | null; data: unknown; at: number }[] {
    this.flush();
    return this.#sql
      .exec(`SELECT kind, node, data, at FROM run_log ORDER BY id`)
      .toArray()
      .map((r) => ({
        kind: String(r.kind),
        node: r.node === null ? null : String(r.node),
        data: r.data === null ? null : (JSON.parse(String(r.data)) as unknown),
        at: Number(r.at),
      }));
  }

  /** Per node: first and last frame time, its final status (code of its end frame) and its token usage. */
  nodeTimings(): Record<string, NodeTiming> {
    this.flush();
    const out: Record<string, NodeTiming> = {};
    for (const r of this.#sql
      .exec(`SELECT node, frame, at FROM run_frames WHERE node IS NOT NULL AND node != 'flow_obj' ORDER BY seq`)
      .toArray()) {
      const id = String(r.node);
      const t = (out[id] ??= { startedAt: Number(r.at), endedAt: Number(r.at) });
      t.endedAt = Number(r.at);
      const frame = JSON.parse(String(r.frame)) as Frame;
      if (frame.workflow_step?.node?.finish_reason === "stop") {
        t.code = frame.code;
        if (frame.workflow_step.node.usage) t.usage = frame.workflow_step.node.usage;
      }
    }
    return out;
  }

  async deleteAll(): Promise<void> {
    this.#pending.length = 0;
    this.#log.length = 0;
    this.#pendingRun = undefined;
    this.#final = undefined;
    await this.#storage.deleteAll();
    this.#lastSeq = -1;
    this.#frameBytes = -1;
    this.#status = undefined;
    this.#head = undefined;
    this.#init();
  }
}
