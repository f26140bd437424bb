// What a host needs to decide whether a node in flight may run again after a restart (ARCHITECTURE decisions 2 and
// 11): the engine reports a running stream source once, before any frame carries one of its tokens, and a restored
// run fails a node its host refuses to re-run with 22302 and the host's reason.
import { describe, expect, it } from "vitest";
import { compile } from "../../src/engine/compile.ts";
import { Run, type RunState } from "../../src/engine/run.ts";
import type { Frame } from "../../src/engine/types.ts";
import { END, flow, START } from "../support/dsl-builder.ts";
import { FakeClock } from "../support/fake-clock.ts";
import { runInfo, Scripts, testRegistry } from "../support/engine-harness.ts";

const LLM = "spark-llm::l";

function llmFlow(): unknown {
  return flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
    .node(LLM, {
      inputs: [{ name: "input", ref: { node: START, name: "AGENT_USER_INPUT" } }],
      outputs: [{ name: "output" }],
    })
    .node(END, {
      params: { outputMode: 1, template: "say: {{output}}", streamOutput: true },
      inputs: [{ name: "output", ref: { node: LLM, name: "output" } }],
    })
    .edge(START, LLM)
    .edge(LLM, END)
    .build();
}

const content = (frames: Frame[]): string => frames.map((f) => f.choices[0]?.delta.content ?? "").join("");

describe("re-running nodes after a restore", () => {
  it("reports a running stream source once, before any frame carries one of its tokens", async () => {
    const scripts = new Scripts().set(LLM, { tokens: ["a", "b", "c"] });
    const registry = testRegistry(scripts);
    const frames: Frame[] = [];
    const shown: { node: string; before: string }[] = [];
    const run = new Run(compile(llmFlow(), registry), {
      registry,
      sid: "spf-test",
      info: runInfo(),
      parameters: { AGENT_USER_INPUT: "q" },
      emit: (f) => frames.push(structuredClone(f)),
      onTokensShown: (node) => shown.push({ node, before: content(frames) }),
    });
    expect(await run.execute()).toMatchObject({ status: "completed" });
    expect(content(frames)).toBe("say: abc");
    // the template's own text may have gone out; none of the model's tokens had
    expect(shown).toHaveLength(1);
    expect(shown[0]?.node).toBe(LLM);
    expect(shown[0]?.before).not.toMatch(/[abc]$/);
  });

  it("fails a node its host refuses to run again with 22302 and the host's reason, and calls nothing", async () => {
    const clock = new FakeClock();
    const scripts = new Scripts().set(LLM, { tokens: ["a"], delayMs: 1000 });
    const registry = testRegistry(scripts);
    const plan = compile(llmFlow(), registry);
    const options = {
      registry,
      sid: "spf-test",
      info: runInfo(),
      parameters: { AGENT_USER_INPUT: "q" },
      clock,
      emit: () => undefined,
    };
    const first = new Run(plan, options);
    const going = first.execute();
    await clock.advance(10);
    // captured with the LLM node in flight, as at the last boundary before a restart
    const state = JSON.parse(JSON.stringify(first.capture())) as RunState;
    first.cancel();
    await going;
    expect(scripts.callsOf(LLM)).toBe(1);
    const frames: Frame[] = [];
    const restored = new Run(
      plan,
      { ...options, emit: (f) => frames.push(f), mayRerun: (node) => `${node.id} had shown tokens` },
      state,
    );
    const outcome = await restored.execute();
    expect(outcome).toMatchObject({ status: "failed", error: { code: 22302 } });
    expect(outcome.status === "failed" ? outcome.error.message : "").toContain(`${LLM} had shown tokens`);
    expect(scripts.callsOf(LLM)).toBe(1);
  });
});
