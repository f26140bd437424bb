// One Durable Object per run (ARCHITECTURE decisions 1 and 2), named by event_id. A thin class: typed RPC methods
// (`start`, `resume`, `attach`, `cancel`, `summary`) that delegate to the engine and to RunStore. Frames leave as
// NDJSON lines `{"seq":n,"frame":{…}}` on a byte stream; the worker filters and encodes them.
import { DurableObject } from "cloudflare:workers";
import {
  Codes,
  createGuardedFetch,
  createSocketOpener,
  Run,
  WorkflowError,
  type ErrorData,
  type Frame,
  type KeyValuePort,
  type Plan,
  type PlanNode,
  type RunOutcome,
  type RunState,
} from "../engine/index.ts";
import { DebugFilter, OpenFilter, timeoutFrame } from "../engine/filter.ts";
import { nodeErrorFrame, workflowErrorEndFrame } from "../engine/frames.ts";
import { reconcileState } from "../engine/run.ts";
import { registry } from "../plugins/index.ts";
import { attemptDelivery, callbackPayload, nextState, type CallbackState } from "./callback.ts";
import { holdWhile } from "./in-flight.ts";
import { createJsSandbox, planRunsJs, warmJsSandbox } from "./js-sandbox.ts";
import { parsedPlan } from "./plans.ts";
import { ensureHistory, queueHistory, type HistoryRow } from "./history.ts";
import { createKv } from "./kv.ts";
import { checkFrame, outputLimits, utf8Length, type OutputLimits } from "./output-limits.ts";
import { RunStore, type NodeTiming, type RunRequest, type RunRow, type RunStatus } from "./run-store.ts";
import { runSqlPort } from "./sql-pool.ts";
import { RunTraces } from "./run-traces.ts";
import type { OtelEnv } from "./otlp-export.ts";

export interface RunEnv extends OtelEnv {
  DB?: D1Database;
  UPSTASH_REDIS_REST_URL?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
  VARIABLE_TTL_SECONDS?: string;
  /** this deployment (a self service binding): sub-flow calls reach it without a network hop */
  SELF_SERVICE?: Fetcher;
  /** "true" lets plugins call private and loopback addresses (local development and tests) */
  ALLOW_PRIVATE_FETCH?: string;
  /** seconds a finished run's storage is kept (default 7 days) */
  RUN_RETENTION_SECONDS?: string;
  /** ms between the watchdog alarms of a run in flight (default 5000, at least 1000): how soon a restart is noticed */
  RUN_HEARTBEAT_MS?: string;
  /** secrets of the database node: one PostgreSQL URL for every dbId, or JSON {"<dbId>[:<env>]": url} */
  DATABASE_URL?: string;
  DATABASE_URLS?: string;
  /** output limits in bytes (src/durable/output-limits.ts): one frame (default 1 MiB), a run's frames (8 MiB) */
  MAX_FRAME_BYTES?: string;
  MAX_RUN_OUTPUT_BYTES?: string;
}

export type RunReply = { ok: true; stream: ReadableStream<Uint8Array> } | { ok: false; error: ErrorData };

export interface RunSummary {
  eventId: string;
  flowId: string;
  appId: string;
  status: RunStatus;
  mode: "open" | "debug";
  stream: boolean;
  code: number;
  message: string;
  outputs: Record<string, unknown> | null;
  usage: { completion_tokens: number; prompt_tokens: number; total_tokens: number } | null;
  createdAt: number;
  updatedAt: number;
  lastSeq: number;
  interrupt: { nodeId: string; deadline: number } | null;
  parameters: Record<string, unknown>;
  nodes: Record<string, NodeTiming>;
  hookId: string | null;
  callback: CallbackView | null;
  /** issue 17: the run's trace id (null when traces are not exported) */
  traceId: string | null;
}

export interface CallbackView {
  url: string;
  status: CallbackState["status"];
  attempts: number;
  nextAttemptAt: number | null;
  log: { attempt: number; at: number; status: number; error: string | null }[];
}

/** What a webhook start answers: whether this call created the run, and where the run stands. */
export interface HookReply {
  created: boolean;
  status: RunStatus;
  outputs: Record<string, unknown> | null;
  error: ErrorData | null;
}

const DEFAULT_RETENTION_S = 7 * 24 * 3600;
const DEFAULT_HEARTBEAT_MS = 5000;
const MIN_HEARTBEAT_MS = 1000;
/** the sub-flow target when WORKFLOW_URL_SSE is not set: this deployment, through its self service binding */
export const SELF_ORIGIN = "https://workflow.self";
const encoder = new TextEncoder();

interface Subscriber {
  controller: ReadableStreamDefaultController<Uint8Array>;
  closed: boolean;
}

export class RunObject extends DurableObject<RunEnv> {
  #storeValue: RunStore | undefined;
  #run: Run | undefined;
  #execution: Promise<void> | undefined;
  readonly #subscribers = new Set<Subscriber>();
  /** issue 17: the run's spans, buffered here and exported after the answer */
  readonly #traces = new RunTraces(this.env, (p) => this.ctx.waitUntil(p));

  /**
   * The run's storage, opened on first use rather than in the constructor. Under `wrangler dev` the platform's own
   * wrapper writes the object's name into SQLite right after construction; after our schema had been created, that
   * write was dear. CPU profiles of the webhook benchmark, one each way: SQLite calls about 1.9 ms a run with the
   * store opened in the constructor, about 1.0 ms opened on first use.
   */
  get #store(): RunStore {
    return (this.#storeValue ??= new RunStore(this.ctx.storage));
  }

  /** Starts a run and streams its frames until the final frame (stop or interrupt). */
  async start(input: StartInput): Promise<RunReply> {
    const { plan, runsJs } = parsedPlan(input.plan, planRunsJs);
    if (runsJs) void warmJsSandbox(); // issue 15: a fresh isolate's sandbox warms while the run starts
    const now = Date.now();
    this.#traces.begin(input.request);
    if (!this.#store.create(input.request, input.plan, now)) {
      return {
        ok: false,
        error: WorkflowError.of(Codes.ENG_RUN_ERROR, `run ${input.request.eventId} already exists`).toData(),
      };
    }
    this.#armWatchdog(now + input.request.deadlineMs);
    const stream = this.#subscribe(0);
    this.#launch(plan, input.request, undefined);
    return { ok: true, stream };
  }

  /**
   * Starts a run and answers with the one frame a non-streaming client gets (spec §2.4): the filter runs here, so
   * no frame stream crosses RPC. After `frameTimeoutMs` without frames: the 20804 frame (spec §2.7).
   */
  async startCollect(
    input: StartInput,
    frameTimeoutMs: number,
  ): Promise<{ ok: true; frame: Frame } | { ok: false; error: ErrorData }> {
    const { plan, runsJs } = parsedPlan(input.plan, planRunsJs);
    if (runsJs) void warmJsSandbox();
    const now = Date.now();
    this.#traces.begin(input.request);
    // the caller hears nothing before the run ends, so the run row may wait for the end (or the first I/O, or the
    // next turn): a run of logic nodes is then written once, finished
    if (!this.#store.create(input.request, input.plan, now, { defer: true })) {
      return {
        ok: false,
        error: WorkflowError.of(Codes.ENG_RUN_ERROR, `run ${input.request.eventId} already exists`).toData(),
      };
    }
    this.#armWatchdog(now + input.request.deadlineMs);
    const filter =
      input.request.mode === "open" ? new OpenFilter({ stream: false }) : new DebugFilter({ stream: false });
    const sid = input.request.sid;
    const frame = await new Promise<Frame>((resolve) => {
      let lastFrameAt = now;
      // one timer for the whole wait (a run of logic nodes ends before it is armed); it re-arms itself for what is
      // left after the newest frame
      let cancel = (): void => undefined;
      const check = (): void => {
        const left = lastFrameAt + frameTimeoutMs - Date.now();
        if (left > 0) {
          const t = setTimeout(check, left);
          cancel = () => clearTimeout(t);
          return;
        }
        this.#collectors.delete(collect);
        resolve(timeoutFrame(sid, Math.floor(Date.now() / 1000)));
      };
      const collect = (f: Frame): boolean => {
        lastFrameAt = Date.now();
        const out = filter.push({ ...f, id: sid });
        if (out.length === 0) return false;
        cancel();
        resolve(out[0] as Frame);
        return true;
      };
      this.#collectors.add(collect);
      cancel = this.#timerAfterTurn(frameTimeoutMs, check);
      this.#launch(plan, input.request, undefined);
    });
    // a run that did no I/O has its final frame queued, not written (see #record): the answer leaves once storage
    // holds the run, written whole by its end a few microtasks later (or by the next turn's flush at the latest)
    if (this.#store.deferred()) await this.#endOrNextTurn();
    return { ok: true, frame };
  }

  /** Resolves when the run's execution ends or the next turn's tasks (`#soon`) ran, whichever comes first. */
  #endOrNextTurn(): Promise<void> {
    return new Promise<void>((resolve) => {
      void this.#execution?.then(resolve, resolve);
      this.#soon(resolve);
    });
  }

  readonly #collectors = new Set<(frame: Frame) => boolean>();

  /**
   * Starts a webhook run unless this object already holds it (the object is named after the hook and the
   * delivery's idempotency key, so a repeated delivery lands here and gets the same run), then waits up to
   * `waitMs` for it to end (sync hooks; 0 for async ones).
   */
  async startHook(input: StartInput, waitMs: number): Promise<HookReply> {
    const { plan, runsJs } = parsedPlan(input.plan, planRunsJs);
    if (runsJs) void warmJsSandbox();
    const now = Date.now();
    this.#traces.begin(input.request);
    // a sync hook's caller hears nothing before the run ends or the wait runs out (#waitFor writes the row before
    // it answers early), so its row may wait like a non-streaming start's; an async hook answers at once
    if (!this.#store.create(input.request, input.plan, now, { defer: waitMs > 0 })) return this.#waitFor(waitMs, false);
    this.#armWatchdog(now + input.request.deadlineMs);
    this.#launch(plan, input.request, undefined);
    return this.#waitFor(waitMs, true);
  }

  /** Where an existing run stands, after waiting up to `waitMs` for it to end; null when there is no such run. */
  async follow(waitMs: number): Promise<HookReply | null> {
    return this.#store.get() ? this.#waitFor(waitMs, false) : null;
  }

  async #waitFor(waitMs: number, created: boolean): Promise<HookReply> {
    if (!created) {
      const row = this.#store.get();
      if (row?.status === "running" && !this.#execution) this.#continueAfterEviction(row);
    }
    const running = this.#execution;
    if (waitMs > 0 && running) {
      let cancel = (): void => undefined;
      await Promise.race([running, new Promise<void>((resolve) => (cancel = this.#timerAfterTurn(waitMs, resolve)))]);
      cancel();
    }
    // an answer before the end names a run that storage must already hold
    this.#store.flush();
    const now = this.#store.result();
    if (!now)
      return {
        created,
        status: "failed",
        outputs: null,
        error: WorkflowError.of(Codes.ENG_RUN_ERROR, "run vanished").toData(),
      };
    const failed = now.status === "failed" || now.status === "cancelled";
    return { created, status: now.status, outputs: now.outputs, error: failed && now.outcome ? now.outcome : null };
  }

  /**
   * The run's row when it belongs to `app` (issue 13: the object refuses calls for another app, whatever the worker
   * checked). Another app's run is "not found", never "forbidden": its existence stays private.
   */
  #own(app: string): RunRow | undefined {
    const row = this.#store.get();
    return row && row.request.appId === app ? row : undefined;
  }

  /** Answers an interrupt (spec §1.5.3) and streams the rest of the run. Works after an eviction. */
  async resume(answer: { eventType: string; content: string }, app: string, traceparent?: string): Promise<RunReply> {
    const row = this.#own(app);
    if (!row)
      return { ok: false, error: WorkflowError.of(Codes.EVENT_REGISTRY_NOT_FOUND_ERROR, "Event not found").toData() };
    if (row.status !== "interrupt" || !row.state) {
      return {
        ok: false,
        error: WorkflowError.of(Codes.EVENT_REGISTRY_NOT_FOUND_ERROR, "Current event is not paused").toData(),
      };
    }
    const now = Date.now();
    this.#store.setRunning(now, answer);
    await this.ctx.storage.setAlarm(this.#watchdogAt(row.createdAt + row.request.deadlineMs));
    const stream = this.#subscribe(this.#store.lastSeq());
    const run = this.#run ?? this.#restoreRun(row, row.state);
    this.#run = run;
    // issue 17: the answer's caller is linked from the wait span (the run's trace began with the question's caller)
    this.#traces.resumedBy(run.options.tracer, traceparent);
    this.#execution = this.#drive(run, row.request, () => run.resume(answer));
    return { ok: true, stream };
  }

  /** Replays stored frames after `afterSeq`, then follows the live run until its next final frame. */
  async attach(afterSeq: number, app: string): Promise<RunReply> {
    const row = this.#own(app);
    if (!row)
      return { ok: false, error: WorkflowError.of(Codes.EVENT_REGISTRY_NOT_FOUND_ERROR, "Event not found").toData() };
    const stream = this.#subscribe(afterSeq);
    if (row.status === "running" && !this.#execution) this.#continueAfterEviction(row);
    return { ok: true, stream };
  }

  /**
   * The runs API's event log (`GET /runs/{id}/events`): every stored frame after `afterSeq` — across interrupts and
   * the resumes that followed them, unlike `attach`, whose replay ends a response where Astron's did — then the live
   * run until its next final frame.
   */
  async events(afterSeq: number, app: string): Promise<RunReply> {
    const row = this.#own(app);
    if (!row)
      return { ok: false, error: WorkflowError.of(Codes.EVENT_REGISTRY_NOT_FOUND_ERROR, "Event not found").toData() };
    const stream = this.#subscribe(afterSeq, true);
    if (row.status === "running" && !this.#execution) this.#continueAfterEviction(row);
    return { ok: true, stream };
  }

  /** The janitor's retention clean-up: deletes a finished run's storage (false while it is still running or waiting). */
  async purge(): Promise<boolean> {
    const status = this.#store.status();
    if (status === "running" || status === "interrupt") return false;
    if (this.#store.callback()?.status === "pending") return false;
    await this.#store.deleteAll();
    return true;
  }

  async cancel(app: string): Promise<boolean> {
    if (!this.#own(app)) return false;
    const status = this.#store.status();
    if (status !== "running" && status !== "interrupt") return false;
    if (this.#run) this.#run.cancel();
    const row = this.#store.get();
    const error = WorkflowError.of(Codes.ENG_RUN_ERROR, "run cancelled").toData();
    // the run's last frame says so, like every other end (docs/frames.md): a client attached, or one replaying the
    // run's events later, sees the 22301 end frame with finish_reason "stop" rather than a stream that just stops
    if (row) this.#emitEnd(row, error, "cancelled");
    else this.#finish("cancelled", error, null, undefined);
    return true;
  }

  async summary(app: string): Promise<RunSummary | null> {
    const row = this.#own(app);
    if (!row) return null;
    return {
      eventId: row.request.eventId,
      flowId: row.request.flowId,
      appId: row.request.appId,
      status: row.status,
      mode: row.request.mode,
      stream: row.request.stream,
      code: row.outcome?.code ?? 0,
      message: row.outcome?.message ?? "Success",
      outputs: row.outputs,
      usage: row.usage,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
      lastSeq: this.#store.lastSeq(),
      interrupt: row.interrupt,
      parameters: row.request.parameters,
      nodes: this.#store.nodeTimings(),
      hookId: row.request.hookId ?? null,
      callback: this.#callbackView(row),
      traceId: row.request.trace?.traceId ?? null,
    };
  }

  #callbackView(row: RunRow): CallbackView | null {
    const spec = row.request.callback;
    if (!spec) return null;
    const state = this.#store.callback();
    const log = this.#store
      .logEntries()
      .filter((e) => e.kind === "callback")
      .map((e) => {
        const d = e.data as { attempt: number; status: number; error: string | null };
        return { attempt: d.attempt, at: e.at, status: d.status, error: d.error };
      });
    return {
      url: spec.url,
      status: state?.status ?? "pending",
      attempts: state?.attempts ?? 0,
      nextAttemptAt: state?.status === "pending" ? state.nextAt : null,
      log,
    };
  }

  /** The run log (tests and diagnostics). */
  async log(): Promise<{ kind: string; node: string | null; data: unknown; at: number }[]> {
    return this.#store.logEntries();
  }

  /**
   * Alarms, one at a time (a Durable Object has one): the watchdog of a run in flight, which carries the run on after
   * an eviction or a restart without waiting for a client (ARCHITECTURE decision 11); the run deadline (20804); the
   * question-answer timeout (23900); webhook callback retries; and the retention clean-up of a finished run.
   */
  override async alarm(): Promise<void> {
    // spans of a long run wait here at most one heartbeat
    this.#traces.flushSoon();
    // the watchdog of a run this instance is executing: nothing to do but to come back (no read of the whole row)
    const head = this.#execution && this.#store.status() === "running" ? this.#store.head() : undefined;
    if (head && Date.now() < head.createdAt + head.request.deadlineMs) {
      await this.ctx.storage.setAlarm(this.#watchdogAt(head.createdAt + head.request.deadlineMs));
      return;
    }
    const row = this.#store.get();
    if (!row) return;
    const now = Date.now();
    if (row.status === "completed" || row.status === "failed" || row.status === "cancelled") {
      // a pending callback keeps the run (and its retries) alive; retention starts counting again after it
      const callback = this.#store.callback();
      if (callback?.status === "pending") {
        if (now >= callback.nextAt) await this.#deliverCallback();
        else await this.#scheduleAfterFinish(row.updatedAt);
        return;
      }
      // the deadline alarm of a run that ended earlier: make sure of its history row, then wait out the retention
      await this.#ensureHistory(row);
      const expires = row.updatedAt + this.#retentionMs();
      if (now < expires) await this.ctx.storage.setAlarm(expires);
      else await this.#store.deleteAll();
      return;
    }
    if (row.status === "interrupt" && row.interrupt && now >= row.interrupt.deadline) {
      // spec §6.10: the waiting node fails with 23900 (its error frame, then the workflow error end)
      const error = WorkflowError.of(Codes.EVENT_REGISTRY_NOT_FOUND_ERROR, "Timeout while waiting for user response");
      this.#run?.cancel();
      this.#traces.waitTimedOut(row, error.toData(), now);
      const node = row.plan?.nodes.find((n) => n.id === row.interrupt?.nodeId);
      if (node) {
        this.#onFrame(
          nodeErrorFrame(row.request.sid, Math.floor(now / 1000), {
            id: node.id,
            alias: node.alias,
            error: error.toData(),
            inputs: {},
            executedTime: 0,
            progress: 1,
            zeroUsage: false,
          }),
        );
      }
      this.#emitEnd(row, error.toData());
      return;
    }
    if (now >= row.createdAt + row.request.deadlineMs) {
      this.#run?.cancel();
      this.#emitEnd(row, WorkflowError.of(Codes.OPEN_API_STREAM_QUEUE_TIMEOUT_ERROR, "run deadline exceeded").toData());
      return;
    }
    if (row.status === "running" && !this.#execution) this.#continueAfterEviction(row);
    await this.#scheduleNextAlarm(row);
  }

  // ---- internals ------------------------------------------------------------------------------------------------

  #options(request: RunRequest): ConstructorParameters<typeof Run>[1] {
    const allowPrivate = this.env.ALLOW_PRIVATE_FETCH === "true";
    return {
      registry,
      sid: request.sid,
      info: {
        sid: request.sid,
        eventId: request.eventId,
        flowId: request.flowId,
        appId: request.appId,
        uid: request.uid,
        chatId: request.chatId,
        isRelease: request.mode === "open",
        history: request.history,
      },
      parameters: request.parameters,
      config: request.config,
      ...this.#ports(request, allowPrivate),
      emit: (frame) => this.#onFrame(frame),
      onBoundary: (nodeId) => this.#boundary(nodeId),
      onTokensShown: (nodeId) => this.#store.markShown(nodeId, Date.now()),
      log: (line) => console.log(`[run ${request.eventId}] ${line}`),
      ...this.#traces.options(request),
    };
  }

  /**
   * The ports through which nodes reach the world. Each one that reaches outside writes what the store still holds
   * back (a deferred run row, queued frames) before its first byte leaves: nothing outside may see a run that storage
   * does not hold.
   */
  #ports(
    request: RunRequest,
    allowPrivate: boolean,
  ): Pick<ConstructorParameters<typeof Run>[1], "fetch" | "openSocket" | "kv" | "sandbox" | "sql"> {
    const flush = (): void => this.#store.flush();
    const fetchFn = this.#pluginFetch(request, allowPrivate);
    const socket = createSocketOpener({ allowPrivate, errorCode: Codes.SPARK_REQUEST_ERROR });
    const kv = this.#kv();
    const sandbox = createJsSandbox();
    // statements go to the shared per-database pool (sql-pool.ts): a run holds no connection of its own
    const sql = runSqlPort(this.env);
    return {
      fetch: (input, init) => (flush(), fetchFn(input, init)),
      openSocket: (url) => (flush(), socket(url)),
      kv: {
        hgetall: (key) => (flush(), kv.hgetall(key)),
        hset: (key, fields) => (flush(), kv.hset(key, fields)),
      },
      // the sandbox reaches nothing outside (no fetch, timers or bindings): no flush before it
      sandbox,
      sql: { query: (target, text, params, limits) => (flush(), sql.query(target, text, params, limits)) },
    };
  }

  /**
   * The guarded fetch for plugins; requests to this deployment's own API (WORKFLOW_URL_SSE's origin, or the
   * internal `https://workflow.self` default) go through the self service binding instead of the network.
   */
  #pluginFetch(request: RunRequest, allowPrivate: boolean): ReturnType<typeof createGuardedFetch> {
    const guarded = createGuardedFetch(fetch, { allowPrivate });
    const self = this.env.SELF_SERVICE;
    const own = request.config.WORKFLOW_URL_SSE ? new URL(request.config.WORKFLOW_URL_SSE).origin : SELF_ORIGIN;
    if (!self) return guarded;
    // the same guard (timeout, body cap, redirects) over the service binding; the binding is this deployment, so the
    // private-address check does not apply to it
    const viaSelf = createGuardedFetch(((u: string, i?: RequestInit) => self.fetch(u, i)) as typeof fetch, {
      allowPrivate: true,
    });
    return (input, init) => (new URL(String(input)).origin === own ? viaSelf(input, init) : guarded(input, init));
  }

  /** node-variable storage outlives the run: Upstash hashes, else the deployment's D1 (spec §5.19) */
  #kv(): KeyValuePort {
    return createKv(this.env);
  }

  #launch(plan: Plan, request: RunRequest, state: RunState | undefined): void {
    const run = new Run(plan, this.#options(request), state);
    this.#run = run;
    this.#execution = holdWhile(
      request.eventId,
      this.#drive(run, request, () => run.execute()),
    );
  }

  #restoreRun(row: RunRow, state: RunState): Run {
    const reconciled = reconcileState(state, this.#deliveredCounts());
    // ARCHITECTURE decision 2: a node in flight runs again only when it is free of side effects and nothing it
    // streamed can have reached a client (a second call would show other tokens); else it fails with 22302
    const shown = this.#store.shownNodes();
    const mayRerun = (node: PlanNode): true | string => {
      if (!node.idempotent) return `node ${node.id} was interrupted by a restart and is not idempotent`;
      if (shown.has(node.id))
        return `node ${node.id} was interrupted by a restart after its output had reached the client`;
      return true;
    };
    return new Run(storedPlan(row), { ...this.#options(row.request), mayRerun }, reconciled);
  }

  #continueAfterEviction(row: RunRow): void {
    // ARCHITECTURE decision 2: rebuild from storage; completed nodes are never re-run
    if (row.state) {
      const run = this.#restoreRun(row, row.state);
      this.#run = run;
      this.#execution = holdWhile(
        row.request.eventId,
        this.#drive(run, row.request, () => run.execute()),
      );
    } else {
      this.#launch(storedPlan(row), row.request, undefined);
    }
  }

  #deliveredCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const { frame } of this.#store.framesAfter(0, 1_000_000)) {
      const id = frame.workflow_step?.node?.id;
      if (id && id !== "flow_obj") counts[id] = (counts[id] ?? 0) + 1;
    }
    return counts;
  }

  async #drive(run: Run, request: RunRequest, go: () => Promise<RunOutcome>): Promise<void> {
    let outcome: RunOutcome;
    try {
      outcome = await go();
    } catch (e) {
      // an exception that is not a WorkflowError is internal (storage, a bug): its text goes to the log, not to clients
      if (!(e instanceof WorkflowError))
        console.log(`[run ${request.eventId}] run failed: ${e instanceof Error ? e.message : String(e)}`);
      const error = e instanceof WorkflowError ? e : WorkflowError.of(Codes.ENG_RUN_ERROR);
      outcome = { status: "failed", error: error.toData() };
    }
    const now = Date.now();
    if (outcome.status === "interrupted") {
      const deadline = now + outcome.timeoutMs;
      try {
        this.#store.setInterrupted(run.capture(), outcome.nodeId, deadline, now);
      } catch (e) {
        // a paused run that storage cannot hold cannot be resumed: it fails, without the storage's text
        this.#execution = undefined;
        this.#halt(storageError(e, request.eventId));
        return;
      }
      this.#traces.flushSoon();
      const created = this.#store.get()?.createdAt ?? now;
      await this.ctx.storage.setAlarm(Math.min(deadline, created + request.deadlineMs));
      this.#execution = undefined;
      return;
    }
    this.#execution = undefined;
    // an ended run's engine (plan, values, buffers) is not needed again: let it go before the object is evicted
    if (this.#run === run) this.#run = undefined;
    if (outcome.status === "completed") {
      this.#finish("completed", { code: 0, message: "Success" }, outcome.outputs, outcome.usage);
    } else if (outcome.status === "failed") {
      this.#finish("failed", outcome.error, null, run.usage);
    }
    // cancelled runs were finished by cancel()
  }

  #finish(
    status: "completed" | "failed" | "cancelled",
    outcome: ErrorData,
    outputs: Record<string, unknown> | null,
    usage: RunSummary["usage"] | undefined,
  ): void {
    const now = Date.now();
    const current = this.#store.status();
    if (current === "completed" || current === "failed" || current === "cancelled") return;
    const total = usage ?? { completion_tokens: 0, prompt_tokens: 0, total_tokens: 0 };
    this.#store.finish(status, outcome, outputs, total, now);
    this.#closeSubscribers();
    const row = this.#store.head();
    if (row) this.#traces.end(row, status, outcome, now);
    if (row) this.ctx.waitUntil(this.#recordHistory(row, status, outcome, total));
    const spec = row?.request.callback;
    if (row && spec) {
      // stored before the first attempt: an eviction during it leaves a pending callback that the alarm retries
      const payload = callbackPayload(
        spec.hookId,
        {
          runId: row.request.eventId,
          flowId: row.request.flowId,
          status,
          outputs,
          error: status === "completed" ? null : outcome,
          usage: total,
        },
        now,
      );
      this.#store.setCallback(
        {
          status: "pending",
          attempts: 0,
          nextAt: now + spec.baseDelayMs,
          msgId: `msg_${row.request.eventId}`,
          payload,
        },
        null,
        now,
      );
      this.ctx.waitUntil(this.#deliverCallback());
      this.ctx.waitUntil(this.#scheduleAfterFinish(now));
    }
    // without a callback the pending deadline alarm turns into the retention clean-up when it fires
  }

  readonly #boundaries: string[] = [];
  #saveScheduled = false;

  /**
   * Node boundaries are saved once per turn of the event loop: the storage commits a turn's writes together, so the
   * boundaries a run passes without I/O in between (logic nodes) would only overwrite each other's state inside
   * one commit. The capture is taken in the next macrotask (a node that started meanwhile is captured as running,
   * exactly as after an eviction at that moment) and records every boundary it covers in the log.
   */
  #boundary(nodeId: string): void {
    this.#boundaries.push(nodeId);
    if (this.#saveScheduled) return;
    this.#saveScheduled = true;
    this.#soon(() => {
      this.#saveScheduled = false;
      const nodes = this.#boundaries.splice(0);
      const run = this.#run;
      try {
        if (run && !run.closed) this.#store.saveState(run.capture(), nodes, Date.now());
      } catch (e) {
        this.#halt(storageError(e, this.#store.head()?.request.eventId));
      }
    });
  }

  /**
   * The run's watchdog alarm (see `#watchdogAt`), set in the next macrotask and only if the run is still running
   * then. A run that ends in the turn that started it (no I/O: logic nodes only) needs no alarm at all — setting one
   * is the costliest storage operation of such a run — and the janitor (`src/worker/janitor.ts`) clears its storage
   * after the retention period. A run that waits for I/O gets its alarm before it can be evicted while waiting.
   */
  #armWatchdog(deadline: number): void {
    this.#soon(() => {
      // a deferred run row is written by now at the latest (a run still going after its first turn)
      this.#store.flush();
      if (this.#store.status() !== "running") return;
      this.ctx.storage
        .setAlarm(this.#watchdogAt(deadline))
        .catch((e: unknown) =>
          console.log(`[run] watchdog alarm not set: ${e instanceof Error ? e.message : String(e)}`),
        );
    });
  }

  /**
   * When the alarm of a run in flight fires: a heartbeat from now, or the deadline if that comes first. Alarms are
   * stored with the object and fire after a restart, so a run whose instance died wakes within a heartbeat and goes
   * on from storage with no client attached (ARCHITECTURE decision 11); while the instance lives, the alarm only
   * comes back.
   */
  #watchdogAt(deadline: number): number {
    const configured = Number(this.env.RUN_HEARTBEAT_MS ?? DEFAULT_HEARTBEAT_MS);
    const beat = Number.isFinite(configured) ? Math.max(MIN_HEARTBEAT_MS, configured) : DEFAULT_HEARTBEAT_MS;
    return Math.min(deadline, Date.now() + beat);
  }

  /**
   * A timer armed in the next turn (through `#soon`) unless cancelled before: a wait that a run of logic nodes ends
   * in its first turn costs no timer. Returns the cancel.
   */
  #timerAfterTurn(ms: number, fire: () => void): () => void {
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    this.#soon(() => {
      if (!cancelled) timer = setTimeout(fire, ms);
    });
    return () => {
      cancelled = true;
      if (timer !== undefined) clearTimeout(timer);
    };
  }

  readonly #soonTasks: (() => void)[] = [];

  /**
   * Runs `task` in the next macrotask. Everything a run defers to "after this turn" (the boundary save, the deadline
   * alarm, the collector's frame timeout) shares one timer: a timer is among the dearest things a short run does.
   */
  #soon(task: () => void): void {
    this.#soonTasks.push(task);
    if (this.#soonTasks.length > 1) return;
    setTimeout(() => {
      for (const t of this.#soonTasks.splice(0)) t();
    }, 0);
  }

  #retentionMs(): number {
    return Number(this.env.RUN_RETENTION_SECONDS ?? DEFAULT_RETENTION_S) * 1000;
  }

  #delivering = false;

  /** One callback attempt, recorded; then the alarm for the next one (or for the retention clean-up). */
  async #deliverCallback(): Promise<void> {
    const row = this.#store.get();
    const spec = row?.request.callback;
    const state = this.#store.callback();
    if (!row || !spec || state?.status !== "pending" || this.#delivering) return;
    this.#delivering = true;
    try {
      const guarded = createGuardedFetch(fetch, { allowPrivate: this.env.ALLOW_PRIVATE_FETCH === "true" });
      // issue 17: each delivery is a span of the run's trace and sends its traceparent
      const { fetch: fetchFn, end } = this.#traces.callback(row.request, guarded, state.attempts + 1);
      const result = await attemptDelivery(fetchFn, spec, state, Date.now()).finally(end);
      const now = Date.now();
      this.#store.setCallback(nextState(spec, state, result, now), result, now);
    } finally {
      this.#delivering = false;
    }
    await this.#scheduleAfterFinish(row.updatedAt);
  }

  /** After the end: the next callback attempt if one is pending, else the retention clean-up. */
  async #scheduleAfterFinish(endedAt: number): Promise<void> {
    const retention = this.#retentionMs();
    const callback = this.#store.callback();
    await this.ctx.storage.setAlarm(
      callback?.status === "pending" ? callback.nextAt : Math.max(Date.now(), endedAt) + retention,
    );
  }

  /** Ends a run from outside the engine (deadline, answer timeout, cancel): an error end frame, then the summary. */
  #emitEnd(row: RunRow, error: ErrorData, status: "failed" | "cancelled" = "failed"): void {
    const created = Math.floor(Date.now() / 1000);
    const frame: Frame = {
      code: error.code,
      message: error.message,
      id: row.request.sid,
      created,
      workflow_step: { seq: 0, progress: 1 },
      choices: [{ delta: { role: "assistant", content: "", reasoning_content: "" }, index: 0, finish_reason: "stop" }],
      usage: { completion_tokens: 0, prompt_tokens: 0, total_tokens: 0 },
    };
    this.#onFrame(frame);
    this.#finish(status, error, null, row.usage ?? undefined);
  }

  #historyRow(
    row: Pick<RunRow, "request" | "createdAt">,
    status: string,
    outcome: ErrorData,
    usage: NonNullable<RunSummary["usage"]>,
    endedAt: number,
  ): HistoryRow {
    const r = row.request;
    return {
      eventId: r.eventId,
      flowId: r.flowId,
      appId: r.appId,
      uid: r.uid,
      chatId: r.chatId,
      status,
      code: outcome.code,
      message: outcome.message,
      startedAt: row.createdAt,
      endedAt,
      usage: JSON.stringify(usage),
      mode: r.mode,
    };
  }

  /** whether this instance saw the run's history row stored (an evicted object does not know: its alarm writes it again) */
  #historyStored = false;

  async #recordHistory(
    row: Pick<RunRow, "request" | "createdAt">,
    status: string,
    outcome: ErrorData,
    usage: NonNullable<RunSummary["usage"]>,
  ): Promise<void> {
    if (!this.env.DB) return;
    this.#historyStored = await queueHistory(this.env.DB, this.#historyRow(row, status, outcome, usage, Date.now()));
    // the janitor finds finished runs through their history row: without one, the alarm writes it (and cleans up)
    if (!this.#historyStored) await this.ctx.storage.setAlarm(Date.now() + 60_000);
  }

  /** The alarm's second chance for a history row this instance did not see stored. */
  async #ensureHistory(row: RunRow): Promise<void> {
    if (!this.env.DB || this.#historyStored || !row.outcome) return;
    try {
      await ensureHistory(
        this.env.DB,
        this.#historyRow(
          row,
          row.status,
          row.outcome,
          row.usage ?? { completion_tokens: 0, prompt_tokens: 0, total_tokens: 0 },
          row.updatedAt,
        ),
      );
      this.#historyStored = true;
    } catch (e) {
      console.log(`[run ${row.request.eventId}] history not recorded: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  async #scheduleNextAlarm(row: RunRow): Promise<void> {
    const deadline = row.createdAt + row.request.deadlineMs;
    // a run waiting for an answer has nothing in flight: its alarm is the answer's timeout (or the deadline)
    const next = row.interrupt ? Math.min(row.interrupt.deadline, deadline) : this.#watchdogAt(deadline);
    await this.ctx.storage.setAlarm(next);
  }

  // ---- frames -----------------------------------------------------------------------------------------------------

  #onFrame(frame: Frame): void {
    if (this.#halted) return;
    const json = JSON.stringify(frame);
    const checked = checkFrame(
      json,
      frame.workflow_step?.node?.id,
      this.#store.frameBytes(),
      (this.#limits ??= outputLimits(this.env)),
    );
    if ("error" in checked) {
      this.#halt(checked.error);
      return;
    }
    this.#record(frame, json, checked.bytes);
  }

  /** Stores a frame and hands it to the live clients. */
  #record(frame: Frame, json: string, bytes: number): void {
    const final = isFinal(frame);
    let seq: number;
    try {
      seq = this.#store.appendFrame(frame, Date.now(), json, bytes);
      // the final frame of a response is written before anyone sees it. While the run row itself waits (a deferred
      // start that did no I/O yet), nobody can: no stream is attached, and the collector's answer waits for the
      // write (startCollect), which the run's end makes in the same turn — one row with everything, the run ended
      if (final && !this.#store.deferred()) this.#store.flush();
    } catch (e) {
      if (!this.#halted) {
        this.#halt(storageError(e, this.#store.head()?.request.eventId));
        return;
      }
      // the error end of a run whose storage fails: its live clients still hear it
      seq = this.#store.lastSeq();
    }
    for (const collect of this.#collectors) if (collect(frame)) this.#collectors.delete(collect);
    if (this.#subscribers.size > 0) {
      const line = encoder.encode(`{"seq":${seq},"frame":${json}}\n`);
      for (const s of this.#subscribers) {
        if (s.closed) continue;
        try {
          s.controller.enqueue(line);
          if (final) {
            s.closed = true;
            s.controller.close();
          }
        } catch {
          s.closed = true;
        }
      }
      if (final) this.#subscribers.clear();
    }
    // the state right after the first frame makes an early eviction recoverable
    if (seq === 1) this.#boundary("flow_obj");
  }

  #limits: OutputLimits | undefined;
  /** the run was ended from here (an output limit, a storage failure): the engine's remaining frames are dropped */
  #halted = false;

  /**
   * Ends the run with `error` from outside the engine: the engine stops, the error end frame goes out (the frame that
   * did not fit never does) and the run is recorded as failed.
   */
  #halt(error: ErrorData): void {
    this.#halted = true;
    const run = this.#run;
    run?.cancel();
    const head = this.#store.head();
    const frame = workflowErrorEndFrame(head?.request.sid ?? "", Math.floor(Date.now() / 1000), error);
    const json = JSON.stringify(frame);
    this.#record(frame, json, utf8Length(json));
    try {
      this.#finish("failed", error, null, run?.usage);
    } catch (e) {
      console.log(
        `[run ${head?.request.eventId ?? "?"}] failure not recorded: ${e instanceof Error ? e.message : String(e)}`,
      );
      this.#closeSubscribers();
    }
  }

  /** `throughInterrupts`: the replay of stored frames goes on past interrupt frames (the runs API's event log). */
  #subscribe(afterSeq: number, throughInterrupts = false): ReadableStream<Uint8Array> {
    let sub: Subscriber | undefined;
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        sub = { controller, closed: false };
        let seq = afterSeq;
        for (;;) {
          const batch = this.#store.framesAfter(seq, 500);
          for (const f of batch) {
            controller.enqueue(encoder.encode(`${JSON.stringify(f)}\n`));
            seq = f.seq;
            // a response ends at the first final frame after where it starts (an interrupt or the end)
            if (isFinal(f.frame) && !(throughInterrupts && f.frame.choices[0]?.finish_reason === "interrupt")) {
              sub.closed = true;
              controller.close();
              return;
            }
          }
          if (batch.length < 500) break;
        }
        const status = this.#store.status();
        if (status !== "running") {
          sub.closed = true;
          controller.close();
          return;
        }
        this.#subscribers.add(sub);
      },
      cancel: () => {
        if (sub) {
          sub.closed = true;
          this.#subscribers.delete(sub);
        }
      },
    });
  }

  #closeSubscribers(): void {
    for (const s of this.#subscribers) {
      if (s.closed) continue;
      s.closed = true;
      try {
        s.controller.close();
      } catch {
        // already closed by the consumer
      }
    }
    this.#subscribers.clear();
  }
}

/**
 * A storage failure (SQLITE_TOOBIG, SQLITE_FULL…) as clients see it: a coded, generic message. The storage's own
 * text names its internals; it goes to the log only.
 */
function storageError(e: unknown, eventId: string | undefined): ErrorData {
  console.log(`[run ${eventId ?? "?"}] storage failed: ${e instanceof Error ? e.message : String(e)}`);
  return WorkflowError.of(Codes.ENG_RUN_ERROR, "run storage failed").toData();
}

function isFinal(frame: Frame): boolean {
  const reason = frame.choices[0]?.finish_reason;
  if (reason === "interrupt") return true;
  const node = frame.workflow_step?.node?.id;
  return reason === "stop" && (node === undefined || node === "flow_obj");
}

/**
 * What the start methods take: the request and the compiled plan as its JSON text (one string crosses RPC for less
 * than the plan's object graph, and the object stores it as it came).
 */
export interface StartInput {
  request: RunRequest;
  plan: string;
}

/** The plan of a run that is still going (only a run that ended in its first turn is stored without one). */
function storedPlan(row: RunRow): Plan {
  if (!row.plan) throw WorkflowError.of(Codes.ENG_RUN_ERROR, `run ${row.request.eventId} has no stored plan`);
  return row.plan;
}
