// Lets the engine suite, written for vitest, run unchanged under `deno test`: describe/it map onto Deno.test,
// expect is Jest's `expect` package (the same matcher semantics vitest follows).
import { expect } from "expect";

declare const Deno: {
  test(def: { name: string; fn: () => unknown; sanitizeOps?: boolean; sanitizeResources?: boolean }): void;
};

const path: string[] = [];

export function describe(name: string, fn: () => void): void {
  path.push(name);
  try {
    fn();
  } finally {
    path.pop();
  }
}

export function it(name: string, fn: () => unknown, _timeoutMs?: number): void {
  Deno.test({ name: [...path, name].join(" > "), fn, sanitizeOps: false, sanitizeResources: false });
}

export const test = it;
export { expect };
