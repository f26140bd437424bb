import type { Clock } from "../../src/engine/plugin.ts";

/** A clock tests move by hand: sleeps resolve only when `advance` passes their deadline. */
export class FakeClock implements Clock {
  #now: number;
  #timers: {
    at: number;
    resolve: () => void;
    reject: (e: unknown) => void;
    signal?: AbortSignal;
    onAbort?: () => void;
  }[] = [];

  constructor(start = Date.UTC(2026, 10, 24, 0, 0, 0)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = { at: this.#now + ms, resolve, reject, signal, onAbort: undefined as (() => void) | undefined };
      if (signal) {
        timer.onAbort = () => {
          this.#timers = this.#timers.filter((t) => t !== timer);
          reject(signal.reason);
        };
        signal.addEventListener("abort", timer.onAbort, { once: true });
      }
      this.#timers.push(timer);
    });
  }

  /** number of sleeps waiting */
  get pending(): number {
    return this.#timers.length;
  }

  /** Moves time forward, firing due sleeps in deadline order and letting their continuations run. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      await settle();
      const due = this.#timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = Math.max(this.#now, due.at);
      if (due.signal && due.onAbort) due.signal.removeEventListener("abort", due.onAbort);
      due.resolve();
    }
    this.#now = target;
    await settle();
  }
}

/** Lets pending promise continuations run (several macrotask turns). */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setTimeout(r, 0));
}
