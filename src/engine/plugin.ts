import type { z } from "zod";
import type { ActiveSpan } from "./trace.ts";
import type { EventData, OutputSpec, Usage } from "./types.ts";

/** Injected time source (STYLE §7): tests control it. */
export interface Clock {
  /** milliseconds since the epoch */
  now(): number;
  /** resolves after `ms` unless the signal aborts first (then rejects with the signal's reason) */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface GuardedFetchInit extends RequestInit {
  /** total time allowed for the response headers and body, in ms */
  timeoutMs?: number;
  /** largest response body accepted, in bytes */
  maxBytes?: number;
}

/** Outbound HTTP for plugins: timeout, size cap and private-address guard (ARCHITECTURE decision 9). */
export type GuardedFetch = (input: string | URL, init?: GuardedFetchInit) => Promise<Response>;

/** Key-value port of the `node-variable` node (spec §5.19): a hash per key. Values are JSON. */
export interface KeyValuePort {
  hgetall(key: string): Promise<Record<string, unknown>>;
  hset(key: string, fields: Record<string, unknown>): Promise<void>;
}

/** Which database a `database` node addresses (spec §5.16); the port maps it to a connection it owns. */
export interface SqlTarget {
  dbId: string;
  appId: string;
  /** "prod" for open (release) runs, "test" for debug runs */
  env: "test" | "prod";
  spaceId?: string;
  /** the request's user (the node's own `uid` is replaced by it, spec §5.16): the port hands it to the database */
  uid: string;
}

export interface SqlLimits {
  timeoutMs: number;
  /** rows beyond this are not returned (the result says it was truncated) */
  maxRows: number;
  signal: AbortSignal;
}

/** Parameterised SQL for the `database` node: statement text with $1…$n and its values, never concatenated. */
export interface SqlPort {
  query(
    target: SqlTarget,
    text: string,
    params: readonly unknown[],
    limits: SqlLimits,
  ): Promise<{ rows: Record<string, unknown>[]; truncated: boolean }>;
}

export interface SandboxLimits {
  timeoutMs: number;
  memoryBytes: number;
  signal: AbortSignal;
}

/** The JavaScript sandbox of the `ifly-code` node: no network, no bindings, bounded time and memory. */
export interface CodeSandbox {
  /**
   * calls `main(args)` of `code`; resolves with its JSON-able result and what it logged; rejects with a WorkflowError
   * (21601 no main, 21603 time limit, 21600 anything else) or with the signal's reason
   */
  runJs(code: string, args: Record<string, unknown>, limits: SandboxLimits): Promise<{ value: unknown; logs: string }>;
}

export interface HistoryItem {
  role: "user" | "assistant";
  content: string;
  content_type?: "text" | "image" | "audio";
}

/** What a run knows about its request (spec §1.5.1, §6.2). */
export interface RunInfo {
  sid: string;
  eventId: string;
  flowId: string;
  appId: string;
  uid: string;
  chatId: string;
  isRelease: boolean;
  history: HistoryItem[];
}

/** An answer to an interrupt (spec §1.5.3), handed back to the pausing plugin. */
export interface ResumeAnswer {
  eventType: "resume" | "ignore" | "abort" | string;
  content: string;
  /** the state the plugin returned with its interrupt */
  state: unknown;
  /** how many answers this node received so far in this wait (1 for the first) */
  attempt: number;
}

/** Result of running an inner graph (iteration, spec §5.18). */
export interface SubgraphResult {
  outputs: Record<string, unknown>;
  usage: Usage;
}

export interface NodeContext {
  readonly nodeId: string;
  readonly type: string;
  readonly alias: string;
  /** resolved input values, keyed by input name */
  readonly inputs: Record<string, unknown>;
  /** ids of the inputs that have one, with their names (if-else conditions reference inputs by id) */
  readonly inputIds: readonly { id: string; name: string }[];
  /** declared outputs */
  readonly outputs: readonly OutputSpec[];
  readonly run: RunInfo;
  /** start node only: the request's `parameters` */
  readonly parameters: Record<string, unknown>;
  readonly signal: AbortSignal;
  /** per-read timeout for streaming providers, ms: retryConfig.timeout when retries are on, else 0 (spec §6.11) */
  readonly readTimeoutMs: number;
  /** retryConfig.timeout of the node in ms whether or not retries are on (0 when none): a bound the node passes on (code executor) */
  readonly nodeTimeoutMs: number;
  readonly clock: Clock;
  readonly fetch: GuardedFetch;
  /** opens an outbound WebSocket (Spark), through the same private-address guard as `fetch` */
  readonly openSocket: (url: string) => WebSocket;
  readonly kv: KeyValuePort;
  /** database port (absent when the deployment configured none: the node fails with a clear code) */
  readonly sql?: SqlPort;
  /** JavaScript sandbox for the code node (absent when the platform provides none) */
  readonly sandbox?: CodeSandbox;
  /** deployment configuration: service URLs and limits of spec §12.2 (never secrets of other nodes) */
  readonly config: Readonly<Record<string, string | undefined>>;
  /** present when the node is resumed after an interrupt */
  readonly resume?: ResumeAnswer;
  /** renders a template against this node's inputs (spec §4.7) */
  render(template: string, mode?: "json" | "prompt"): string;
  /** runs the inner graph that begins at `startNodeId` with the given start outputs (iteration) */
  runSubgraph(startNodeId: string, startOutputs: Record<string, unknown>): Promise<SubgraphResult>;
  /** diagnostic log line; never put secrets here */
  log(message: string): void;
  /**
   * issue 17: the span of this node attempt when the run is traced (absent otherwise). `fetch` above already makes
   * every call a client span of it; a plugin adds attributes or a child span (a model call, GenAI conventions)
   */
  readonly trace?: ActiveSpan;
}

/** Events a plugin yields while it runs (STYLE §11); the engine turns them into frames. */
export type NodeEvent = { type: "chunk"; content: string; reasoning?: string } | { type: "reasoning"; content: string };

export interface InterruptRequest {
  value: EventData["value"];
  needReply: boolean;
  /** plugin state handed back in `ctx.resume.state`; must be JSON */
  state: unknown;
  /** how long to wait for the answer, ms */
  timeoutMs: number;
}

export interface NodeResult {
  outputs?: Record<string, unknown>;
  /** branch handle chosen by a branch node (spec §6.4), without any `intent_chain|` prefix */
  branch?: string;
  /** the handle to follow when no edge carries `branch` (decision nodes: the default intent, spec §6.3) */
  fallbackBranch?: string;
  usage?: Usage;
  rawOutput?: string;
  /** what the node's end frame shows under `inputs` when it differs from the resolved inputs (start node) */
  shownInputs?: Record<string, unknown>;
  ext?: Record<string, unknown>;
  /** the node pauses for a human answer (question-answer, spec §5.17) */
  interrupt?: InterruptRequest;
}

export type RunOutput = NodeResult | Promise<NodeResult> | AsyncGenerator<NodeEvent, NodeResult, undefined>;

/** How an output node (message / node-end) renders its answer (spec §5.4, §5.5, §6.6). */
export interface AnswerSpec {
  /** 0 variable mode (answer = compact JSON of inputs), 1 prompt mode */
  mode: 0 | 1;
  template: string;
  reasoningTemplate: string;
  streamOutput: boolean;
  /** message nodes end silently when skipped; the end node completes the run */
  isEnd: boolean;
}

export interface BuildNode {
  id: string;
  type: string;
  inputs: readonly { id?: string; name: string }[];
  outputs: readonly OutputSpec[];
}

export interface Plugin<P = unknown> {
  type: string;
  /** zod schema of `nodeParam`; unknown keys are stripped, bad shapes are 22101 */
  params: z.ZodType<P>;
  /** stream source: may yield tokens into output nodes (spec §5 table) */
  streams?: boolean | ((params: P) => boolean);
  /** outputs of a stream source that do not stream: output nodes referencing them (or a path under them) wait for the value */
  quietOutputs?: readonly string[];
  /** honours retryConfig retries and strategies (spec §6.7) */
  retryable?: boolean;
  /** safe to run again after an eviction that interrupted it (ARCHITECTURE decision 2) */
  idempotent?: boolean;
  /** branch node: its result must carry a handle (spec §6.4) */
  branches?: boolean | ((params: P) => boolean);
  /**
   * branch node: every handle it can choose and the nodeParam field they come from; compile refuses an edge that
   * carries any other handle (spec §4.10), which could never be taken
   */
  handles?: (params: P) => { field: string; ids: readonly string[] };
  /** output node: the engine renders and streams its answer */
  answer?: (params: P) => AnswerSpec;
  /** the code non-coded exceptions of this node type become (spec §6.7); default 22302 */
  errorCode?: number;
  /** extra build-time checks that need the node's inputs/outputs; throw WorkflowError (22101) */
  check?: (params: P, node: BuildNode) => void;
  /** node ids this node owns as an inner graph (iteration start node) */
  innerStart?: (params: P) => string | undefined;
  run(ctx: NodeContext, params: P): RunOutput;
}

export function definePlugin<P>(plugin: Plugin<P>): Plugin<P> {
  return plugin;
}
