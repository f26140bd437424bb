// Human in the loop over HTTP (spec §2.6, §5.17, §12.3 items 25–27): the response ends at the interrupt frame,
// /resume continues the run from the run object's storage — also after the object was evicted — and an answer
// that never comes fails the node with 23900 when its alarm fires.
import { env, evictDurableObject, runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { RunObject } from "../../src/durable/run-object.ts";
import { SseParser } from "../../src/engine/sse.ts";
import type { Frame } from "../../src/engine/types.ts";
import { END, flow, START } from "../support/dsl-builder.ts";
import { seedApps } from "../support/seed.ts";

const APP = { "X-Consumer-Username": "d1590f30", "Content-Type": "application/json" };
const ns = (env as unknown as { RUN: DurableObjectNamespace<RunObject> }).RUN;

beforeAll(async () => {
  await seedApps();
});

function qaFlow(needReply: boolean): unknown {
  return flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
    .node("question-answer::q", {
      alias: "Ask",
      params: {
        question: "Ship {{what}}?",
        answerType: "option",
        timeout: 1,
        needReply,
        directAnswer: { handleResponse: false, maxRetryCounts: 2 },
        optionAnswer: [
          { id: "option-one-of::a", name: "A", type: 2, content: "yes, ship {{what}}", content_type: "text" },
          { id: "option-one-of::b", name: "B", type: 2, content: "no", content_type: "text" },
          { id: "option-one-of::d", name: "default", type: 1, content: "later", content_type: "text" },
        ],
      },
      inputs: [{ name: "what", ref: { node: START, name: "AGENT_USER_INPUT" } }],
      outputs: [{ name: "query" }, { name: "content" }, { name: "id" }],
    })
    .node("message::yes", { params: { template: "shipping", streamOutput: true } })
    .node("message::no", { params: { template: "holding", streamOutput: true } })
    .node("message::later", { params: { template: "deferred", streamOutput: true } })
    .node(END, {
      params: { outputMode: 0 },
      inputs: [
        { name: "answer", ref: { node: "question-answer::q", name: "content" } },
        { name: "id", ref: { node: "question-answer::q", name: "id" } },
      ],
    })
    .edge(START, "question-answer::q")
    .edge("question-answer::q", "message::yes", "option-one-of::a")
    .edge("question-answer::q", "message::no", "option-one-of::b")
    .edge("question-answer::q", "message::later", "option-one-of::d")
    .edge("message::yes", END)
    .edge("message::no", END)
    .edge("message::later", END)
    .build();
}

async function post(path: string, body: unknown): Promise<Response> {
  return SELF.fetch(`http://astron.test${path}`, { method: "POST", headers: APP, body: JSON.stringify(body) });
}

async function frames(res: Response): Promise<Frame[]> {
  return new SseParser().push(`${await res.text()}\n\n`).map((e) => JSON.parse(e.data) as Frame);
}

async function start(needReply = true): Promise<{ eventId: string; first: Frame[] }> {
  const add = (await (
    await post("/workflow/v1/protocol/add", {
      app_id: "d1590f30",
      name: "qa",
      description: "",
      data: qaFlow(needReply),
    })
  ).json()) as { data: { flow_id: string } };
  const first = await frames(
    await post("/workflow/v1/debug/chat/completions", {
      flow_id: add.data.flow_id,
      parameters: { AGENT_USER_INPUT: "v2" },
    }),
  );
  const last = first.at(-1) as Frame;
  expect(last.choices[0]?.finish_reason).toBe("interrupt");
  return { eventId: last.event_data?.event_id ?? "", first };
}

const text = (fs: Frame[]): string => fs.map((f) => f.choices[0]?.delta.content ?? "").join("");

describe("question-answer over HTTP", () => {
  it("ends the first response at the interrupt, resumes with B on the resume's own sid, then refuses a second resume (item 25)", async () => {
    const { eventId, first } = await start();
    const interrupt = first.at(-1) as Frame;
    expect(interrupt.event_data).toMatchObject({
      event_type: "interrupt",
      need_reply: true,
      value: { type: "option", content: "Ship v2?" },
    });
    expect(interrupt.event_data?.value.option?.map((o) => o.id)).toEqual(["A", "B", "default"]);
    expect(interrupt.event_data?.value.option?.[0]?.text).toBe("yes, ship v2");
    const res = await post("/workflow/v1/debug/resume", { event_id: eventId, event_type: "resume", content: "B" });
    const rest = await frames(res);
    expect(new Set(rest.map((f) => f.id)).size).toBe(1);
    expect(rest[0]?.id).not.toBe(interrupt.id);
    expect(text(rest)).toContain("holding");
    expect(text(rest)).not.toContain("shipping");
    expect(rest.at(-1)?.workflow_step?.node?.id).toBe("flow_obj");
    const again = (await (
      await post("/workflow/v1/debug/resume", { event_id: eventId, content: "A" })
    ).json()) as Frame;
    expect(again.code).toBe(23900);
    expect(
      (await (await post("/workflow/v1/resume/", { event_id: "no-such-event", content: "A" })).json()) as Frame,
    ).toMatchObject({ code: 23900 });
  });

  it("resumes from storage after the run object was evicted", async () => {
    const { eventId } = await start();
    await evictDurableObject(ns.get(ns.idFromName(eventId)));
    const rest = await frames(await post("/workflow/v1/debug/resume", { event_id: eventId, content: "A" }));
    expect(text(rest)).toContain("shipping");
    const end = rest.find((f) => f.workflow_step?.node?.id === END && f.workflow_step.node.finish_reason === "stop");
    expect(end?.workflow_step?.node?.outputs).toEqual({ answer: "yes, ship v2", id: "A" });
  });

  it("takes the default option on ignore when no reply is needed, and refuses ignore when one is (item 26)", async () => {
    const optional = await start(false);
    const rest = await frames(
      await post("/workflow/v1/debug/resume", { event_id: optional.eventId, event_type: "ignore", content: "" }),
    );
    expect(text(rest)).toContain("deferred");
    const required = await start(true);
    const refused = await frames(
      await post("/workflow/v1/debug/resume", { event_id: required.eventId, event_type: "ignore", content: "" }),
    );
    expect(refused.at(-1)?.code).toBe(23802);
  });

  it("fails the waiting node with 23900 when the answer timeout passes (alarm, item 27)", async () => {
    const { eventId } = await start();
    const stub = ns.get(ns.idFromName(eventId));
    // move the stored answer deadline into the past instead of waiting a minute
    await runInDurableObject(stub, async (_o, state) => {
      state.storage.sql.exec(`UPDATE run SET interrupt = json_set(interrupt, '$.deadline', 0)`);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const summary = await stub.summary("d1590f30");
    expect(summary).toMatchObject({ status: "failed", code: 23900 });
    const replay = await stub.attach(0, "d1590f30");
    if (!replay.ok) throw new Error("attach failed");
    const lines: string[] = [];
    const reader = replay.stream.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      lines.push(r.value);
    }
    const all = lines
      .join("")
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { frame: Frame }).frame);
    // the replay from 0 stops at the first final frame (the interrupt); what follows is the node error and the end
    expect(all.at(-1)?.choices[0]?.finish_reason).toBe("interrupt");
    const after = await stub.attach(all.length, "d1590f30");
    if (!after.ok) throw new Error("attach failed");
    const text2 = await new Response(after.stream).text();
    const tail = text2
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { frame: Frame }).frame);
    expect(tail.map((f) => [f.workflow_step?.node?.id ?? "", f.code])).toEqual([
      ["question-answer::q", 23900],
      ["", 23900],
    ]);
  });
});
