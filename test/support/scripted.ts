// Scripted test plugins for engine tests: deterministic tokens, controllable delays and failures, and call counts.
// They register under real node types (spark-llm, ifly-code, …) in a test registry so real fixtures run unchanged.
import { z } from "zod";
import { WorkflowError } from "../../src/engine/errors.ts";
import {
  definePlugin,
  type NodeContext,
  type NodeEvent,
  type NodeResult,
  type Plugin,
} from "../../src/engine/plugin.ts";
import type { Usage } from "../../src/engine/types.ts";

export interface Script {
  /** answer tokens, streamed one by one (stream sources) */
  tokens?: string[];
  reasoning?: string[];
  /** ms to wait before each token (or before returning, for non-stream plugins) */
  delayMs?: number;
  /** throw after this many tokens (0 = before the first) */
  failAfter?: number;
  /** the first N attempts fail; later attempts succeed */
  failAttempts?: number;
  error?: { code: number; message?: string };
  /** outputs to return; default for stream sources: {output: tokens joined} */
  outputs?: Record<string, unknown> | ((ctx: NodeContext, attempt: number) => Record<string, unknown>);
  branch?: string;
  usage?: Usage;
  /** never settles until aborted */
  hang?: boolean;
}

export class Scripts {
  readonly scripts = new Map<string, Script>();
  readonly calls = new Map<string, number>();

  set(nodeId: string, script: Script): this {
    this.scripts.set(nodeId, script);
    return this;
  }

  callsOf(nodeId: string): number {
    return this.calls.get(nodeId) ?? 0;
  }

  #begin(ctx: NodeContext): { script: Script; attempt: number } {
    const attempt = (this.calls.get(ctx.nodeId) ?? 0) + 1;
    this.calls.set(ctx.nodeId, attempt);
    return { script: this.scripts.get(ctx.nodeId) ?? {}, attempt };
  }

  /** A stream source (spark-llm-like): yields chunk events. */
  streamPlugin(type: string, errorCode = 23300): Plugin<Record<string, unknown>> {
    const self = this;
    return definePlugin({
      type,
      params: z.record(z.string(), z.unknown()),
      streams: true,
      retryable: true,
      idempotent: true,
      errorCode,
      async *run(ctx: NodeContext): AsyncGenerator<NodeEvent, NodeResult, undefined> {
        const { script, attempt } = self.#begin(ctx);
        const failing = script.failAttempts === undefined || attempt <= script.failAttempts;
        if (script.hang) await ctx.clock.sleep(1e12, ctx.signal);
        for (const r of script.reasoning ?? []) {
          if (script.delayMs) await ctx.clock.sleep(script.delayMs, ctx.signal);
          yield { type: "reasoning", content: r };
        }
        const tokens = script.tokens ?? [];
        for (let t = 0; t < tokens.length; t++) {
          if (failing && script.failAfter === t && script.error)
            throw new WorkflowError(script.error.code, script.error.message);
          if (script.delayMs) await ctx.clock.sleep(script.delayMs, ctx.signal);
          yield { type: "chunk", content: tokens[t] as string };
        }
        if (failing && script.error && (script.failAfter === undefined || script.failAfter >= tokens.length)) {
          throw new WorkflowError(script.error.code, script.error.message);
        }
        const text = tokens.join("");
        const outputs =
          typeof script.outputs === "function" ? script.outputs(ctx, attempt) : (script.outputs ?? { output: text });
        return {
          outputs,
          rawOutput: text,
          ext: text ? { raw_output: text } : {},
          ...(script.usage ? { usage: script.usage } : {}),
          ...(script.branch !== undefined ? { branch: script.branch } : {}),
        };
      },
    });
  }

  /** A non-stream plugin (code-like): returns outputs after an optional delay. */
  plainPlugin(
    type: string,
    opts: { errorCode?: number; branches?: boolean; retryable?: boolean; idempotent?: boolean } = {},
  ): Plugin<Record<string, unknown>> {
    const self = this;
    return definePlugin({
      type,
      params: z.record(z.string(), z.unknown()),
      retryable: opts.retryable ?? true,
      idempotent: opts.idempotent ?? true,
      branches: opts.branches ?? false,
      errorCode: opts.errorCode ?? 22302,
      async run(ctx: NodeContext): Promise<NodeResult> {
        const { script, attempt } = self.#begin(ctx);
        if (script.hang) await ctx.clock.sleep(1e12, ctx.signal);
        if (script.delayMs) await ctx.clock.sleep(script.delayMs, ctx.signal);
        const failing = script.failAttempts === undefined || attempt <= script.failAttempts;
        if (failing && script.error) throw new WorkflowError(script.error.code, script.error.message);
        const outputs = typeof script.outputs === "function" ? script.outputs(ctx, attempt) : (script.outputs ?? {});
        return {
          outputs,
          ...(script.branch !== undefined ? { branch: script.branch } : {}),
          ...(script.usage ? { usage: script.usage } : {}),
        };
      },
    });
  }
}
