// Question-answer slot filling with handleResponse (spec §5.17, §12.3 item 28): a required slot missing from the
// first answer makes the node ask the model's follow-up question as a second interrupt.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile } from "../../src/engine/compile.ts";
import { createGuardedFetch } from "../../src/engine/net.ts";
import { Run } from "../../src/engine/run.ts";
import type { Frame } from "../../src/engine/types.ts";
import { registry } from "../../src/plugins/index.ts";
import { END, flow, START } from "../support/dsl-builder.ts";
import { runInfo } from "../support/engine-harness.ts";
import { startFakeOpenAI, type FakeOpenAI, type LlmScript } from "../support/fake-openai.ts";
import { llmNode } from "../support/llm-flow.ts";

let fake: FakeOpenAI;
beforeAll(async () => {
  fake = await startFakeOpenAI();
});
afterAll(async () => {
  await fake.close();
});

function slotFlow(script: LlmScript, maxRetryCounts: number): unknown {
  return flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
    .node("question-answer::q", {
      params: {
        ...llmNode(fake.url, script),
        question: "Where do you want to go?",
        answerType: "direct",
        timeout: 3,
        needReply: true,
        directAnswer: { handleResponse: true, maxRetryCounts },
        optionAnswer: [],
      },
      outputs: [{ name: "query" }, { name: "content" }, { name: "city", required: true }, { name: "date" }],
    })
    .node(END, {
      params: { outputMode: 0 },
      inputs: [
        { name: "city", ref: { node: "question-answer::q", name: "city" } },
        { name: "last", ref: { node: "question-answer::q", name: "content" } },
      ],
    })
    .edge(START, "question-answer::q")
    .edge("question-answer::q", END)
    .build();
}

const incomplete = {
  tokens: ['```json {"role": "assistant", "content": "Which city?", "completed": {}, "incomplete": {"city": ""}}```'],
};
const complete = {
  tokens: ['```json {"role": "assistant", "content": "", "completed": {"city": "Paris"}, "incomplete": {}}```'],
};

function newRun(dsl: unknown, frames: Frame[]): Run {
  return new Run(compile(dsl, registry), {
    registry,
    sid: "s",
    info: runInfo(),
    parameters: { AGENT_USER_INPUT: "x" },
    fetch: createGuardedFetch(fetch, { allowPrivate: true }),
    emit: (f) => frames.push(f),
  });
}

describe("question-answer slot filling", () => {
  it("asks the model's follow-up as a second interrupt, then completes with the slots (item 28)", async () => {
    const frames: Frame[] = [];
    const run = newRun(slotFlow({ turns: [incomplete, complete] }, 3), frames);
    expect(await run.execute()).toMatchObject({
      status: "interrupted",
      eventData: { value: { type: "direct", content: "Where do you want to go?" } },
    });
    const second = await run.resume({ eventType: "resume", content: "somewhere warm" });
    expect(second).toMatchObject({ status: "interrupted", eventData: { value: { content: "Which city?" } } });
    expect(frames.at(-1)?.choices[0]?.finish_reason).toBe("interrupt");
    const done = await run.resume({ eventType: "resume", content: "Paris" });
    expect(done).toMatchObject({ status: "completed", outputs: { city: "Paris", last: "Paris" } });
    const sent = fake.requests().at(-1) as { messages: { role: string; content: string }[] };
    expect(sent.messages.filter((m) => m.role === "user").map((m) => m.content)).toEqual(["somewhere warm", "Paris"]);
  });

  it("fails with 23803 when the answers run out before the slots are filled", async () => {
    const run = newRun(slotFlow({ turns: [incomplete, incomplete] }, 1), []);
    await run.execute();
    expect(await run.resume({ eventType: "resume", content: "no idea" })).toMatchObject({
      status: "failed",
      error: { code: 23803 },
    });
  });
});
