import type { RunObject } from "../durable/run-object.ts";

/** The worker's bindings and vars (wrangler.toml); secrets come from .dev.vars or `wrangler secret`. */
export interface Env {
  DB: D1Database;
  FILES: R2Bucket;
  RUN: DurableObjectNamespace<RunObject>;
  /** "gateway" (trust X-Consumer-Username), "key" (key:secret against the app table) or "hmac" (spec §1.4) */
  AUTH_MODE?: string;
  /** "dev" / "test" disable the credential rewrite of open runs (spec §1.5.1 step 4) */
  RUNTIME_ENV?: string;
  UPSTASH_REDIS_REST_URL?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
  CACHE_TIMEOUT_MS?: string;
  SUPPORT_FILE_TYPE?: string;
  FILE_SIZE_LIMIT?: string;
  ALLOWED_FILE_TYPE?: string;
  PUBLIC_FILES_BASE?: string;
  FRAME_TIMEOUT_MS?: string;
  RUN_DEADLINE_MS?: string;
  ALLOW_PRIVATE_FETCH?: string;
  HMAC_SKEW_SECONDS?: string;
  AGENT_API_URL?: string;
  KNOWLEDGE_URL?: string;
  KNOWLEDGE_PRO_URL?: string;
  PLUGIN_GET_URL?: string;
  PLUGIN_RUN_URL?: string;
  WORKFLOW_URL_SSE?: string;
  PGSQL_URL?: string;
  CODE_EXEC_URL?: string;
  CODE_EXEC_TIMEOUT_SEC?: string;
}

export type AppEnv = { Bindings: Env; Variables: { sid: string; appId: string } };

/** Service configuration handed to plugins (spec §12.2); never secrets. */
export function pluginConfig(env: Env): Record<string, string | undefined> {
  return {
    AGENT_API_URL: env.AGENT_API_URL,
    KNOWLEDGE_URL: env.KNOWLEDGE_URL,
    KNOWLEDGE_PRO_URL: env.KNOWLEDGE_PRO_URL,
    PLUGIN_GET_URL: env.PLUGIN_GET_URL,
    PLUGIN_RUN_URL: env.PLUGIN_RUN_URL,
    WORKFLOW_URL_SSE: env.WORKFLOW_URL_SSE,
    PGSQL_URL: env.PGSQL_URL,
    CODE_EXEC_URL: env.CODE_EXEC_URL,
    CODE_EXEC_TIMEOUT_SEC: env.CODE_EXEC_TIMEOUT_SEC,
  };
}
