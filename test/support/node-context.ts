// A NodeContext for plugin tests (STYLE §12): inputs, declared outputs, parameters, a fake clock, an in-memory
// key-value port and the real template renderer. `runPlugin` parses a nodeParam with the plugin's schema, runs it
// and collects what it yields (STYLE §11), so a test checks the yields and the returned NodeResult.
import type {
  Clock,
  GuardedFetch,
  KeyValuePort,
  NodeContext,
  NodeEvent,
  NodeResult,
  Plugin,
  ResumeAnswer,
  RunInfo,
  RunOutput,
  SubgraphResult,
} from "../../src/engine/plugin.ts";
import { renderTemplate } from "../../src/engine/template.ts";
import type { JsonSchema, OutputSpec } from "../../src/engine/types.ts";
import { FakeClock } from "./fake-clock.ts";

/** The key-value port in memory: one hash per key, values kept as JSON (copied in and out). */
export class MemoryKv implements KeyValuePort {
  readonly hashes = new Map<string, Record<string, unknown>>();

  async hgetall(key: string): Promise<Record<string, unknown>> {
    return structuredClone(this.hashes.get(key) ?? {});
  }

  async hset(key: string, fields: Record<string, unknown>): Promise<void> {
    this.hashes.set(key, { ...(this.hashes.get(key) ?? {}), ...structuredClone(fields) });
  }
}

/** A declared output in short: a name, or a name with a type (default "string"), default, required flag and schema keys. */
export type OutputShape =
  string | { name: string; type?: string; default?: unknown; required?: boolean; schema?: JsonSchema };

export function outputSpec(shape: OutputShape): OutputSpec {
  if (typeof shape === "string") return { name: shape, schema: { type: "string" }, required: false };
  const schema: JsonSchema = { type: shape.type ?? "string", ...(shape.schema ?? {}) };
  if (shape.default !== undefined) schema.default = shape.default;
  return { name: shape.name, schema, required: shape.required ?? false };
}

export interface NodeContextInit {
  nodeId?: string;
  type?: string;
  alias?: string;
  /** resolved input values, in declaration order */
  inputs?: Record<string, unknown>;
  /** ids of the inputs (if-else conditions reference them) */
  inputIds?: { id: string; name: string }[];
  outputs?: OutputShape[];
  /** the request's parameters (start nodes) */
  parameters?: Record<string, unknown>;
  run?: Partial<RunInfo>;
  kv?: KeyValuePort;
  clock?: Clock;
  config?: Record<string, string | undefined>;
  fetch?: GuardedFetch;
  openSocket?: (url: string) => WebSocket;
  signal?: AbortSignal;
  resume?: ResumeAnswer;
  runSubgraph?: (startNodeId: string, startOutputs: Record<string, unknown>) => Promise<SubgraphResult>;
}

export interface TestNodeContext extends NodeContext {
  /** the lines the plugin logged */
  readonly logs: string[];
}

export function testRunInfo(over: Partial<RunInfo> = {}): RunInfo {
  return {
    sid: "spf-test",
    eventId: "ev-1",
    flowId: "f1",
    appId: "app1",
    uid: "u1",
    chatId: "",
    isRelease: false,
    history: [],
    ...over,
  };
}

function unavailable(what: string): never {
  throw new Error(`${what} is not available in this test`);
}

export function nodeContext(init: NodeContextInit = {}): TestNodeContext {
  const type = init.type ?? init.nodeId?.split(":")[0] ?? "test-node";
  const inputs = init.inputs ?? {};
  const logs: string[] = [];
  return {
    nodeId: init.nodeId ?? `${type}::test`,
    type,
    alias: init.alias ?? type,
    inputs,
    inputIds: init.inputIds ?? [],
    outputs: (init.outputs ?? []).map(outputSpec),
    run: testRunInfo(init.run),
    parameters: init.parameters ?? {},
    signal: init.signal ?? new AbortController().signal,
    readTimeoutMs: 0,
    nodeTimeoutMs: 60_000,
    clock: init.clock ?? new FakeClock(),
    fetch: init.fetch ?? (() => unavailable("fetch")),
    openSocket: init.openSocket ?? (() => unavailable("openSocket")),
    kv: init.kv ?? new MemoryKv(),
    config: init.config ?? {},
    ...(init.resume ? { resume: init.resume } : {}),
    render: (template, mode = "json") => renderTemplate(template, inputs, mode),
    runSubgraph: init.runSubgraph ?? (() => unavailable("runSubgraph")),
    log: (line) => void logs.push(line),
    logs,
  };
}

function isGenerator(out: RunOutput): out is AsyncGenerator<NodeEvent, NodeResult, undefined> {
  return typeof out === "object" && out !== null && Symbol.asyncIterator in out;
}

/** Drains a plugin's run output: the events it yields and the result it returns. */
export async function settleRun(out: RunOutput): Promise<{ result: NodeResult; events: NodeEvent[] }> {
  const events: NodeEvent[] = [];
  if (!isGenerator(out)) return { result: await out, events };
  for (;;) {
    const step = await out.next();
    if (step.done) return { result: step.value, events };
    events.push(step.value);
  }
}

/**
 * Parses `nodeParam` with the plugin's schema (throws when it does not parse) and runs the plugin on a context
 * built from `init` (or on a given context).
 */
export async function runPlugin<P>(
  plugin: Plugin<P>,
  nodeParam: unknown,
  init: NodeContextInit | TestNodeContext = {},
): Promise<{ result: NodeResult; events: NodeEvent[]; ctx: TestNodeContext }> {
  const params = plugin.params.parse(nodeParam);
  const ctx = "logs" in init ? init : nodeContext({ type: plugin.type, ...init });
  const { result, events } = await settleRun(plugin.run(ctx, params));
  return { result, events, ctx };
}

/** Runs a plugin expecting a failure; returns what it threw (fails the test when it succeeds). */
export async function runPluginError<P>(
  plugin: Plugin<P>,
  nodeParam: unknown,
  init: NodeContextInit = {},
): Promise<{ code?: number; message: string }> {
  try {
    await runPlugin(plugin, nodeParam, init);
  } catch (e) {
    const code =
      typeof e === "object" && e !== null && typeof (e as { code?: unknown }).code === "number"
        ? (e as { code: number }).code
        : undefined;
    return { ...(code === undefined ? {} : { code }), message: e instanceof Error ? e.message : String(e) };
  }
  throw new Error(`${plugin.type} succeeded where a failure was expected`);
}
