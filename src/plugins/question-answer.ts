// Human in the loop (spec §5.17): the node asks, the run pauses with an interrupt frame, and the answer resumes it
// (from the run object's storage, so also after an eviction). Direct and option answers, `ignore` when no reply is
// needed, `abort`, and slot filling with `handleResponse`: the model reads the dialog, and while a required slot is
// missing the node asks its follow-up question as a second interrupt, up to `maxRetryCounts` answers (23803).
import * as z from "zod";
import { Codes } from "../engine/codes.ts";
import { WorkflowError } from "../engine/errors.ts";
import { definePlugin, type NodeContext, type NodeResult } from "../engine/plugin.ts";
import { outputDefault } from "../engine/values.ts";
import { callLlm, fencedJson } from "./llm-call.ts";
import { BaseLlmParams } from "./spark-llm.ts";

const Option = z
  .object({
    id: z.string().min(1),
    name: z.string().min(1),
    type: z.union([z.literal(1), z.literal(2)]).default(2),
    content_type: z.string().default("text"),
    content: z.string().default(""),
  })
  .loose();

const Params = BaseLlmParams.partial()
  .extend({
    question: z.string(),
    answerType: z.enum(["direct", "option"]),
    timeout: z.number().int().min(1).max(5),
    needReply: z.boolean(),
    directAnswer: z
      .object({ handleResponse: z.boolean().default(false), maxRetryCounts: z.number().int().min(1).max(5).default(2) })
      .loose(),
    optionAnswer: z.array(Option).default([]),
  })
  .loose()
  .refine((p) => p.optionAnswer.filter((o) => o.type === 1).length <= 1, {
    message: "at most one default option (type 1)",
    path: ["optionAnswer"],
  })
  .refine(
    (p) => p.answerType !== "direct" || !p.directAnswer.handleResponse || (p.domain !== undefined && p.domain !== ""),
    {
      message: "handleResponse needs the model keys (domain, url, …)",
      path: ["domain"],
    },
  );
type Params = z.infer<typeof Params>;

interface Asked {
  query: string;
  options: { id: string; name: string; type: number; content_type: string; text: string }[];
  /** slot filling: the dialog so far */
  dialog?: { role: "user" | "assistant"; content: string }[];
}

const SLOT_PROMPT =
  "你是一个参数收集助手。根据对话和参数结构，判断哪些参数已经得到，哪些还缺少。" +
  '只输出 ```json {"role": "assistant", "content": "<缺少参数时向用户追问的问题>", "completed": {<已得到的参数>}, "incomplete": {<缺少的参数>}}```';

async function fillSlots(ctx: NodeContext, p: Params, asked: Asked, reply: string): Promise<NodeResult> {
  const slots = ctx.outputs.filter((o) => o.name !== "query" && o.name !== "content");
  const dialog = [
    ...(asked.dialog ?? [{ role: "assistant" as const, content: asked.query }]),
    { role: "user" as const, content: reply },
  ];
  const schema = {
    type: "object",
    properties: Object.fromEntries(
      slots.map((o) => [o.name, { type: o.schema.type, description: o.schema.description ?? "" }]),
    ),
    required: slots.filter((o) => o.required).map((o) => o.name),
  };
  const llm = BaseLlmParams.parse(p);
  const answer = await callLlm(ctx, llm, [
    {
      role: "system",
      content: `${SLOT_PROMPT}\n参数结构: ${JSON.stringify(schema)}${p.instruction ? `\n${ctx.render(String(p.instruction), "prompt")}` : ""}`,
    },
    ...dialog,
  ]);
  const parsed = fencedJson(answer.text) as { content?: unknown; completed?: Record<string, unknown> } | undefined;
  const completed = parsed?.completed && typeof parsed.completed === "object" ? parsed.completed : {};
  const missing = slots.filter(
    (o) => o.required && (completed[o.name] === undefined || completed[o.name] === null || completed[o.name] === ""),
  );
  if (missing.length === 0) {
    const outputs: Record<string, unknown> = { ...defaults(ctx) };
    for (const o of slots)
      if (completed[o.name] !== undefined && completed[o.name] !== null) outputs[o.name] = completed[o.name];
    return {
      outputs: { ...outputs, query: asked.query, content: reply },
      rawOutput: answer.text,
      ...(answer.usage ? { usage: answer.usage } : {}),
    };
  }
  if ((ctx.resume?.attempt ?? 1) >= p.directAnswer.maxRetryCounts) {
    throw WorkflowError.of(Codes.QUESTION_ANSWER_HANDLER_RESPONSE_ERROR, "reached maximum retry count limit");
  }
  const followUp =
    typeof parsed?.content === "string" && parsed.content
      ? parsed.content
      : `请提供: ${missing.map((o) => o.name).join(", ")}`;
  return {
    interrupt: {
      value: { type: "direct", content: followUp },
      needReply: p.needReply,
      state: { ...asked, dialog: [...dialog, { role: "assistant", content: followUp }] },
      timeoutMs: p.timeout * 60_000,
    },
  };
}

function defaults(ctx: NodeContext): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const o of ctx.outputs) out[o.name] = outputDefault(o.schema);
  return out;
}

export default definePlugin({
  type: "question-answer",
  params: Params,
  branches: (p) => p.answerType === "option",
  handles: (p) => ({ field: "nodeParam.optionAnswer", ids: p.optionAnswer.map((o) => o.id) }),
  errorCode: Codes.QUESTION_ANSWER_NODE_EXECUTION_ERROR,
  async run(ctx, p: Params): Promise<NodeResult> {
    if (!ctx.resume) {
      const asked: Asked = {
        query: ctx.render(p.question),
        options: p.optionAnswer.map((o) => ({
          id: o.id,
          name: o.name,
          type: o.type,
          content_type: o.content_type,
          text: ctx.render(o.content),
        })),
      };
      return {
        interrupt: {
          value:
            p.answerType === "option"
              ? {
                  type: "option",
                  content: asked.query,
                  option: asked.options.map((o) => ({ id: o.name, text: o.text, content_type: o.content_type })),
                }
              : { type: "direct", content: asked.query },
          needReply: p.needReply,
          state: asked,
          timeoutMs: p.timeout * 60_000,
        },
      };
    }
    const asked = ctx.resume.state as Asked;
    const reply = ctx.resume.content;
    switch (ctx.resume.eventType) {
      case "resume": {
        if (p.answerType === "direct") {
          if (p.directAnswer.handleResponse) return fillSlots(ctx, p, asked, reply);
          return { outputs: { query: asked.query, content: reply } };
        }
        // spec §5.17: the first option (in list order) whose name is the reply, or the default option
        const chosen = asked.options.find((o) => o.name === reply || o.type === 1);
        if (!chosen)
          throw WorkflowError.of(
            Codes.QUESTION_ANSWER_NODE_EXECUTION_ERROR,
            "No matching option and no default option",
          );
        return {
          outputs: {
            id: chosen.name,
            name: chosen.name,
            type: chosen.type,
            content_type: chosen.content_type,
            content: chosen.text,
            query: asked.query,
          },
          branch: chosen.id,
        };
      }
      case "ignore": {
        if (p.needReply) throw WorkflowError.of(Codes.QUESTION_ANSWER_RESUME_DATA_ERROR, "this question needs a reply");
        const outputs = { ...defaults(ctx), query: asked.query, content: reply };
        if (p.answerType !== "option") return { outputs };
        const fallback = asked.options.find((o) => o.type === 1);
        if (!fallback)
          throw WorkflowError.of(
            Codes.QUESTION_ANSWER_NODE_EXECUTION_ERROR,
            "No matching option and no default option",
          );
        return { outputs: { ...outputs, id: "default" }, branch: fallback.id };
      }
      case "abort":
        throw WorkflowError.of(Codes.QUESTION_ANSWER_RESUME_DATA_ERROR, "Received abort instruction");
      default:
        throw WorkflowError.of(Codes.QUESTION_ANSWER_RESUME_DATA_ERROR, `unknown event type ${ctx.resume.eventType}`);
    }
  },
});
