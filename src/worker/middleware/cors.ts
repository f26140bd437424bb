// CORS of spec §1.1: every origin, method and header, credentials allowed. With credentials a browser refuses
// `*`, so the request's Origin is echoed (and `Vary: Origin` keeps shared caches honest). Preflights end here.
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";

const METHODS = "GET,POST,PUT,PATCH,DELETE,OPTIONS,HEAD";

export const cors: MiddlewareHandler<AppEnv> = async (c, next) => {
  const headers: Record<string, string> = {
    "Access-Control-Allow-Origin": c.req.header("origin") ?? "*",
    "Access-Control-Allow-Credentials": "true",
    "Access-Control-Expose-Headers": "*",
    Vary: "Origin",
  };
  if (c.req.method === "OPTIONS") {
    return new Response(null, {
      status: 204,
      headers: {
        ...headers,
        "Access-Control-Allow-Methods": METHODS,
        "Access-Control-Allow-Headers": c.req.header("access-control-request-headers") ?? "*",
        "Access-Control-Max-Age": "86400",
      },
    });
  }
  await next();
  // some responses (a relayed stream, a Response.json) come with immutable headers: copy them once if so
  try {
    for (const [k, v] of Object.entries(headers)) c.res.headers.set(k, v);
  } catch {
    const res = new Response(c.res.body, c.res);
    for (const [k, v] of Object.entries(headers)) res.headers.set(k, v);
    c.res = res;
  }
};
