// Operator caps on the durations and counts a flow's author sets (issue 13: one flow must not hold the isolate or a
// run for as long as its DSL asks). A value over its cap is CLAMPED, not refused: real Astron flows carry the console's
// defaults (retryConfig.timeout 60 s, up to 10 retries) and must keep running here; the cap only shortens them.
// The caps come from configuration (the worker's vars, `NODE_TIMEOUT_MAX_MS`, `NODE_MAX_RETRIES`,
// `NODE_RETRY_BUDGET_MS`, `CODE_TIMEOUT_MAX_MS`), so an operator can loosen or tighten them without a build.
import type { RetryPolicy } from "./types.ts";

/** Longest attempt (and per-read) timeout of any node: 5 min. */
export const DEFAULT_NODE_TIMEOUT_MAX_MS = 300_000;
/** Most retries of a node after its first attempt. */
export const DEFAULT_NODE_MAX_RETRIES = 5;
/** Longest time all attempts of one node may take together (retries × timeout): 10 min. */
export const DEFAULT_NODE_RETRY_BUDGET_MS = 600_000;
/** Longest run of a JavaScript code node: the sandbox runs on the worker's own thread. */
export const DEFAULT_CODE_TIMEOUT_MAX_MS = 10_000;

type Config = Readonly<Record<string, string | undefined>>;

/** A positive integer from configuration, else the default (a bad value never lifts a cap). */
export function configCap(config: Config, name: string, fallback: number): number {
  const v = config[name];
  const n = Number(v);
  return v !== undefined && v !== "" && Number.isInteger(n) && n >= 0 ? n : fallback;
}

/** The node's per-attempt timeout in ms, clamped to NODE_TIMEOUT_MAX_MS. */
export function nodeTimeoutMs(retry: RetryPolicy, config: Config): number {
  return Math.min(
    retry.timeout * 1000,
    Math.max(1, configCap(config, "NODE_TIMEOUT_MAX_MS", DEFAULT_NODE_TIMEOUT_MAX_MS)),
  );
}

/**
 * Attempts of a retrying node: maxRetries + 1, with the retries clamped to NODE_MAX_RETRIES and the attempts to as
 * many (clamped) timeouts as fit in NODE_RETRY_BUDGET_MS; always at least one.
 */
export function nodeAttempts(retry: RetryPolicy, config: Config): number {
  const retries = Math.min(retry.maxRetries, configCap(config, "NODE_MAX_RETRIES", DEFAULT_NODE_MAX_RETRIES));
  const budget = configCap(config, "NODE_RETRY_BUDGET_MS", DEFAULT_NODE_RETRY_BUDGET_MS);
  return Math.max(1, Math.min(retries + 1, Math.floor(budget / nodeTimeoutMs(retry, config))));
}

/** A JavaScript code run's time: what the node asks, clamped to CODE_TIMEOUT_MAX_MS. */
export function codeTimeoutMs(requestedMs: number, config: Config): number {
  return Math.min(requestedMs, Math.max(1, configCap(config, "CODE_TIMEOUT_MAX_MS", DEFAULT_CODE_TIMEOUT_MAX_MS)));
}
