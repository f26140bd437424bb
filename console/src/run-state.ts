// A run as the console shows it, folded from its frames (docs/frames.md): each node's state, inputs, outputs,
// error and usage, the answer text as it streams, progress, a pending question and the final outcome.
import type { Frame, Interrupt, Usage } from "./api.ts";

export type NodeStatus = "pending" | "running" | "done" | "failed" | "waiting" | "skipped" | "cancelled";

export interface NodeRun {
  status: NodeStatus;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
  errorOutputs?: Record<string, unknown>;
  error?: { code: number; message: string };
  usage?: Usage;
  executedTime?: number;
  raw?: unknown;
}

export interface RunState {
  nodes: Record<string, NodeRun>;
  answer: string;
  reasoning: string;
  progress: number;
  /** the question of a question-answer node, while the run waits for the answer */
  interrupt: Interrupt | null;
  /** set once the final frame arrived */
  ended: { code: number; message: string; usage?: Usage } | null;
  /** frames seen (their `id:` when the runs API numbered them) */
  frames: number;
  seqs: number[];
}

export function emptyRun(): RunState {
  return { nodes: {}, answer: "", reasoning: "", progress: 0, interrupt: null, ended: null, frames: 0, seqs: [] };
}

/** The next state after one frame (a new object: the views re-render). */
export function applyFrame(prev: RunState, frame: Frame, seq: number | null = null): RunState {
  const s: RunState = { ...prev, nodes: { ...prev.nodes }, frames: prev.frames + 1 };
  if (seq !== null) s.seqs = [...prev.seqs, seq];
  const step = frame.workflow_step;
  if (step) s.progress = Math.max(s.progress, step.progress ?? 0);
  const node = step?.node;
  const choice = frame.choices?.[0];
  if (node && node.id !== "flow_obj") {
    // a frame after a question: the run was answered and goes on
    if (prev.interrupt) s.interrupt = null;
    const n: NodeRun = { ...(s.nodes[node.id] ?? { status: "pending" }) };
    const content = choice?.delta?.content ?? "";
    const reasoning = choice?.delta?.reasoning_content ?? "";
    s.answer += content;
    s.reasoning += reasoning;
    if (node.finish_reason === "interrupt") {
      n.status = "waiting";
    } else if (node.finish_reason === "stop") {
      const failed = frame.code !== 0;
      const errorOutputs =
        node.error_outputs && Object.keys(node.error_outputs).length ? node.error_outputs : undefined;
      n.status = failed ? "failed" : "done";
      if (failed) n.error = { code: frame.code, message: frame.message };
      else if (errorOutputs) {
        // an error strategy let it continue: still a failure to show, with the code it carried
        n.status = "failed";
        n.error = { code: Number(errorOutputs.errorCode ?? 0), message: String(errorOutputs.errorMessage ?? "") };
      }
      n.inputs = node.inputs;
      n.outputs = node.outputs;
      n.errorOutputs = errorOutputs;
      n.usage = node.usage;
      n.executedTime = node.executed_time;
      n.raw = node.ext?.raw_output;
    } else if (n.status === "pending" || n.status === "waiting") {
      n.status = "running";
    }
    s.nodes[node.id] = n;
  }
  if (choice?.finish_reason === "interrupt" && frame.event_data) s.interrupt = frame.event_data;
  if (choice?.finish_reason === "stop") {
    s.ended = { code: frame.code, message: frame.message, usage: frame.usage };
    s.interrupt = null;
    s.progress = 1;
  }
  return s;
}

/** What to show for a node: after the run ended, a node that sent no frame was skipped (or never reached). */
export function statusOf(run: RunState, nodeId: string): NodeStatus {
  const n = run.nodes[nodeId];
  if (!run.ended) return n?.status ?? "pending";
  if (!n) return run.ended.code === 0 ? "skipped" : "pending";
  if (n.status === "running" || n.status === "waiting") return run.ended.code === 0 ? "done" : "cancelled";
  return n.status;
}

export const STATUS_TEXT: Record<NodeStatus, { icon: string; text: string }> = {
  pending: { icon: "○", text: "pending" },
  running: { icon: "◔", text: "running" },
  done: { icon: "✓", text: "done" },
  failed: { icon: "✕", text: "failed" },
  waiting: { icon: "?", text: "waiting for an answer" },
  skipped: { icon: "–", text: "skipped" },
  cancelled: { icon: "⊘", text: "cancelled" },
};
