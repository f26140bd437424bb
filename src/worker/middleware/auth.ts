// Authentication middleware (spec §1.4): verifies the caller as AUTH_MODE says and records the app id the request
// acts for. Only the health check, the API description (/openapi.json, /docs) and the public file URLs (nodes fetch
// them anonymously, spec §8.2) are exempt.
import type { MiddlewareHandler } from "hono";
import { Codes, toWorkflowError } from "../../engine/index.ts";
import { authenticate, authMode } from "../auth.ts";
import type { AppEnv } from "../env.ts";
import { errorResponse } from "../envelope.ts";
import { Catalog } from "../store/catalog.ts";

const PUBLIC = [/^\/health\/?$/, /^\/openapi\.json\/?$/, /^\/docs\/?$/, /^\/workflow\/v1\/files\/[^/]+\/?$/];
/** a webhook invocation carries its own signature or bearer token (routes/hooks.ts) */
const HOOK_INVOCATION = /^\/hooks\/[^/]+\/?$/;

export const authentication: MiddlewareHandler<AppEnv> = async (c, next) => {
  const url = new URL(c.req.url);
  if (PUBLIC.some((p) => p.test(url.pathname))) return next();
  if (c.req.method === "POST" && HOOK_INVOCATION.test(url.pathname)) return next();
  let appId: string | undefined;
  try {
    let buffered: Promise<ArrayBuffer> | undefined;
    const cat = new Catalog(c.env.DB);
    appId = await authenticate(
      authMode(c.env.AUTH_MODE),
      {
        method: c.req.method,
        url,
        headers: c.req.raw.headers,
        // read from a clone so the route can still parse the body
        body: () => (buffered ??= c.req.raw.clone().arrayBuffer()),
      },
      cat,
      {
        skewSeconds: Number(c.env.HMAC_SKEW_SECONDS || 300),
        now: Date.now(),
        strict: c.env.HMAC_STRICT === "true",
        nonces: cat,
      },
    );
  } catch (e) {
    return errorResponse(c.get("sid"), toWorkflowError(e, Codes.PARAM_ERROR));
  }
  if (appId) c.set("appId", appId);
  return next();
};
