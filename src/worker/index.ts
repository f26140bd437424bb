// The worker entry: the Hono app and the Durable Object classes it exports.
import { env } from "cloudflare:workers";
import { warmJsSandbox } from "../durable/js-sandbox.ts";
import { app } from "./app.ts";
import type { Env } from "./env.ts";
import { sweep } from "./janitor.ts";

// Issue 15, cold start: with CODE_WARM_AT_START=true the JavaScript sandbox is loaded and run once while the isolate
// starts, so a flow's first code node in a fresh isolate costs little more than a warm one (13–32 ms more instead of
// 46–87 ms, BENCHMARKS.md: the WebAssembly's instantiation and V8 compiling QuickJS's functions on their first call).
// Off by default: every isolate would pay that start-up work (up to about 170 ms of CPU) and the sandbox's 16 MiB of
// linear memory, also the many that never run a JavaScript code node (Astron's code node is Python on a remote
// executor by default). Without it a run object still warms the sandbox as soon as it receives a plan with one.
if ((env as Partial<Env>).CODE_WARM_AT_START === "true") void warmJsSandbox();

export { RunObject } from "../durable/run-object.ts";
export { HookLimiter } from "../durable/hook-limiter.ts";
export { SqlPool } from "../durable/sql-pool.ts";

export default {
  fetch: app.fetch,
  // cron (wrangler.toml [triggers]): the retention clean-up of finished runs
  async scheduled(_controller: ScheduledController, env: Env, ctx: ExecutionContext): Promise<void> {
    ctx.waitUntil(sweep(env).then(() => undefined));
  },
} satisfies ExportedHandler<Env>;
