// Parsed plans shared by the run objects of an isolate (issue 15): parsed once per text, frozen so no run can change
// another's, bounded in count and size, least recently used out first.
import { describe, expect, it } from "vitest";
import { parsedPlan } from "../../src/durable/plans.ts";

let n = 0;
/** a distinct plan text each call */
function text(extra = ""): string {
  return JSON.stringify({ flowId: `plans-${n++}`, nodes: [{ id: "node-start::1", params: { list: [1, 2] } }], extra });
}

describe("parsedPlan", () => {
  it("parses a text once and hands every run the same frozen plan", () => {
    const t = text();
    let tests = 0;
    const js = (s: string): boolean => (tests++, s.includes("javascript"));
    const a = parsedPlan(t, js);
    const b = parsedPlan(t, js);
    expect(b.plan).toBe(a.plan);
    expect(tests).toBe(1);
    expect(a.plan).toEqual(JSON.parse(t));
    const node = (a.plan.nodes as unknown as { params: { list: number[] } }[])[0]!;
    expect(Object.isFrozen(node.params.list)).toBe(true);
    expect(() => node.params.list.push(3)).toThrow(TypeError);
    expect(() => {
      (node.params as { list: unknown }).list = [];
    }).toThrow(TypeError);
  });

  it("answers whether the plan runs JavaScript from the test it is given", () => {
    expect(parsedPlan(text("javascript"), (s) => s.includes("javascript")).runsJs).toBe(true);
    expect(parsedPlan(text(), (s) => s.includes("javascript")).runsJs).toBe(false);
  });

  it("keeps no plan whose text is over 256 KiB", () => {
    const t = text("x".repeat(300 * 1024));
    expect(parsedPlan(t, () => false).plan).not.toBe(parsedPlan(t, () => false).plan);
  });

  it("keeps the 32 most recently used plans", () => {
    const first = text();
    const kept = text();
    const a = parsedPlan(first, () => false).plan;
    const k = parsedPlan(kept, () => false).plan;
    for (let i = 0; i < 31; i++) {
      parsedPlan(text(), () => false);
      if (i === 15) parsedPlan(kept, () => false); // used again: moves to the back
    }
    expect(parsedPlan(kept, () => false).plan).toBe(k);
    expect(parsedPlan(first, () => false).plan).not.toBe(a);
  });
});
