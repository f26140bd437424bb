// Property-based tests of the scheduler (issue 2): random DAGs with random branch decisions and failures.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compile } from "../../src/engine/compile.ts";
import { Run, type RunState } from "../../src/engine/run.ts";
import type { Frame } from "../../src/engine/types.ts";
import { FlowBuilder, type Json } from "../support/dsl-builder.ts";
import { frameNode, runFlow, runInfo, Scripts, testRegistry } from "../support/engine-harness.ts";

interface Spec {
  n: number;
  /** for node i ≥ 1: predecessor indices (< i), each with a handle slot */
  preds: { from: number; slot: number; fail: boolean }[][];
  kinds: ("noop" | "branchy" | "streamy")[];
  /** branch choice per branchy node */
  choice: number[];
  /** failure per node: 0 none, 1 abort, 2 custom output, 3 fail branch */
  failure: number[];
  /** node whose output the end node renders (prompt mode), or -1 for variable mode */
  source: number;
}

const specArb: fc.Arbitrary<Spec> = fc.integer({ min: 3, max: 14 }).chain((n) =>
  fc.record({
    n: fc.constant(n),
    preds: fc.tuple(
      ...Array.from({ length: n }, (_, i) =>
        i === 0
          ? fc.constant([] as { from: number; slot: number; fail: boolean }[])
          : fc.uniqueArray(
              fc.record({
                from: fc.integer({ min: 0, max: i - 1 }),
                slot: fc.integer({ min: 0, max: 2 }),
                fail: fc.boolean(),
              }),
              {
                minLength: 1,
                maxLength: Math.min(3, i),
                selector: (p) => p.from,
              },
            ),
      ),
    ),
    kinds: fc.array(fc.constantFrom("noop" as const, "noop" as const, "branchy" as const, "streamy" as const), {
      minLength: n,
      maxLength: n,
    }),
    choice: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: n, maxLength: n }),
    failure: fc.array(fc.constantFrom(0, 0, 0, 0, 0, 0, 1, 2, 3), { minLength: n, maxLength: n }),
    source: fc.integer({ min: -1, max: n - 2 }),
  }),
);

function id(spec: Spec, i: number): string {
  if (i === 0) return "node-start::s";
  if (i === spec.n - 1) return "node-end::e";
  return `${spec.kinds[i]}::n${i}`;
}

function build(spec: Spec): { dsl: unknown; scripts: () => Scripts } {
  const b = new FlowBuilder();
  const { n } = spec;
  b.node(id(spec, 0), { outputs: [{ name: "AGENT_USER_INPUT" }] });
  for (let i = 1; i < n - 1; i++) {
    const f = spec.failure[i] ?? 0;
    const retry: Record<string, Json> | undefined =
      f >= 2
        ? { shouldRetry: true, maxRetries: 0, errorStrategy: f === 2 ? 1 : 2, customOutput: { output: "custom" } }
        : undefined;
    b.node(id(spec, i), { outputs: [{ name: "output" }], ...(retry ? { retry } : {}) });
  }
  const src = spec.source > 0 ? spec.source : -1;
  b.node(id(spec, n - 1), {
    params: src > 0 ? { outputMode: 1, template: "<{{a}}>", streamOutput: true } : { outputMode: 0 },
    inputs: src > 0 ? [{ name: "a", ref: { node: id(spec, src), name: "output" } }] : [],
  });
  for (let i = 1; i < n; i++) {
    for (const p of spec.preds[i] ?? []) {
      const fromKind = p.from === 0 ? "start" : spec.kinds[p.from];
      let handle: string | undefined;
      if (p.from > 0 && (spec.failure[p.from] ?? 0) === 3 && p.fail) handle = `intent_chain|fail_one_of::${p.from}`;
      else if (fromKind === "branchy") handle = `branch_one_of::${p.slot}`;
      b.edge(id(spec, p.from), id(spec, i), handle);
    }
  }
  const scripts = (): Scripts => {
    const s = new Scripts();
    for (let i = 1; i < n - 1; i++) {
      const f = spec.failure[i] ?? 0;
      const kind = spec.kinds[i];
      const error = f > 0 ? { code: 22302, message: `n${i} failed` } : undefined;
      s.set(id(spec, i), {
        ...(kind === "streamy"
          ? { tokens: [`t${i}a`, `t${i}b`], ...(error ? { failAfter: 0 } : {}) }
          : { outputs: { output: `v${i}` } }),
        ...(kind === "branchy" ? { branch: `branch_one_of::${spec.choice[i] ?? 0}` } : {}),
        ...(error ? { error } : {}),
      });
    }
    return s;
  };
  return { dsl: b.build(), scripts };
}

/**
 * A frame without its timing fields, for comparisons across runs. Progress goes too: it counts the paths that
 * were dead when the frame was made, so it depends on how concurrent branches interleave, which a restore (that
 * restarts the nodes in flight) legitimately changes.
 */
function normal(f: Frame): string {
  const c = structuredClone(f);
  c.created = 0;
  if (c.workflow_step) {
    c.workflow_step.progress = 0;
    if (c.workflow_step.node) c.workflow_step.node.executed_time = 0;
  }
  return JSON.stringify(c);
}

function isFinal(f: Frame): boolean {
  return f.choices[0]?.finish_reason === "stop" && (frameNode(f) === "flow_obj" || frameNode(f) === "");
}

const settleTimers = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

describe("scheduler properties (random DAGs, branches and failures)", () => {
  it("runs every node at most once, joins after live predecessors, skipped nodes silent, nothing after the end", async () => {
    await fc.assert(
      fc.asyncProperty(specArb, async (spec) => {
        const { dsl, scripts: makeScripts } = build(spec);
        const scripts = makeScripts();
        const { frames } = await runFlow(dsl, { scripts, registry: testRegistry(scripts) });
        await settleTimers();
        // exactly one final frame, and it is the last
        expect(frames.filter(isFinal)).toHaveLength(1);
        expect(isFinal(frames.at(-1) as Frame)).toBe(true);
        // at most once
        for (let i = 1; i < spec.n - 1; i++) expect(scripts.callsOf(id(spec, i))).toBeLessThanOrEqual(1);
        // skipped (never called) nodes emit no frames
        for (let i = 1; i < spec.n - 1; i++) {
          if (scripts.callsOf(id(spec, i)) === 0) expect(frames.some((f) => frameNode(f) === id(spec, i))).toBe(false);
        }
        // a node starts only after every predecessor that ran has settled (end node: it may launch early, §6.6)
        const firstIndex = (nid: string): number => frames.findIndex((f) => frameNode(f) === nid);
        const endIndex = (nid: string): number =>
          frames.findIndex((f) => frameNode(f) === nid && f.workflow_step?.node?.finish_reason === "stop");
        for (let i = 1; i < spec.n - 1; i++) {
          const start = firstIndex(id(spec, i));
          if (start < 0) continue;
          for (const p of spec.preds[i] ?? []) {
            const pred = id(spec, p.from);
            if (firstIndex(pred) < 0) continue;
            expect(endIndex(pred)).toBeGreaterThanOrEqual(0);
            expect(endIndex(pred)).toBeLessThan(start);
          }
        }
      }),
      { numRuns: 150 },
    );
  }, 60_000);

  it("capture at a random node boundary and restore into a fresh engine gives the same frames", async () => {
    await fc.assert(
      fc.asyncProperty(specArb, fc.integer({ min: 1, max: 20 }), async (spec, k) => {
        const { dsl, scripts: makeScripts } = build(spec);
        const registry = testRegistry(makeScripts());
        const plan = compile(dsl, registry);
        const whole = await runFlow(dsl, { plan, scripts: makeScripts(), registry: testRegistry(makeScripts()) });
        await settleTimers();

        // interrupted run: capture at the k-th node boundary, then stop it right there
        const collected: Frame[] = [];
        let captured: RunState | undefined;
        let count = 0;
        const run: Run = new Run(plan, {
          registry: testRegistry(makeScripts()),
          sid: "spf-test",
          info: runInfo(),
          parameters: {},
          emit: (f) => {
            if (!captured) collected.push(structuredClone(f));
          },
          onBoundary: () => {
            if (captured || ++count < k) return;
            captured = run.capture();
            run.cancel();
          },
        });
        await run.execute();
        if (!captured) {
          // fewer than k boundaries: the run finished uninterrupted
          expect(collected.map(normal)).toEqual(whole.frames.map(normal));
          return;
        }
        const restored = await runFlow(dsl, {
          plan,
          registry: testRegistry(makeScripts()),
          state: JSON.parse(JSON.stringify(captured)) as RunState,
        });
        await settleTimers();
        const combined = [...collected, ...restored.frames].map(normal);
        const expected = whole.frames.map(normal);
        const byNode = (list: string[]): Map<string, string[]> => {
          const m = new Map<string, string[]>();
          for (const s of list) {
            const node = (JSON.parse(s) as Frame).workflow_step?.node?.id ?? "";
            m.set(node, [...(m.get(node) ?? []), s]);
          }
          return m;
        };
        if (whole.outcome.status === "failed") {
          // with several concurrent failures, which one aborts first is also a matter of interleaving
          const last = JSON.parse(combined.at(-1) as string) as Frame;
          expect(last.workflow_step?.node).toBeUndefined();
          expect(last.code).not.toBe(0);
          // an aborting failure (a node error, a branch without edges, a skipped end node): which frames of concurrently running nodes precede it depends on their
          // interleaving, which a restore changes; still no node may start or end twice
          for (const [node, frames] of byNode(combined)) {
            if (node === "" || node === "flow_obj") continue;
            const kinds = frames.map((f) => (JSON.parse(f) as Frame).workflow_step?.node?.finish_reason ?? "open");
            expect(kinds.filter((k) => k === "stop").length).toBeLessThanOrEqual(1);
          }
          return;
        }
        // same frames: nothing lost or doubled, per node the same sequence, the same final frame
        expect(combined.at(-1)).toBe(expected.at(-1));
        expect(combined.length).toBe(expected.length);
        expect([...combined].sort()).toEqual([...expected].sort());
        expect(byNode(combined)).toEqual(byNode(expected));
      }),
      { numRuns: 120 },
    );
  }, 60_000);
});
