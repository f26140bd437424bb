// The RunObject's SQLite storage (STYLE §17): the run log is append-only and the truth; the run row holds the
// latest captured engine state, written in the same transaction as the log entry that describes the change.
//
// Layout 2 (issue 15). A new object creates one table, `run`. A run that ends in the turn that started it (every
// non-streaming run of logic nodes, every sync webhook run without I/O) is written once, finished, with its frames
// and its log inline in that row (`frames`, `log`) and without its plan (nothing reads the plan of an ended run).
// The `run_frames` and `run_log` tables are created the first time a run writes before it ends (a streamed start, a
// node boundary, an interrupt); from then on frames and log entries go there. Readers take the inline part first,
// then the tables. Profiled under the webhook benchmark, the four tables of layout 1 (`meta`, `run`, `run_frames`,
// `run_log`) cost a short run more than its data: each is pages and a schema row written into a new file.
//
// Layout 1 (before): `meta` held the schema version and the webhook callback's state, and every run used all four
// tables. An object stored that way is moved to layout 2 when an instance opens it (three columns added, the
// callback copied, `meta` dropped); its frames and log stay in their tables.
import type { ErrorData, Frame, Plan, RunState, Usage } from "../engine/index.ts";
import type { CallbackSpec, CallbackState } from "./callback.ts";

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
  /** null once a run that ended in its first turn was stored: nothing reads an ended run's plan */
  plan: Plan | null;
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

/** A stored frame or log entry as the run row holds them inline: [seq, node, at, frame] and [kind, node, at, data]. */
type InlineFrame = [number, string | null, number, Frame];
type InlineLog = [string, string | null, number, unknown];

/** Frames of a run that ends in its first turn go inline up to this many characters; more go to `run_frames`. */
const INLINE_FRAME_CHARS = 256 * 1024;

const RUN_TABLE = `CREATE TABLE IF NOT EXISTS run (
  id INTEGER PRIMARY KEY CHECK (id = 1), status TEXT NOT NULL, request TEXT NOT NULL, plan TEXT, state TEXT,
  outcome TEXT, outputs TEXT, usage TEXT, interrupt TEXT, callback TEXT, frames TEXT, log TEXT,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`;
const ENTRY_TABLES = `CREATE TABLE IF NOT EXISTS run_frames (seq INTEGER PRIMARY KEY, frame TEXT NOT NULL, node TEXT, at INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS run_log (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, node TEXT, data TEXT, at INTEGER NOT NULL)`;

/** A thin, typed layer over `ctx.storage.sql`. Every method is synchronous, like the SQL API itself. */
export class RunStore {
  readonly #sql: SqlStorage;
  readonly #storage: DurableObjectStorage;
  /** the tables this database has (one read when the instance opens it) */
  #tables = new Set<string>();

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
    this.#sql = storage.sql;
    this.#init();
  }

  #init(): void {
    this.#tables = new Set(
      this.#sql
        .exec(`SELECT name FROM sqlite_master WHERE type = 'table'`)
        .toArray()
        .map((r) => String(r.name)),
    );
    if (!this.#tables.has("run")) {
      // a new object (the common case: one per run): no run row to look for afterwards
      this.#sql.exec(RUN_TABLE);
      this.#tables.add("run");
      this.#status = undefined;
      return;
    }
    if (this.#tables.has("meta")) this.#upgrade();
  }

  /** Layout 1 → 2 (see the top of this file): the frame and log tables stay, `meta` goes into the run row. */
  #upgrade(): void {
    // one transaction: a database with `meta` has none of the three columns, one without it has all of them
    this.transaction(() => {
      for (const c of ["callback", "frames", "log"]) this.#sql.exec(`ALTER TABLE run ADD COLUMN ${c} TEXT`);
      this.#sql.exec(`UPDATE run SET callback = (SELECT value FROM meta WHERE key = 'callback')`);
      this.#sql.exec(`DROP TABLE meta`);
    });
    this.#tables.delete("meta");
  }

  /** Creates `run_frames` and `run_log` before their first write. */
  #entryTables(): void {
    if (this.#tables.has("run_frames") && this.#tables.has("run_log")) return;
    this.#sql.exec(ENTRY_TABLES);
    this.#tables.add("run_frames").add("run_log");
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
    this.#inline = { frames: [], log: [] };
    this.#pendingRun = { request: JSON.stringify(request), plan, createdAt: now };
    this.#queueLog("start", null, { flowId: request.flowId, mode: request.mode }, now);
    if (!options.defer) this.transaction(() => this.flush());
    return true;
  }

  /** Whether the run row of a deferred `create` is not written yet (the run did no I/O and has not ended). */
  deferred(): boolean {
    return this.#pendingRun !== undefined;
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
    if (this.#pending.length === 0 && this.#log.length === 0) return;
    this.#entryTables();
    this.#writeFrames();
    this.#writeLog();
  }

  get(): RunRow | undefined {
    if (this.#pendingRun) this.flush();
    const rows = this.#sql
      .exec(
        `SELECT status, request, plan, state, outcome, outputs, usage, interrupt, created_at, updated_at FROM run WHERE id = 1`,
      )
      .toArray();
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
      plan: parse<Plan>(r.plan),
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
        // a run that ends in the turn that created it: one insert of the finished row (no plan), with its frames
        // and log inline unless the frames are too large for one row (then flush puts them in their tables)
        const inline = this.#pendingChars <= INLINE_FRAME_CHARS;
        const frames = inline ? this.#pending.splice(0) : [];
        const log = inline ? this.#log.splice(0) : [];
        this.#sql.exec(
          `INSERT INTO run (id, status, outcome, outputs, usage, updated_at, request, created_at, frames, log) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          ...values,
          run.request,
          run.createdAt,
          frames.length
            ? `[${frames.map(([seq, json, node, at]) => `[${seq},${JSON.stringify(node)},${at},${json}]`).join(",")}]`
            : null,
          inline
            ? `[${log.map(([kind, node, data, at]) => `[${JSON.stringify(kind)},${JSON.stringify(node)},${at},${data ?? "null"}]`).join(",")}]`
            : null,
        );
        if (inline) this.#pendingChars = 0;
        this.#inline = undefined;
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
    this.#pendingChars += json.length;
    this.#lastSeq = next;
    if (this.#pending.length >= 50) this.flush();
    return next;
  }

  readonly #pending: [number, string, string | null, number][] = [];

  /** the characters of the queued frames' JSON */
  #pendingChars = 0;

  #writeFrames(): void {
    const rows = this.#pending.splice(0);
    this.#pendingChars = 0;
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

  /** the run row's inline frames and log, once read (a run that ended in its first turn; empty for the others) */
  #inline: { frames: InlineFrame[]; log: InlineLog[] } | undefined;

  #inlinePart(): { frames: InlineFrame[]; log: InlineLog[] } {
    if (!this.#inline) {
      const r = this.#sql.exec(`SELECT frames, log FROM run WHERE id = 1`).toArray()[0];
      const parse = <T>(v: SqlStorageValue | undefined): T[] => (typeof v === "string" ? (JSON.parse(v) as T[]) : []);
      this.#inline = { frames: parse<InlineFrame>(r?.frames), log: parse<InlineLog>(r?.log) };
    }
    return this.#inline;
  }

  /** Rows of `run_frames` or `run_log` (none while the table does not exist). */
  #rows(
    table: "run_frames" | "run_log",
    query: string,
    ...bindings: SqlStorageValue[]
  ): Record<string, SqlStorageValue>[] {
    return this.#tables.has(table) ? this.#sql.exec(query, ...bindings).toArray() : [];
  }

  /** the UTF-8 size of the run's stored and queued frames (-1: not known here, read it) */
  #frameBytes = -1;

  /** What the run's frames take, for the run's output limit (read from storage once after an eviction). */
  frameBytes(): number {
    if (this.#frameBytes < 0) {
      this.flush();
      const r = this.#rows(
        "run_frames",
        `SELECT COALESCE(SUM(length(CAST(frame AS BLOB))), 0) AS b FROM run_frames`,
      )[0];
      let bytes = Number(r?.b ?? 0);
      for (const f of this.#inlinePart().frames) bytes += encoder.encode(JSON.stringify(f[3])).byteLength;
      this.#frameBytes = bytes;
    }
    return this.#frameBytes;
  }

  #lastSeq = -1;

  lastSeq(): number {
    if (this.#lastSeq < 0) {
      const r = this.#rows("run_frames", `SELECT COALESCE(MAX(seq), 0) AS m FROM run_frames`)[0];
      this.#lastSeq = Math.max(Number(r?.m ?? 0), this.#inlinePart().frames.at(-1)?.[0] ?? 0);
    }
    return this.#lastSeq;
  }

  framesAfter(seq: number, limit = 1000): StoredFrame[] {
    this.flush();
    // inline frames come first: frames written after them (there are none today) would be in the table
    const out = this.#inlinePart()
      .frames.filter((f) => f[0] > seq)
      .slice(0, limit)
      .map(([s, , , frame]) => ({ seq: s, frame }));
    if (out.length >= limit) return out;
    const after = Math.max(seq, out.at(-1)?.seq ?? 0);
    for (const r of this.#rows(
      "run_frames",
      `SELECT seq, frame FROM run_frames WHERE seq > ? ORDER BY seq LIMIT ?`,
      after,
      limit - out.length,
    ))
      out.push({ seq: Number(r.seq), frame: JSON.parse(String(r.frame)) as Frame });
    return out;
  }

  /** The pending, delivered or failed callback of a webhook run. */
  callback(): CallbackState | undefined {
    if (this.#pendingRun) return undefined;
    const r = this.#sql.exec(`SELECT callback FROM run WHERE id = 1`).toArray()[0];
    return typeof r?.callback === "string" ? (JSON.parse(r.callback) as CallbackState) : undefined;
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
      this.#sql.exec(`UPDATE run SET callback = ? WHERE id = 1`, JSON.stringify(state));
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
    return new Set(
      this.logEntries()
        .filter((e) => e.kind === "shown")
        .map((e) => String(e.node)),
    );
  }

  logEntries(): { kind: string; node: string | null; data: unknown; at: number }[] {
    this.flush();
    const out = this.#inlinePart().log.map(([kind, node, at, data]) => ({ kind, node, data, at }));
    for (const r of this.#rows("run_log", `SELECT kind, node, data, at FROM run_log ORDER BY id`))
      out.push({
        kind: String(r.kind),
        node: r.node === null ? null : String(r.node),
        data: r.data === null ? null : (JSON.parse(String(r.data)) as unknown),
        at: Number(r.at),
      });
    return out;
  }

  /** Per node: first and last frame time, its final status (code of its end frame) and its token usage. */
  nodeTimings(): Record<string, NodeTiming> {
    this.flush();
    const out: Record<string, NodeTiming> = {};
    const add = (id: string | null, at: number, frame: Frame): void => {
      if (id === null || id === "flow_obj") return;
      const t = (out[id] ??= { startedAt: at, endedAt: at });
      t.endedAt = at;
      if (frame.workflow_step?.node?.finish_reason === "stop") {
        t.code = frame.code;
        if (frame.workflow_step.node.usage) t.usage = frame.workflow_step.node.usage;
      }
    };
    for (const [, node, at, frame] of this.#inlinePart().frames) add(node, at, frame);
    for (const r of this.#rows(
      "run_frames",
      `SELECT node, frame, at FROM run_frames WHERE node IS NOT NULL AND node != 'flow_obj' ORDER BY seq`,
    ))
      add(String(r.node), Number(r.at), JSON.parse(String(r.frame)) as Frame);
    return out;
  }

  async deleteAll(): Promise<void> {
    this.#pending.length = 0;
    this.#pendingChars = 0;
    this.#log.length = 0;
    this.#pendingRun = undefined;
    this.#final = undefined;
    this.#inline = undefined;
    await this.#storage.deleteAll();
    this.#lastSeq = -1;
    this.#frameBytes = -1;
    this.#status = undefined;
    this.#head = undefined;
    this.#init();
  }
}

const encoder = new TextEncoder();
