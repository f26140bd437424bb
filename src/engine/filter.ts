// The open and debug output filters (spec §2.4, §2.7): pure, stateful per response.
import { Codes } from "./codes.ts";
import { openErrorEndFrame } from "./frames.ts";
import type { Frame } from "./types.ts";

export function nodeTypeOf(nodeId: string): string {
  const i = nodeId.indexOf(":");
  return i < 0 ? nodeId : nodeId.slice(0, i);
}

const OPEN_TYPES = new Set(["message", "node-end", "question-answer"]);
const ANSWER_TYPES = new Set(["message", "node-end"]);

/** The final frame of a response: the flow_obj stop frame, an error end (no node) or an interrupt. */
export function isFinalFrame(frame: Frame): boolean {
  const reason = frame.choices[0]?.finish_reason;
  if (reason === "interrupt") return true;
  if (reason !== "stop") return false;
  const id = frame.workflow_step?.node?.id;
  return id === undefined || id === "flow_obj";
}

/** spec §2.7, §6.11: no frame for 120 s. */
export function timeoutFrame(sid: string, created: number): Frame {
  return openErrorEndFrame(sid, created, {
    code: Codes.OPEN_API_STREAM_QUEUE_TIMEOUT_ERROR,
    message: "OpenAPI output timeout",
  });
}

function withChoice(frame: Frame, patch: (c: Frame["choices"][number]) => void): Frame {
  const copy: Frame = { ...frame, choices: frame.choices.map((c) => ({ ...c, delta: { ...c.delta } })) };
  const first = copy.choices[0];
  if (first) patch(first);
  return copy;
}

export class OpenFilter {
  readonly #stream: boolean;
  #seq = 0;
  #progress = 0;
  #content = "";
  #reasoning = "";
  #done = false;

  constructor(opts: { stream: boolean }) {
    this.#stream = opts.stream;
  }

  get done(): boolean {
    return this.#done;
  }

  push(frame: Frame): Frame[] {
    if (this.#done) return [];
    const node = frame.workflow_step?.node;
    const reason = frame.choices[0]?.finish_reason;
    if (!node) {
      // [new] spec §2.7: a workflow error end goes out at once, carrying the real code
      if (reason !== "stop" || frame.code === 0) return [];
      this.#done = true;
      return [this.#shape(frame, true)];
    }
    // step 1: only flow_obj and output / question-answer nodes
    const isFlow = node.id === "flow_obj";
    const type = nodeTypeOf(node.id);
    if (!isFlow && !OPEN_TYPES.has(type)) return [];
    // step 2: drop empty frames except the final stop and interrupts
    const content = frame.choices[0]?.delta.content ?? "";
    const reasoning = frame.choices[0]?.delta.reasoning_content ?? "";
    const isStop = isFlow && reason === "stop";
    const isInterrupt = reason === "interrupt";
    if (!content && !reasoning && !isStop && !isInterrupt) return [];
    // step 3
    if (!this.#stream) {
      if (ANSWER_TYPES.has(type) && !isInterrupt) {
        this.#content += content;
        this.#reasoning += reasoning;
        return [];
      }
      if (isStop || isInterrupt) {
        this.#done = true;
        // an error end is the error alone, not the answer gathered before the failure (issue 13)
        const out =
          isStop && frame.code === 0
            ? withChoice(frame, (c) => {
                c.delta.content = this.#content;
                c.delta.reasoning_content = this.#reasoning;
              })
            : frame;
        return [this.#shape(out, false)];
      }
      return [];
    }
    if (isStop || isInterrupt) this.#done = true;
    const out = isFlow
      ? withChoice(frame, (c) => {
          c.delta.content = "";
        })
      : frame;
    return [this.#shape(out, false)];
  }

  /** step 4: no node, no workflow_step when not streaming, seq and clamped progress when streaming, index 0 */
  #shape(frame: Frame, errorEnd: boolean): Frame {
    const out: Frame = { code: frame.code, message: frame.message, id: frame.id, created: frame.created, choices: [] };
    if (this.#stream) {
      const raw = frame.workflow_step?.progress ?? 1;
      const rounded = Math.round(raw * 100) / 100;
      this.#progress = Math.max(this.#progress, rounded);
      this.#seq += 1;
      out.workflow_step = { seq: this.#seq, progress: this.#progress };
    }
    // keep wire order: choices after workflow_step
    delete (out as Partial<Frame>).choices;
    out.choices = frame.choices.map((c, i) =>
      i === 0 ? { delta: { ...c.delta }, index: 0, ...(c.finish_reason ? { finish_reason: c.finish_reason } : {}) } : c,
    );
    if (frame.usage) out.usage = frame.usage;
    else if (errorEnd) out.usage = { completion_tokens: 0, prompt_tokens: 0, total_tokens: 0 };
    if (frame.event_data) out.event_data = frame.event_data;
    return out;
  }
}

export class DebugFilter {
  readonly #stream: boolean;
  #content = "";
  #reasoning = "";
  #done = false;

  constructor(opts: { stream: boolean }) {
    this.#stream = opts.stream;
  }

  get done(): boolean {
    return this.#done;
  }

  push(frame: Frame): Frame[] {
    if (this.#done) return [];
    const final = isFinalFrame(frame);
    if (this.#stream) {
      if (final) this.#done = true;
      return [frame];
    }
    // [new] spec §2.4: non-stream debug answers with the final frame carrying the whole answer
    const node = frame.workflow_step?.node;
    if (node && ANSWER_TYPES.has(nodeTypeOf(node.id))) {
      this.#content += frame.choices[0]?.delta.content ?? "";
      this.#reasoning += frame.choices[0]?.delta.reasoning_content ?? "";
    }
    if (!final) return [];
    this.#done = true;
    // an interrupt; or an error end: the error alone, not the answer gathered before the failure (issue 13)
    if (frame.choices[0]?.finish_reason === "interrupt" || frame.code !== 0) return [frame];
    return [
      withChoice(frame, (c) => {
        c.delta.content = this.#content;
        c.delta.reasoning_content = this.#reasoning;
      }),
    ];
  }
}
