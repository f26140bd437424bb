// Run history rows for D1 (`run_history`, the runs list of a flow), written in batches: every run object of an
// isolate hands its row to one queue, and the queue sends up to BATCH_ROWS rows in one D1 batch after BATCH_MS. A
// D1 call per finished run was the largest platform cost of a short run; a batch costs one. A row whose batch
// failed, or whose object was evicted before it knew, is written by the object's next alarm if D1 does not have it.

export interface HistoryRow {
  eventId: string;
  flowId: string;
  appId: string;
  uid: string;
  chatId: string;
  status: string;
  code: number;
  message: string;
  startedAt: number;
  endedAt: number;
  usage: string;
  mode: string;
}

const BATCH_MS = 100;
const BATCH_ROWS = 50;

const INSERT = `INSERT OR REPLACE INTO run_history (event_id, flow_id, app_id, uid, chat_id, status, code, message, started_at, ended_at, usage, mode)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

interface Pending {
  rows: HistoryRow[];
  done: Promise<boolean>;
  flush: () => void;
}

const queues = new WeakMap<D1Database, Pending>();

function statement(db: D1Database, r: HistoryRow): D1PreparedStatement {
  return db.prepare(INSERT).bind(r.eventId, r.flowId, r.appId, r.uid, r.chatId, r.status, r.code, r.message, r.startedAt, r.endedAt, r.usage, r.mode);
}

/** The alarm's second chance: writes the row unless it is there already (a read costs less than a write). */
export async function ensureHistory(db: D1Database, row: HistoryRow): Promise<void> {
  const found = await db.prepare(`SELECT 1 AS x FROM run_history WHERE event_id = ?`).bind(row.eventId).first();
  if (!found) await statement(db, row).run();
}

/** Queues a row; resolves true once the batch that holds it is stored, false if that batch failed (never rejects). */
export function queueHistory(db: D1Database, row: HistoryRow): Promise<boolean> {
  let pending = queues.get(db);
  if (!pending) {
    let release: () => void = () => undefined;
    const started = new Promise<void>((r) => (release = r));
    const rows: HistoryRow[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      if (queues.get(db) === created) queues.delete(db);
      release();
    };
    const done = started.then(async () => {
      try {
        await db.batch(rows.map((r) => statement(db, r)));
        return true;
      } catch (e) {
        console.log(`[history] ${rows.length} run history rows not written yet: ${e instanceof Error ? e.message : String(e)}`);
        return false;
      }
    });
    const created: Pending = { rows, done, flush };
    pending = created;
    queues.set(db, created);
    timer = setTimeout(flush, BATCH_MS);
  }
  pending.rows.push(row);
  if (pending.rows.length >= BATCH_ROWS) pending.flush();
  return pending.done;
}
