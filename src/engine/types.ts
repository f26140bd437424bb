// Shared engine types: the compiled plan, frames (spec §2, debug form) and run options.
// Plans and frames are plain JSON data: they cross Durable Object RPC, go into storage and into caches.

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export type ValueType = "string" | "boolean" | "integer" | "number" | "array" | "object";

/** A JSON-schema subset (draft-07 keywords the DSL uses). Unknown keys are kept but unused. */
export interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  required?: string[];
  default?: unknown;
  description?: string;
  [key: string]: unknown;
}

/** A declared output of a node (spec §4.4), normalised. */
export interface OutputSpec {
  name: string;
  schema: JsonSchema;
  required: boolean;
  /** start node only */
  fileType?: string;
  allowedFileType?: string[];
}

/** A node input (spec §4.3), normalised: literals already coerced to their declared type at compile time. */
export type InputSpec =
  | { id?: string; name: string; type: string; schema: JsonSchema; kind: "literal"; value: unknown }
  | { id?: string; name: string; type: string; schema: JsonSchema; kind: "ref"; nodeId: string; path: string };

export interface RetryPolicy {
  /** seconds, per attempt */
  timeout: number;
  shouldRetry: boolean;
  maxRetries: number;
  /** 0 interrupt the run, 1 custom output, 2 fail branch (spec §6.7) */
  errorStrategy: 0 | 1 | 2;
  /** outputs used by strategy 1, with defaults filled at compile time */
  customOutput: Record<string, unknown>;
}

export interface Usage {
  completion_tokens: number;
  prompt_tokens: number;
  total_tokens: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Frames (spec §2.2). Field order matters: builders create objects in the wire order.

export interface FrameNode {
  id: string;
  alias_name: string;
  finish_reason?: "stop" | "interrupt";
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
  error_outputs: Record<string, unknown>;
  ext?: Record<string, unknown>;
  executed_time: number;
  usage?: Usage;
}

export interface FrameChoice {
  delta: { role: "assistant"; content: string; reasoning_content: string };
  index?: number;
  finish_reason?: "stop" | "interrupt";
}

export interface InterruptOption {
  id: string;
  text: string;
  content_type: string;
}

export interface EventData {
  event_id: string;
  event_type: "interrupt";
  need_reply: boolean;
  value: { type: "direct" | "option"; content: string; option?: InterruptOption[] };
}

export interface Frame {
  code: number;
  message: string;
  id: string;
  created: number;
  workflow_step?: { node?: FrameNode; seq: number; progress: number };
  choices: FrameChoice[];
  usage?: Usage;
  event_data?: EventData;
}
