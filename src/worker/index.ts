// The worker entry: the Hono app and the Durable Object classes it exports.
import { app } from "./app.ts";
import type { Env } from "./env.ts";
import { sweep } from "./janitor.ts";

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
