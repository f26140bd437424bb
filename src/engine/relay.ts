// Output nodes (spec §6.6): their frames go out one node at a time, in the order their first frames arrived.
import type { Frame } from "./types.ts";

/**
 * Frames of output nodes are serialised (spec §2.5): all frames of one output node go out before any frame of the
 * next; the next is the one whose first frame arrived first.
 */
export class OutputSerializer {
  active: string | null = null;
  readonly queues = new Map<string, { frames: Frame[]; done: boolean }>();
  readonly #out: (frame: Frame) => void;
  constructor(out: (frame: Frame) => void) {
    this.#out = out;
  }

  push(key: string, frame: Frame, last: boolean): void {
    if (this.active === null) this.active = key;
    if (key === this.active) {
      this.#out(frame);
      if (last) this.#advance();
      return;
    }
    let q = this.queues.get(key);
    if (!q) this.queues.set(key, (q = { frames: [], done: false }));
    q.frames.push(frame);
    if (last) q.done = true;
  }

  #advance(): void {
    this.active = null;
    for (const [key, q] of this.queues) {
      this.queues.delete(key);
      for (const f of q.frames) this.#out(f);
      if (!q.done) {
        this.active = key;
        return;
      }
    }
  }

  flush(): void {
    for (const [key, q] of this.queues) {
      this.queues.delete(key);
      for (const f of q.frames) this.#out(f);
    }
    this.active = null;
  }
}
