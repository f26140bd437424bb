// Interrupts (spec §2.6, §6.10): a node that pauses for a human answer, the interrupt frame as the last frame of
// the response, and a resume — also into a fresh engine restored from the captured state (what the RunObject does
// after an eviction).
import { z } from "zod";
import { describe, expect, it } from "vitest";
import { compile } from "../../src/engine/compile.ts";
import { definePlugin, type Plugin } from "../../src/engine/plugin.ts";
import { Run, type RunState } from "../../src/engine/run.ts";
import type { Frame } from "../../src/engine/types.ts";
import { END, flow, START } from "../support/dsl-builder.ts";
import { describeFrame, frameNode, runInfo, Scripts, testRegistry } from "../support/engine-harness.ts";

// A minimal pausing node of its own type: any plugin may pause (the question-answer plugin uses the same contract).
const ask = definePlugin({
  type: "ask-human",
  params: z.object({ question: z.string() }).loose(),
  branches: true,
  run: (ctx, p) => {
    if (!ctx.resume) {
      return {
        interrupt: {
          value: {
            type: "option",
            content: ctx.render(p.question),
            option: [
              { id: "A", text: "yes", content_type: "text" },
              { id: "B", text: "no", content_type: "text" },
            ],
          },
          needReply: true,
          state: { asked: ctx.render(p.question) },
          timeoutMs: 180_000,
        },
      };
    }
    const choice = ctx.resume.content === "A" ? "option-one-of::a" : "option-one-of::b";
    return {
      outputs: {
        query: (ctx.resume.state as { asked: string }).asked,
        content: ctx.resume.content,
        attempt: ctx.resume.attempt,
      },
      branch: choice,
    };
  },
});

function qaFlow(): ReturnType<typeof flow> {
  return flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
    .node("ask-human::q", {
      params: { question: "Proceed with {{x}}?" },
      inputs: [{ name: "x", ref: { node: START, name: "AGENT_USER_INPUT" } }],
      outputs: [{ name: "query" }, { name: "content" }, { name: "attempt", type: "integer" }],
    })
    .node("noop::yes")
    .node("noop::no")
    .node(END, {
      params: { outputMode: 0 },
      inputs: [
        { name: "answer", ref: { node: "ask-human::q", name: "content" } },
        { name: "query", ref: { node: "ask-human::q", name: "query" } },
      ],
    })
    .edge(START, "ask-human::q")
    .edge("ask-human::q", "noop::yes", "option-one-of::a")
    .edge("ask-human::q", "noop::no", "option-one-of::b")
    .edge("noop::yes", END)
    .edge("noop::no", END);
}

function setup(): { plan: ReturnType<typeof compile>; registry: ReturnType<typeof testRegistry>; scripts: Scripts } {
  const scripts = new Scripts();
  const registry = testRegistry(scripts, [ask as unknown as Plugin<never>]);
  return { plan: compile(qaFlow().build(), registry), registry, scripts };
}

function makeRun(s: ReturnType<typeof setup>, frames: Frame[], state?: RunState): Run {
  return new Run(
    s.plan,
    {
      registry: s.registry,
      sid: "spf-test",
      info: runInfo(),
      parameters: { AGENT_USER_INPUT: "deploy" },
      emit: (f) => frames.push(structuredClone(f)),
    },
    state,
  );
}

describe("interrupt and resume (spec §2.6, §6.10)", () => {
  it("ends the response with an interrupt frame carrying event_data, then continues on resume", async () => {
    const s = setup();
    const frames: Frame[] = [];
    const run = makeRun(s, frames);
    const first = await run.execute();
    expect(first).toMatchObject({
      status: "interrupted",
      nodeId: "ask-human::q",
      eventData: { event_id: "ev-1", need_reply: true, value: { type: "option", content: "Proceed with deploy?" } },
    });
    const last = frames.at(-1) as Frame;
    expect(last.choices[0]?.finish_reason).toBe("interrupt");
    expect(last.workflow_step?.node?.finish_reason).toBe("interrupt");
    expect(last.event_data?.value.option?.map((o) => o.id)).toEqual(["A", "B"]);
    const before = frames.length;
    const second = await run.resume({ eventType: "resume", content: "B" });
    expect(second).toMatchObject({ status: "completed", outputs: { answer: "B", query: "Proceed with deploy?" } });
    const after = frames.slice(before).map(describeFrame);
    expect(after).toContain("noop::no:end");
    expect(after).not.toContain("noop::yes:start");
    expect(after).not.toContain("flow:start");
    expect(after.at(-1)).toBe("flow:end");
    // the question node's start frame is not repeated on resume
    expect(frames.filter((f) => frameNode(f) === "ask-human::q" && describeFrame(f).endsWith(":start"))).toHaveLength(
      1,
    );
  });

  it("resumes in a fresh engine restored from the state captured at the interrupt", async () => {
    const s = setup();
    const frames: Frame[] = [];
    const run = makeRun(s, frames);
    await run.execute();
    const state = JSON.parse(JSON.stringify(run.capture())) as RunState;
    const later: Frame[] = [];
    const restored = makeRun(setup(), later, state);
    const outcome = await restored.resume({ eventType: "resume", content: "A" });
    expect(outcome).toMatchObject({ status: "completed", outputs: { answer: "A", query: "Proceed with deploy?" } });
    expect(later.map(describeFrame)).toContain("noop::yes:end");
    expect(later.map(describeFrame).at(-1)).toBe("flow:end");
    expect(later.some((f) => describeFrame(f) === "flow:start")).toBe(false);
  });

  it("refuses a resume when nothing waits (23900)", async () => {
    const s = setup();
    const run = makeRun(s, []);
    await run.execute();
    await run.resume({ eventType: "resume", content: "A" });
    await expect(run.resume({ eventType: "resume", content: "A" })).rejects.toMatchObject({ code: 23900 });
  });
});
