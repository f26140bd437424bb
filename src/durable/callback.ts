// Webhook callbacks (issue 6): when a run started by a webhook with a callback URL ends, its result is POSTed to
// that URL as a signed Standard Webhooks message (`webhook-id`, `webhook-timestamp`, `webhook-signature`), retried
// with exponential backoff by the run object's alarm until it is delivered or the attempts run out. The state lives
// in the run object's storage, so a pending callback survives an eviction or a restart.
import { Webhook } from "standardwebhooks";
import type { ErrorData, GuardedFetch, Usage } from "../engine/index.ts";

export interface CallbackSpec {
  url: string;
  /** the hook's callback signing secret (whsec_…); stored with the run, never shown */
  secret: string;
  hookId: string;
  maxAttempts: number;
  /** first retry delay, ms; doubles per attempt up to MAX_DELAY_MS */
  baseDelayMs: number;
}

export interface CallbackState {
  status: "pending" | "delivered" | "failed";
  attempts: number;
  /** when the next attempt is due (pending only), ms since the epoch */
  nextAt: number;
  /** the Standard Webhooks message id: the same for every attempt, so the receiver can de-duplicate */
  msgId: string;
  payload: string;
}

export interface AttemptResult {
  ok: boolean;
  /** HTTP status, 0 when no response came back */
  status: number;
  error: string | null;
}

export const MAX_DELAY_MS = 3_600_000;
const ATTEMPT_TIMEOUT_MS = 15_000;

export function retryDelay(attempt: number, baseDelayMs: number): number {
  return Math.min(MAX_DELAY_MS, baseDelayMs * 2 ** Math.max(0, attempt - 1));
}

export interface RunResult {
  runId: string;
  flowId: string;
  status: "completed" | "failed" | "cancelled";
  outputs: Record<string, unknown> | null;
  error: ErrorData | null;
  usage: Usage | null;
}

/** The message body: the Standard Webhooks payload convention (`type`, `timestamp`, `data`). */
export function callbackPayload(hookId: string, result: RunResult, now: number): string {
  return JSON.stringify({
    type: `run.${result.status}`,
    timestamp: new Date(now).toISOString(),
    data: {
      hook_id: hookId,
      run_id: result.runId,
      flow_id: result.flowId,
      status: result.status,
      outputs: result.outputs,
      error: result.error ? { code: result.error.code, message: result.error.message } : null,
      usage: result.usage,
    },
  });
}

/** One signed delivery attempt. Never throws; the receiver's answer body is not kept (it is not ours to log). */
export async function attemptDelivery(
  fetchFn: GuardedFetch,
  spec: CallbackSpec,
  state: CallbackState,
  now: number,
): Promise<AttemptResult> {
  const signature = new Webhook(spec.secret).sign(state.msgId, new Date(now), state.payload);
  try {
    const res = await fetchFn(spec.url, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "webhook-id": state.msgId,
        "webhook-timestamp": String(Math.floor(now / 1000)),
        "webhook-signature": signature,
      },
      body: state.payload,
      timeoutMs: ATTEMPT_TIMEOUT_MS,
      maxBytes: 64 * 1024,
    });
    await res.body?.cancel().catch(() => undefined);
    if (res.ok) return { ok: true, status: res.status, error: null };
    return { ok: false, status: res.status, error: `HTTP ${res.status}` };
  } catch (e) {
    return { ok: false, status: 0, error: e instanceof Error ? e.message : String(e) };
  }
}

/** The state after an attempt. */
export function nextState(spec: CallbackSpec, state: CallbackState, result: AttemptResult, now: number): CallbackState {
  const attempts = state.attempts + 1;
  if (result.ok) return { ...state, status: "delivered", attempts, nextAt: 0 };
  if (attempts >= spec.maxAttempts) return { ...state, status: "failed", attempts, nextAt: 0 };
  return { ...state, attempts, nextAt: now + retryDelay(attempts, spec.baseDelayMs) };
}
