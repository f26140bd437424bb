// Run history rows for D1 (`run_history`, the runs list of a flow), written in batches: every run object of an
// isolate adds its row to the open batch, and the object that opened it sends up to BATCH_ROWS rows in one D1 batch
// after BATCH_MS. A D1 call per finished run was the largest platform cost of a short run; a batch costs one. A row
// whose batch failed, or whose object was evicted before it knew, is written by the object's next alarm if D1 does
// not have it.
//
// Each object waits on its own timers and reads the batch's outcome as a plain value: an object must never await a
// promise that another object's request settles. workerd ends such a wait ("Promise will never complete": the
// waiting request has nothing of its own left that could settle it), which under load meant an uncaught error, with
// its trip through the inspector, for about one finished run in ten.

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

// Each D1 call has a fixed cost well above its rows' (issue 15: locally about 2 ms of CPU a call with its tracing
// span, whatever its size; a 4× longer window took the worker's history share of a run from 108 to 42 µs), so a
// batch collects for a quarter of a second: a finished run appears in its flow's list at most that much later.
// A batch closes early at BATCH_ROWS rows or BATCH_CHARS of row text (D1 takes at most 2 MB per value).
const BATCH_MS = 250;
const BATCH_ROWS = 200;
const BATCH_CHARS = 256 * 1024;
/** how often an object that did not open the batch looks for its outcome, and for how long at most */
const POLL_MS = 25;
const OUTCOME_WAIT_MS = 10_000;

// every row of a batch in one statement with one parameter (a JSON array of rows): D1 binds at most 100 parameters
// per statement, and a D1 batch of one statement per row cost a short run more than its whole engine (client-side
// statement objects and a tracing span each)
const COLUMNS = [
  "event_id",
  "flow_id",
  "app_id",
  "uid",
  "chat_id",
  "status",
  "code",
  "message",
  "started_at",
  "ended_at",
  "usage",
  "mode",
] as const;
const INSERT = `INSERT OR REPLACE INTO run_history (${COLUMNS.join(", ")})
  SELECT ${COLUMNS.map((_, i) => `json_extract(value, '$[${i}]')`).join(", ")} FROM json_each(?)`;

interface Batch {
  rows: HistoryRow[];
  /** the rows' text so far (their string columns) */
  chars: number;
  /** undefined until the batch was sent: then whether D1 stored it */
  stored: boolean | undefined;
}

/** the batch that takes new rows, per database */
const open = new WeakMap<D1Database, Batch>();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How much text a row adds to its batch's one parameter. */
function textOf(r: HistoryRow): number {
  return (
    r.eventId.length +
    r.flowId.length +
    r.appId.length +
    r.uid.length +
    r.chatId.length +
    r.status.length +
    r.message.length +
    r.usage.length +
    r.mode.length
  );
}

/** One statement that writes `rows` (in COLUMNS order). */
function statement(db: D1Database, rows: readonly HistoryRow[]): D1PreparedStatement {
  const tuples = rows.map((r) => [
    r.eventId,
    r.flowId,
    r.appId,
    r.uid,
    r.chatId,
    r.status,
    r.code,
    r.message,
    r.startedAt,
    r.endedAt,
    r.usage,
    r.mode,
  ]);
  return db.prepare(INSERT).bind(JSON.stringify(tuples));
}

/** The alarm's second chance: writes the row unless it is there already (a read costs less than a write). */
export async function ensureHistory(db: D1Database, row: HistoryRow): Promise<void> {
  const found = await db.prepare(`SELECT 1 AS x FROM run_history WHERE event_id = ?`).bind(row.eventId).first();
  if (!found) await statement(db, [row]).run();
}

/**
 * Queues a row; resolves true once the batch that holds it is stored, false if that batch failed or its outcome
 * was not known within OUTCOME_WAIT_MS (never rejects).
 */
export async function queueHistory(db: D1Database, row: HistoryRow): Promise<boolean> {
  const current = open.get(db);
  const chars = textOf(row);
  if (current) {
    current.rows.push(row);
    current.chars += chars;
    // a full batch takes no more rows; its opener sends it when its timer fires
    if (current.rows.length >= BATCH_ROWS || current.chars >= BATCH_CHARS) open.delete(db);
    await sleep(BATCH_MS);
    for (let waited = 0; current.stored === undefined && waited < OUTCOME_WAIT_MS; waited += POLL_MS)
      await sleep(POLL_MS);
    return current.stored ?? false;
  }
  const batch: Batch = { rows: [row], chars, stored: undefined };
  if (chars < BATCH_CHARS) open.set(db, batch);
  await sleep(BATCH_MS);
  if (open.get(db) === batch) open.delete(db);
  try {
    await statement(db, batch.rows).run();
    batch.stored = true;
  } catch (e) {
    console.log(
      `[history] ${batch.rows.length} run history rows not written yet: ${e instanceof Error ? e.message : String(e)}`,
    );
    batch.stored = false;
  }
  return batch.stored;
}
