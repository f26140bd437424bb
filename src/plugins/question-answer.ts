// Human in the loop (spec §5.17): the node asks, the run pauses with an interrupt frame, and the answer resumes it
// (from the run object's storage, so also after an eviction). Direct and option answers, `ignore` when no reply is
// needed, `abort`. Slot filling with `handleResponse` (an LLM round trip) is not in this build: such a node fails
// at build time with 22101 rather than misbehaving at run time.
import { z } from "zod";
import { Codes } from "../engine/codes.ts";
import { WorkflowError } from "../engine/errors.ts";
import { definePlugin, type NodeContext, type NodeResult } from "../engine/plugin.ts";
import { outputDefault } from "../engine/values.ts";

const Option = z
  .object({
    id: z.string().min(1),
    name: z.string().min(1),
    type: z.union([z.literal(1), z.literal(2)]).default(2),
    content_type: z.string().default("text"),
    content: z.string().default(""),
  })
  .loose();

const Params = z
  .object({
    question: z.string(),
    answerType: z.enum(["direct", "option"]),
    timeout: z.number().int().min(1).max(5),
    needReply: z.boolean(),
    directAnswer: z.object({ handleResponse: z.boolean().default(false), maxRetryCounts: z.number().int().min(1).max(5).default(2) }).loose(),
    optionAnswer: z.array(Option).default([]),
  })
  .loose()
  .refine((p) => p.optionAnswer.filter((o) => o.type === 1).length <= 1, { message: "at most one default option (type 1)", path: ["optionAnswer"] })
  .refine((p) => p.answerType !== "direct" || !p.directAnswer.handleResponse, {
    message: "handleResponse (LLM slot filling) is not supported in this build",
    path: ["directAnswer", "handleResponse"],
  });
type Params = z.infer<typeof Params>;

interface Asked {
  query: string;
  options: { id: string; name: string; type: number; content_type: string; text: string }[];
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
  errorCode: Codes.QUESTION_ANSWER_NODE_EXECUTION_ERROR,
  run(ctx, p: Params): NodeResult {
    if (!ctx.resume) {
      const asked: Asked = {
        query: ctx.render(p.question),
        options: p.optionAnswer.map((o) => ({ id: o.id, name: o.name, type: o.type, content_type: o.content_type, text: ctx.render(o.content) })),
      };
      return {
        interrupt: {
          value:
            p.answerType === "option"
              ? { type: "option", content: asked.query, option: asked.options.map((o) => ({ id: o.name, text: o.text, content_type: o.content_type })) }
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
        if (p.answerType === "direct") return { outputs: { query: asked.query, content: reply } };
        // spec §5.17: the first option (in list order) whose name is the reply, or the default option
        const chosen = asked.options.find((o) => o.name === reply || o.type === 1);
        if (!chosen) throw WorkflowError.of(Codes.QUESTION_ANSWER_NODE_EXECUTION_ERROR, "No matching option and no default option");
        return {
          outputs: { id: chosen.name, name: chosen.name, type: chosen.type, content_type: chosen.content_type, content: chosen.text, query: asked.query },
          branch: chosen.id,
        };
      }
      case "ignore": {
        if (p.needReply) throw WorkflowError.of(Codes.QUESTION_ANSWER_RESUME_DATA_ERROR, "this question needs a reply");
        const outputs = { ...defaults(ctx), query: asked.query, content: reply };
        if (p.answerType !== "option") return { outputs };
        const fallback = asked.options.find((o) => o.type === 1);
        if (!fallback) throw WorkflowError.of(Codes.QUESTION_ANSWER_NODE_EXECUTION_ERROR, "No matching option and no default option");
        return { outputs: { ...outputs, id: "default" }, branch: fallback.id };
      }
      case "abort":
        throw WorkflowError.of(Codes.QUESTION_ANSWER_RESUME_DATA_ERROR, "Received abort instruction");
      default:
        throw WorkflowError.of(Codes.QUESTION_ANSWER_RESUME_DATA_ERROR, `unknown event type ${ctx.resume.eventType}`);
    }
  },
});
