// The worker entry: the Hono app and the Durable Object classes it exports.
import { app } from "./app.ts";

export { RunObject } from "../durable/run-object.ts";
export { HookLimiter } from "../durable/hook-limiter.ts";

export default app;
