// What the scheduler's modules share (scope.ts, attempts.ts, relay.ts, capture.ts): the states of nodes and edges as
// a scope stores them (small integers in typed arrays; they are also the numbers of a captured `RunState`), a stream
// source's token buffer, and how a scope ends. Internal to the engine: nothing here is exported from index.ts.
import type { InterruptRequest } from "./plugin.ts";

// node states
export const PENDING = 0;
export const RUNNING = 1;
export const DONE = 2;
export const SKIPPED = 3;
export const FAILED = 4;
export const WAITING = 5;
// edge states
export const UNKNOWN = 0;
export const LIVE = 1;
export const DEAD = 2;

/** The tokens a stream source has produced so far, read by the output nodes that relay it (spec §6.6). */
export interface StreamBuf {
  content: string[];
  reasoning: string[];
  started: boolean;
  ended: boolean;
  errored: boolean;
  wake: (() => void)[];
}

/** Wakes the relays waiting on a stream source (a token arrived, or the source ended). */
export function wakeStream(buf: StreamBuf): void {
  const w = buf.wake;
  buf.wake = [];
  for (const f of w) f();
}

export type ScopeOutcome =
  | { kind: "completed"; outputs: Record<string, unknown> }
  | { kind: "interrupted"; node: number; request: InterruptRequest };
