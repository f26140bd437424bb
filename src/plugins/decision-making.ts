// Intent classification (spec §5.8). Prompt mode (reasonMode 1) asks for ```json {"category_name": …}```; the other
// modes ask for ```json {"destination": …}``` on the configured provider ([new] spec §11.18: the original always
// used Spark function calling, even for OpenAI models). Any failure is swallowed into the DEFAULT intent, as clients
// rely on; the cause goes to the log.
import * as z from "zod";
import { Codes } from "../engine/codes.ts";
import { definePlugin, type NodeContext, type NodeResult } from "../engine/plugin.ts";
import { callLlm, fencedJson } from "./llm-call.ts";
import { BaseLlmParams, trimHistory } from "./spark-llm.ts";
import type { ChatMessage } from "./providers/openai.ts";

const Intent = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  description: z.string().default(""),
  intentType: z.union([z.literal(1), z.literal(2)]).default(2),
});

const Params = BaseLlmParams.extend({
  intentChains: z.array(Intent).min(1),
  reasonMode: z.number().int().default(0),
  useFunctionCall: z.boolean().default(true),
  promptPrefix: z.string().default(""),
}).loose();
type Params = z.infer<typeof Params>;

const DEFAULT = "DEFAULT";

function isDefault(i: z.infer<typeof Intent>): boolean {
  return i.intentType === 1 || i.name.toLowerCase() === "default";
}

function messages(ctx: NodeContext, p: Params): ChatMessage[] {
  const text = Object.values(ctx.inputs)
    .map((v) => (typeof v === "string" ? v : JSON.stringify(v)))
    .join("\n");
  const history = p.enableChatHistoryV2.isEnabled ? trimHistory(ctx.run.history, p.enableChatHistoryV2.rounds) : [];
  if (p.reasonMode === 1) {
    const blob = {
      input_text: text,
      categories: p.intentChains.map((i) => ({
        category_id: i.id,
        category_name: isDefault(i) ? DEFAULT : i.name,
        category_desc: i.description,
      })),
      classification_instructions: [
        p.promptPrefix
          ? ctx.render(p.promptPrefix, "prompt")
          : "Classify text based on user input and provided classification information",
      ],
    };
    return [
      {
        role: "system",
        content:
          '你是一个文本分类引擎，需要分析文本数据，并根据用户输入和分类信息确定类别。只输出 ```json {"category_name": ""}```',
      },
      ...history,
      { role: "user", content: JSON.stringify(blob) },
    ];
  }
  const list = p.intentChains
    .filter((i) => !isDefault(i))
    .map((i) => `${i.name}: ${i.description}`)
    .join("\n");
  return [
    {
      role: "system",
      content: `Choose the plugin that best fits the user input, or DEFAULT when none does.\n${list}\nAnswer only with \`\`\`json {"destination": "<name or DEFAULT>", "next_inputs": "<user input>"}\`\`\``,
    },
    ...history,
    { role: "user", content: p.promptPrefix ? `${ctx.render(p.promptPrefix, "prompt")}\n${text}` : text },
  ];
}

export default definePlugin({
  type: "decision-making",
  params: Params,
  branches: true,
  handles: (p) => ({ field: "nodeParam.intentChains", ids: p.intentChains.map((i) => i.id) }),
  retryable: true,
  idempotent: true,
  errorCode: Codes.LLM_NODE_EXECUTION_ERROR,
  async run(ctx, p: Params): Promise<NodeResult> {
    const fallback = p.intentChains.find(isDefault);
    const outputName = ctx.outputs[0]?.name ?? "class_name";
    let chosen = fallback;
    let raw = "";
    let usage;
    try {
      const answer = await callLlm(ctx, p, messages(ctx, p));
      raw = answer.text;
      usage = answer.usage;
      const parsed = fencedJson(raw) as { category_name?: unknown; destination?: unknown } | undefined;
      const name = p.reasonMode === 1 ? parsed?.category_name : parsed?.destination;
      if (typeof name === "string" && name !== DEFAULT)
        chosen = p.intentChains.find((i) => i.name === name) ?? fallback;
    } catch (e) {
      // spec §5.8, §11.17: swallowed into the default intent, but never silently
      ctx.log(`decision fell back to DEFAULT: ${e instanceof Error ? e.message : String(e)}`);
    }
    const result: NodeResult = {
      outputs: { [outputName]: chosen && !isDefault(chosen) ? chosen.name : DEFAULT },
      rawOutput: raw,
      ext: raw ? { raw_output: raw } : {},
      ...(usage ? { usage } : {}),
    };
    if (chosen) result.branch = chosen.id;
    if (fallback) result.fallbackBranch = fallback.id;
    return result;
  },
});
