// Parameter extraction (spec §5.10): every declared output is a parameter to extract from the first input. The
// model gets the JSON schema of the outputs and answers with a fenced JSON block ([new]: the same prompt on every
// provider; the original's function-call mode was Spark-only). Extracted values are then fixed to their declared
// types ("schema fix").
import * as z from "zod";
import { Codes } from "../engine/codes.ts";
import { clientText, isWorkflowError, WorkflowError } from "../engine/errors.ts";
import { definePlugin, type NodeResult } from "../engine/plugin.ts";
import type { OutputSpec } from "../engine/types.ts";
import { outputDefault, typeDefault } from "../engine/values.ts";
import { callLlm, fencedJson } from "./llm-call.ts";
import { BaseLlmParams } from "./spark-llm.ts";

const Params = BaseLlmParams.extend({
  reasonMode: z.number().int().default(1),
  instruction: z.string().default(""),
}).loose();
type Params = z.infer<typeof Params>;

/** spec §5.10 "schema fix": coerce an extracted value to its declared type. */
export function fixValue(value: unknown, type: string | undefined): unknown {
  switch (type) {
    case "integer": {
      const n = Math.trunc(Number(value));
      return Number.isFinite(n) ? n : 0;
    }
    case "number": {
      const n = Number(value);
      return Number.isFinite(n) ? n : 0;
    }
    case "string":
      return typeof value === "string" ? value : JSON.stringify(value);
    case "boolean":
      return typeof value === "boolean" ? value : false;
    case "array":
      return Array.isArray(value) ? value : [value];
    case "object":
      return value !== null && typeof value === "object" && !Array.isArray(value) ? value : {};
    default:
      return value;
  }
}

export function extractionSchema(outputs: readonly OutputSpec[]): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const o of outputs) properties[o.name] = { type: o.schema.type, description: o.schema.description ?? "" };
  return { type: "object", properties, required: outputs.filter((o) => o.required).map((o) => o.name) };
}

export default definePlugin({
  type: "extractor-parameter",
  params: Params,
  retryable: true,
  idempotent: true,
  errorCode: Codes.EXTRACT_EXECUTION_ERROR,
  async run(ctx, p: Params): Promise<NodeResult> {
    const first = Object.values(ctx.inputs)[0];
    const text = typeof first === "string" ? first : JSON.stringify(first ?? "");
    const prompt = [
      "从用户文本中提取参数，按照给定的 JSON 结构输出，只输出 ```json``` 代码块。",
      p.instruction ? `要求: ${ctx.render(p.instruction, "prompt")}` : "",
      `JSON 结构: ${JSON.stringify(extractionSchema(ctx.outputs))}`,
      `用户文本: ${text}`,
    ]
      .filter(Boolean)
      .join("\n");
    let answer;
    try {
      answer = await callLlm(ctx, p, [{ role: "user", content: prompt }]);
    } catch (e) {
      if (isWorkflowError(e) && e.code !== Codes.OPEN_AI_REQUEST_ERROR && e.code !== Codes.SPARK_REQUEST_ERROR) throw e;
      throw WorkflowError.of(Codes.EXTRACT_EXECUTION_ERROR, clientText(e));
    }
    const parsed = fencedJson(answer.text);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw WorkflowError.of(Codes.EXTRACT_EXECUTION_ERROR, "the model's answer is not a JSON object");
    }
    const got = parsed as Record<string, unknown>;
    const outputs: Record<string, unknown> = {};
    for (const o of ctx.outputs) {
      const v = got[o.name];
      if (v === undefined || v === null)
        outputs[o.name] = o.required ? typeDefault(o.schema.type) : outputDefault(o.schema);
      else outputs[o.name] = fixValue(v, o.schema.type);
    }
    return { outputs, rawOutput: answer.text, ...(answer.usage ? { usage: answer.usage } : {}) };
  },
});
