// Node debug (spec §1.5.11): one node built and run in isolation — no edges, no retries, a pool that only knows
// this node, streams discarded. Refs to other nodes cannot be resolved and fail the node.
import { Codes } from "./codes.ts";
import { buildNode } from "./compile.ts";
import { createSocketOpener } from "./net.ts";
import { nodeTypeOf, parseDsl } from "./dsl.ts";
import { toWorkflowError, WorkflowError } from "./errors.ts";
import { nodeTimeoutMs } from "./limits.ts";
import type {
  Clock,
  CodeSandbox,
  GuardedFetch,
  KeyValuePort,
  SqlPort,
  NodeContext,
  NodeEvent,
  NodeResult,
  RunInfo,
} from "./plugin.ts";
import type { Registry } from "./registry.ts";
import { validateOutputs } from "./schema.ts";
import { renderTemplate } from "./template.ts";
import type { Usage } from "./types.ts";

export interface NodeDebugResult {
  node_id: string;
  alias_name: string;
  node_type: string;
  input: string;
  raw_output: string;
  output: string;
  node_exec_cost: string;
  token_cost: Usage;
}

export interface NodeDebugOptions {
  registry: Registry;
  info: RunInfo;
  clock: Clock;
  fetch: GuardedFetch;
  kv: KeyValuePort;
  sql?: SqlPort;
  sandbox?: CodeSandbox;
  config: Readonly<Record<string, string | undefined>>;
}

export async function debugNode(dsl: unknown, opts: NodeDebugOptions): Promise<NodeDebugResult> {
  const graph = parseDsl(dsl);
  const raw = graph.nodes[0];
  if (!raw) throw WorkflowError.of(Codes.PROTOCOL_VALIDATION_ERROR, "no node to debug");
  const type = nodeTypeOf(raw.id);
  const plugin = opts.registry.get(type);
  const node = buildNode(raw, type, plugin);
  const inputs: Record<string, unknown> = {};
  for (const input of node.inputs) {
    if (input.kind === "literal") inputs[input.name] = input.value;
    else
      throw WorkflowError.of(
        Codes.VARIABLE_POOL_GET_PARAMETER_ERROR,
        `Node ${input.nodeId} does not have value ${input.path}`,
      );
  }
  const t0 = opts.clock.now();
  const controller = new AbortController();
  const ctx: NodeContext = {
    nodeId: node.id,
    type,
    alias: node.alias,
    inputs,
    inputIds: node.inputs.flatMap((x) => (x.id === undefined ? [] : [{ id: x.id, name: x.name }])),
    outputs: node.outputs,
    run: opts.info,
    parameters: type === "node-start" ? inputs : {},
    signal: controller.signal,
    readTimeoutMs: 0,
    nodeTimeoutMs: nodeTimeoutMs(node.retry, opts.config),
    clock: opts.clock,
    fetch: opts.fetch,
    openSocket: createSocketOpener({ errorCode: Codes.SPARK_REQUEST_ERROR }),
    kv: opts.kv,
    ...(opts.sql ? { sql: opts.sql } : {}),
    ...(opts.sandbox ? { sandbox: opts.sandbox } : {}),
    config: opts.config,
    render: (template, mode = "json") => renderTemplate(template, inputs, mode),
    runSubgraph: () =>
      Promise.reject(WorkflowError.of(Codes.NODE_DEBUG_ERROR, "an iteration cannot be debugged alone")),
    log: () => undefined,
  };
  let result: NodeResult;
  try {
    const out = plugin.run(ctx, node.params);
    if (typeof out === "object" && out !== null && Symbol.asyncIterator in out) {
      const gen = out as AsyncGenerator<NodeEvent, NodeResult, undefined>;
      for (;;) {
        const step = await gen.next();
        if (step.done) {
          result = step.value;
          break;
        }
      }
    } else {
      result = await (out as Promise<NodeResult> | NodeResult);
    }
    if (result.outputs && node.outputs.length) validateOutputs(node.id, result.outputs, node.outputs);
  } catch (e) {
    throw toWorkflowError(e, node.errorCode);
  }
  const outputs = result.outputs ?? {};
  return {
    node_id: node.id,
    alias_name: node.alias,
    node_type: node.nodeType,
    input: JSON.stringify(inputs),
    raw_output: result.rawOutput ?? "",
    output: JSON.stringify(outputs),
    node_exec_cost: ((opts.clock.now() - t0) / 1000).toFixed(3),
    token_cost: result.usage ?? { completion_tokens: 0, prompt_tokens: 0, total_tokens: 0 },
  };
}
