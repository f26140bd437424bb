// The caller's flows (issue 16, for the console): one line per flow with its published versions and the latest
// finished run. Read-only, scoped to the caller's app; the project's own route (HTTP statuses, `{code, message}`).
import { Hono } from "hono";
import { Codes } from "../../engine/index.ts";
import { catalog } from "../context.ts";
import type { AppEnv } from "../env.ts";
import { json } from "../envelope.ts";

export const flows = new Hono<AppEnv>();

flows.get("/flows", async (c) => {
  const app = c.get("appId");
  if (!app) return json({ code: Codes.PARAM_ERROR, message: "X-Consumer-Username is required" }, 401);
  return json({ flows: await catalog(c).listFlows(app) });
});
