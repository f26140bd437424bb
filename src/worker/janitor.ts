// The retention clean-up of finished runs (cron trigger, wrangler.toml): a run that ended in the turn that started
// it never set an alarm, so nothing else would delete its object's storage. The janitor reads finished runs older
// than the retention period from D1's run history, asks each run object to purge itself, and marks the rows.
import type { RunObject } from "../durable/run-object.ts";
import { runObject } from "./owner.ts";

const DEFAULT_RETENTION_S = 7 * 24 * 3600;
/** rows handled per invocation (a cron run has limited time; the next one continues) */
export const JANITOR_BATCH = 500;
const PARALLEL = 16;

export interface JanitorEnv {
  DB: D1Database;
  RUN: DurableObjectNamespace<RunObject>;
  RUN_RETENTION_SECONDS?: string;
}

export interface JanitorReport {
  purged: number;
  /** runs not purgeable yet (a callback still pending) */
  kept: number;
  failed: number;
}

export async function sweep(env: JanitorEnv, now: number = Date.now()): Promise<JanitorReport> {
  const retentionMs = Number(env.RUN_RETENTION_SECONDS ?? DEFAULT_RETENTION_S) * 1000;
  const { results } = await env.DB.prepare(
    `SELECT event_id FROM run_history WHERE purged = 0 AND ended_at < ? ORDER BY ended_at LIMIT ?`,
  )
    .bind(now - retentionMs, JANITOR_BATCH)
    .all<{ event_id: string }>();
  const report: JanitorReport = { purged: 0, kept: 0, failed: 0 };
  const done: string[] = [];
  for (let i = 0; i < results.length; i += PARALLEL) {
    await Promise.all(
      results.slice(i, i + PARALLEL).map(async ({ event_id }) => {
        try {
          const purged = await runObject(env.RUN, event_id).purge();
          if (purged) {
            report.purged++;
            done.push(event_id);
          } else report.kept++;
        } catch (e) {
          report.failed++;
          console.log(`[janitor] ${event_id} not purged: ${e instanceof Error ? e.message : String(e)}`);
        }
      }),
    );
  }
  for (let i = 0; i < done.length; i += 50) {
    const ids = done.slice(i, i + 50);
    await env.DB.prepare(`UPDATE run_history SET purged = 1 WHERE event_id IN (${ids.map(() => "?").join(", ")})`)
      .bind(...ids)
      .run();
  }
  // strict HMAC's used nonces, once past their window
  await env.DB.prepare(`DELETE FROM auth_nonce WHERE expires_at < ?`).bind(now).run();
  console.log(`[janitor] purged ${report.purged}, kept ${report.kept}, failed ${report.failed}`);
  return report;
}
