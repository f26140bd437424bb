// Parsed plans kept per isolate by the run objects (issue 15). Every run of a flow brings the same plan text over
// RPC; parsing it again cost each run about as much as the engine's whole work on a small flow, and made garbage.
// Keyed by the text itself (no hash to trust, no staleness: other text is another entry), bounded in entries and in
// text, least recently used out first. The plans handed out are shared between runs, so they are frozen: a run
// that tried to change its plan would fail loudly instead of changing another run's.
import type { Plan } from "../engine/index.ts";
import { LruMap } from "../engine/lru.ts";
import { deepFreeze } from "../engine/values.ts";

const MAX_PLANS = 32;
/** a plan whose text is longer is parsed for each run (about 370 nodes) */
const MAX_PLAN_CHARS = 256 * 1024;

const plans = new LruMap<string, { plan: Plan; runsJs: boolean }>(MAX_PLANS);

/** The plan in `text`, parsed once per isolate while it stays among the recently used; `runsJs` from `test`. */
export function parsedPlan(text: string, runsJs: (text: string) => boolean): { plan: Plan; runsJs: boolean } {
  const known = plans.get(text);
  if (known) return known;
  const entry = { plan: deepFreeze(JSON.parse(text) as Plan), runsJs: runsJs(text) };
  if (text.length <= MAX_PLAN_CHARS) plans.set(text, entry);
  return entry;
}
