// The core-format DSL of spec §4, as zod schemas. Unknown properties are ignored (stripped); wrong shapes are
// rejected with a message that names the node (or edge) and the field.
import * as z from "zod";
import { Codes } from "./codes.ts";
import { WorkflowError } from "./errors.ts";
import { clipText } from "./preview.ts";

const VALUE_TYPES = ["string", "boolean", "integer", "number", "array", "object"] as const;

const RefValue = z.object({
  type: z.literal("ref"),
  content: z.object({ nodeId: z.string().optional(), name: z.string().optional() }).loose(),
});
const LiteralValue = z.object({ type: z.literal("literal"), content: z.unknown() });

const InputSchema = z
  .object({
    type: z.enum(VALUE_TYPES),
    value: z.discriminatedUnion("type", [RefValue, LiteralValue]),
  })
  .loose();

export const InputItem = z.object({
  id: z.string().optional(),
  name: z.string().min(1),
  schema: InputSchema,
});

const OutputSchema = z.object({ type: z.enum(VALUE_TYPES) }).loose();

export const OutputItem = z.object({
  id: z.string().optional(),
  name: z.string().min(1),
  schema: OutputSchema,
  required: z.boolean().optional(),
  fileType: z.string().nullable().optional(),
  allowedFileType: z.array(z.string()).nullable().optional(),
});

const num = z.union([
  z.number(),
  z
    .string()
    .regex(/^\s*-?\d+(\.\d+)?\s*$/)
    .transform(Number),
]);

/**
 * retryConfig in both spellings (spec §4.6 [new]): camelCase from the console, snake_case from the original
 * engine's model. camelCase wins when both are present.
 */
export const RetryConfig = z
  .object({
    timeout: num.optional(),
    shouldRetry: z.boolean().optional(),
    should_retry: z.boolean().optional(),
    maxRetries: num.optional(),
    max_retries: num.optional(),
    errorStrategy: num.optional(),
    error_strategy: num.optional(),
    customOutput: z
      .union([z.record(z.string(), z.unknown()), z.string()])
      .nullable()
      .optional(),
    custom_output: z
      .union([z.record(z.string(), z.unknown()), z.string()])
      .nullable()
      .optional(),
  })
  .loose();

export const NodeShape = z.object({
  id: z.string().regex(/^.*::[0-9a-zA-Z-]+/, "node id must look like <type>::<id>"),
  data: z.object({
    nodeMeta: z.object({ nodeType: z.string(), aliasName: z.string() }).loose(),
    inputs: z.array(InputItem).default([]),
    outputs: z.array(OutputItem).default([]),
    nodeParam: z.record(z.string(), z.unknown()).nullable().default({}),
    retryConfig: RetryConfig.nullable().optional(),
  }),
});

export const EdgeShape = z.object({
  sourceNodeId: z.string().min(1),
  targetNodeId: z.string().min(1),
  // The original rejects JSON null here (spec §4.5): omit instead.
  sourceHandle: z.string().optional(),
  targetHandle: z.string().nullable().optional(),
});

export type DslInput = z.infer<typeof InputItem>;
export type DslOutput = z.infer<typeof OutputItem>;
export type DslNode = z.infer<typeof NodeShape>;
export type DslEdge = z.infer<typeof EdgeShape>;
export type DslRetry = z.infer<typeof RetryConfig>;

export interface DslGraph {
  nodes: DslNode[];
  edges: DslEdge[];
}

/** Node type = the text before the first ':' of its id (spec §4.2). */
export function nodeTypeOf(id: string): string {
  const i = id.indexOf(":");
  return i < 0 ? id : id.slice(0, i);
}

/**
 * JSON that does not match the node or edge shapes (spec §4.10). It keeps the engine's code (22101 node, 22100
 * edge); the routes that answer such a DSL with their own code (20102 add, 20104 update, 20101 build, 20100 runs)
 * recognise it by its class and reuse `detail`, the validator's text.
 */
export class DslShapeError extends WorkflowError {
  readonly detail: string;

  constructor(code: number, detail: string) {
    super(code, WorkflowError.of(code, detail).message);
    this.detail = detail;
  }
}

function describeIssues(error: z.ZodError, prefix: string): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => {
      const path = issue.path.length ? `${prefix}.${clipText(issue.path.join("."))}` : prefix;
      return `${path}: ${issue.message}`;
    })
    .join("; ");
}

/**
 * Parses a flow: the envelope `{data: {nodes, edges}}` (spec §4.1) or the bare `{nodes, edges}`.
 * Errors: no node list → 22100; a bad node → 22101 naming the node and field; a bad edge → 22100 naming the edge.
 */
export function parseDsl(input: unknown): DslGraph {
  const graph = unwrap(input);
  if (!graph || !Array.isArray(graph.nodes)) {
    throw WorkflowError.of(Codes.ENG_PROTOCOL_VALIDATE_ERROR, "the flow has no node list (data.nodes)");
  }
  const nodes: DslNode[] = new Array(graph.nodes.length);
  for (let i = 0; i < graph.nodes.length; i++) {
    const raw: unknown = graph.nodes[i];
    const parsed = NodeShape.safeParse(raw);
    if (!parsed.success) {
      const id = isRecord(raw) && typeof raw.id === "string" ? clipText(raw.id) : `#${i}`;
      throw new DslShapeError(
        Codes.ENG_NODE_PROTOCOL_VALIDATE_ERROR,
        `node ${id}: ${describeIssues(parsed.error, "node")}`,
      );
    }
    nodes[i] = parsed.data;
  }
  const rawEdges: unknown = graph.edges ?? [];
  if (!Array.isArray(rawEdges)) {
    throw new DslShapeError(Codes.ENG_PROTOCOL_VALIDATE_ERROR, "data.edges must be a list");
  }
  const edges: DslEdge[] = new Array(rawEdges.length);
  for (let i = 0; i < rawEdges.length; i++) {
    const parsed = EdgeShape.safeParse(rawEdges[i]);
    if (!parsed.success) {
      throw new DslShapeError(Codes.ENG_PROTOCOL_VALIDATE_ERROR, `edge #${i}: ${describeIssues(parsed.error, "edge")}`);
    }
    edges[i] = parsed.data;
  }
  return { nodes, edges };
}

function unwrap(input: unknown): { nodes?: unknown; edges?: unknown } | undefined {
  if (!isRecord(input)) return undefined;
  if (Array.isArray(input.nodes)) return input;
  const data = input.data;
  if (isRecord(data)) {
    if (Array.isArray(data.nodes)) return data;
    // a flow row or an envelope whose data is itself an envelope
    if (isRecord(data.data) && Array.isArray(data.data.nodes)) return data.data;
  }
  return undefined;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
