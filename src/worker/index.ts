// The worker entry: the Hono app and the Durable Object classes it exports.
import { env } from "cloudflare:workers";
import { warmJsSandbox } from "../durable/js-sandbox.ts";
import { app } from "./app.ts";
import type { Env } from "./env.ts";
import { sweep } from "./janitor.ts";

// Issue 15, cold start: the JavaScript sandbox is loaded and run once while the isolate starts, so a flow's first
// code node in a fresh isolate costs what a warm one does (it cost about 30 ms more: the WebAssembly's instantiation
// and V8 compiling QuickJS's functions on their first call). It costs every isolate that start-up work and the
// sandbox's 16 MiB of linear memory; CODE_WARM_AT_START=false leaves the sandbox to the first code node (a run object
// still warms it as soon as it receives a plan with one).
if ((env as Partial<Env>).CODE_WARM_AT_START !== "false") void warmJsSandbox();

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
