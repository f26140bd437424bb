// Frame builders (spec §2.2, §2.3). Objects are created in wire order so JSON.stringify reproduces the original's
// field order. Debug form: seq is 0; progress is raw.
import type { ErrorData } from "./errors.ts";
import type { EventData, Frame, FrameNode, Usage } from "./types.ts";

export function zeroUsage(): Usage {
  return { completion_tokens: 0, prompt_tokens: 0, total_tokens: 0 };
}

export function addUsage(a: Usage, b: Usage): Usage {
  return {
    completion_tokens: a.completion_tokens + b.completion_tokens,
    prompt_tokens: a.prompt_tokens + b.prompt_tokens,
    total_tokens: a.total_tokens + b.total_tokens,
  };
}

/** ms → seconds rounded to 3 decimals */
export function executedTime(ms: number): number {
  return Math.round(ms) / 1000;
}

function delta(content: string, reasoning: string): Frame["choices"][number]["delta"] {
  return { role: "assistant", content, reasoning_content: reasoning };
}

function flowNode(): FrameNode {
  return {
    id: "flow_obj",
    alias_name: "",
    finish_reason: "stop",
    inputs: {},
    outputs: {},
    error_outputs: {},
    executed_time: 0,
    usage: zeroUsage(),
  };
}

export function workflowStartFrame(sid: string, created: number): Frame {
  return {
    code: 0,
    message: "Success",
    id: sid,
    created,
    workflow_step: { node: flowNode(), seq: 0, progress: 0 },
    choices: [{ delta: delta("", ""), index: 0 }],
  };
}

export function nodeStartFrame(
  sid: string,
  created: number,
  node: { id: string; alias: string },
  progress: number,
): Frame {
  return {
    code: 0,
    message: "Success",
    id: sid,
    created,
    workflow_step: {
      node: { id: node.id, alias_name: node.alias, inputs: {}, outputs: {}, error_outputs: {}, executed_time: 0 },
      seq: 0,
      progress,
    },
    choices: [{ delta: delta("", ""), index: 0 }],
  };
}

export function nodeProcessFrame(
  sid: string,
  created: number,
  node: { id: string; alias: string },
  progress: number,
  executedTimeS: number,
  content: string,
  reasoning: string,
  ext?: Record<string, unknown>,
): Frame {
  const n: FrameNode = {
    id: node.id,
    alias_name: node.alias,
    inputs: {},
    outputs: {},
    error_outputs: {},
    executed_time: executedTimeS,
  };
  if (ext) {
    // keep wire order: ext comes before executed_time
    delete (n as Partial<FrameNode>).executed_time;
    n.ext = ext;
    n.executed_time = executedTimeS;
  }
  return {
    code: 0,
    message: "Success",
    id: sid,
    created,
    workflow_step: { node: n, seq: 0, progress },
    choices: [{ delta: delta(content, reasoning), index: 0 }],
  };
}

export interface NodeEndParams {
  id: string;
  alias: string;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
  errorOutputs: Record<string, unknown>;
  ext: Record<string, unknown>;
  executedTime: number;
  usage?: Usage;
  progress: number;
  content: string;
  reasoning: string;
}

export function nodeEndFrame(sid: string, created: number, p: NodeEndParams): Frame {
  const node: FrameNode = {
    id: p.id,
    alias_name: p.alias,
    finish_reason: "stop",
    inputs: p.inputs,
    outputs: p.outputs,
    error_outputs: p.errorOutputs,
    ext: p.ext,
    executed_time: p.executedTime,
  };
  if (p.usage) node.usage = p.usage;
  // spec §2.3: node-end frames have no `index` in their choice
  return {
    code: 0,
    message: "Success",
    id: sid,
    created,
    workflow_step: { node, seq: 0, progress: p.progress },
    choices: [{ delta: delta(p.content, p.reasoning) }],
  };
}

export function nodeErrorFrame(
  sid: string,
  created: number,
  p: {
    id: string;
    alias: string;
    error: ErrorData;
    inputs: Record<string, unknown>;
    executedTime: number;
    progress: number;
    zeroUsage: boolean;
  },
): Frame {
  const node: FrameNode = {
    id: p.id,
    alias_name: p.alias,
    finish_reason: "stop",
    inputs: p.inputs,
    outputs: {},
    error_outputs: {},
    ext: {},
    executed_time: p.executedTime,
  };
  if (p.zeroUsage) node.usage = zeroUsage();
  return {
    code: p.error.code,
    message: p.error.message,
    id: sid,
    created,
    workflow_step: { node, seq: 0, progress: p.progress },
    choices: [{ delta: delta("", "") }],
  };
}

export function interruptFrame(
  sid: string,
  created: number,
  p: { id: string; alias: string; executedTime: number; progress: number; eventData: EventData },
): Frame {
  return {
    code: 0,
    message: "Success",
    id: sid,
    created,
    workflow_step: {
      node: {
        id: p.id,
        alias_name: p.alias,
        finish_reason: "interrupt",
        inputs: {},
        outputs: {},
        error_outputs: {},
        executed_time: p.executedTime,
      },
      seq: 0,
      progress: p.progress,
    },
    choices: [{ delta: delta("", ""), index: 0, finish_reason: "interrupt" }],
    event_data: p.eventData,
  };
}

export function workflowEndFrame(sid: string, created: number, usage: Usage, error?: ErrorData): Frame {
  return {
    code: error?.code ?? 0,
    message: error?.message ?? "Success",
    id: sid,
    created,
    workflow_step: { node: flowNode(), seq: 0, progress: 1 },
    choices: [{ delta: delta("", ""), index: 0, finish_reason: "stop" }],
    usage,
  };
}

export function workflowErrorEndFrame(sid: string, created: number, error: ErrorData): Frame {
  return {
    code: error.code,
    message: error.message,
    id: sid,
    created,
    workflow_step: { seq: 0, progress: 1 },
    choices: [{ delta: delta("", ""), index: 0, finish_reason: "stop" }],
    usage: zeroUsage(),
  };
}

export function openErrorEndFrame(sid: string, created: number, error: ErrorData): Frame {
  return {
    code: error.code,
    message: error.message,
    id: sid,
    created,
    choices: [{ delta: delta("", ""), index: 0, finish_reason: "stop" }],
    usage: zeroUsage(),
  };
}
