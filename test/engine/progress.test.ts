// Progress (spec §6.9) computed by path counting must equal the definition by path enumeration.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Frame } from "../../src/engine/types.ts";
import { END, flow, START } from "../support/dsl-builder.ts";
import { frameNode, runFlow, Scripts } from "../support/engine-harness.ts";

interface Graph {
  nodes: string[];
  edges: [string, string][];
}

/** Brute force: enumerate every start→leaf path (spec §6.9 literally). */
function enumerated(g: Graph, dead: Set<string>, node: string): number {
  const out = new Map<string, string[]>();
  for (const [a, b] of g.edges) out.set(a, [...(out.get(a) ?? []), b]);
  const paths: string[][] = [];
  const walk = (p: string[]): void => {
    const next = out.get(p[p.length - 1] as string) ?? [];
    if (next.length === 0) paths.push(p);
    for (const n of next) walk([...p, n]);
  };
  walk([START]);
  let num = 0;
  let den = 0;
  for (const p of paths) {
    den += p.length;
    const isDead = p.some((n, i) => i > 0 && dead.has(`${p[i - 1]}>${n}`));
    num += isDead ? p.length : Math.max(0, p.indexOf(node));
  }
  return num / den;
}

describe("progress (spec §6.9)", () => {
  it("gives 0, 1/3, 2/3 on start → node → end", async () => {
    const b = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("noop::a")
      .node(END, { params: { outputMode: 0 } })
      .edge(START, "noop::a")
      .edge("noop::a", END);
    const { frames } = await runFlow(b.build());
    const p = (id: string): number | undefined => frames.find((f) => frameNode(f) === id)?.workflow_step?.progress;
    expect(p(START)).toBe(0);
    expect(p("noop::a")).toBeCloseTo(1 / 3, 12);
    expect(p(END)).toBeCloseTo(2 / 3, 12);
  });

  it("equals path enumeration on chains of branch diamonds with random decisions", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 7 }), async (choices) => {
        // diamond i: branchy::b{i} → yes/no/(a third arm straight to the join) → noop::j{i}
        const b = flow().node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] });
        const g: Graph = { nodes: [START], edges: [] };
        const scripts = new Scripts();
        let prev = START;
        choices.forEach((c, i) => {
          const [br, y, n, j] = [`branchy::b${i}`, `noop::y${i}`, `noop::n${i}`, `noop::j${i}`];
          b.node(br).node(y).node(n).node(j);
          b.edge(prev, br)
            .edge(br, y, "branch_one_of::0")
            .edge(br, n, "branch_one_of::1")
            .edge(br, j, "branch_one_of::2");
          b.edge(y, j).edge(n, j);
          g.edges.push([prev, br], [br, y], [br, n], [br, j], [y, j], [n, j]);
          scripts.set(br, { branch: `branch_one_of::${c}` });
          prev = j;
        });
        b.node(END, { params: { outputMode: 0 } }).edge(prev, END);
        g.edges.push([prev, END]);
        const { frames, outcome } = await runFlow(b.build(), { scripts });
        expect(outcome.status).toBe("completed");
        // frames are emitted in graph order here, so the dead edges at a node's frame are those of the
        // decisions above it
        const dead = new Set<string>();
        const decided = new Set<number>();
        for (const f of frames as Frame[]) {
          const id = frameNode(f);
          if (!id || id === "flow_obj") continue;
          const m = /^noop::j(\d+)$/.exec(id);
          if (m) {
            const i = Number(m[1]);
            if (!decided.has(i)) {
              decided.add(i);
              const arms = [`noop::y${i}`, `noop::n${i}`, `noop::j${i}`];
              arms.forEach((arm, a) => {
                if (a !== choices[i]) dead.add(`branchy::b${i}>${arm}`);
              });
            }
          }
          const arm = /^noop::[yn](\d+)$/.exec(id);
          if (arm && !decided.has(Number(arm[1]))) {
            const i = Number(arm[1]);
            decided.add(i);
            [`noop::y${i}`, `noop::n${i}`, `noop::j${i}`].forEach((t, a) => {
              if (a !== choices[i]) dead.add(`branchy::b${i}>${t}`);
            });
          }
          expect(f.workflow_step?.progress).toBeCloseTo(enumerated(g, dead, id), 9);
        }
      }),
      { numRuns: 60 },
    );
  }, 60_000);
});
