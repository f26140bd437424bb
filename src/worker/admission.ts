// Admission of new runs (issue 15, overload). A process can hold only so many runs at once: under `wrangler dev`
// every run object keeps about five open files (its SQLite database, journal and shared memory, the client's
// connection and the run's own) and about 0.5 MB, and past the process's file limit objects failed to open and
// their callers got 20805 "internal error". A new run is therefore admitted only while the isolate holds fewer than
// MAX_RUNS_IN_FLIGHT runs, before any run object exists; over it the caller gets 503 with Retry-After and 24201.
// A run object's failure that is the platform running out of room (open files, memory, object creation) is
// answered the same way. Runs already admitted are not affected: they run to their end.
import { Codes, WorkflowError } from "../engine/index.ts";
import { reserveRun, runsInFlight } from "../durable/in-flight.ts";

/** Runs in flight per isolate when MAX_RUNS_IN_FLIGHT is not set (about a quarter of a 20,000-file limit) */
export const DEFAULT_MAX_RUNS_IN_FLIGHT = 1000;
/** the largest MAX_RUNS_IN_FLIGHT taken; a larger value is clamped */
export const MAX_RUNS_IN_FLIGHT_CAP = 100_000;
/** seconds a refused caller is asked to wait */
export const RETRY_AFTER_S = 1;

export function maxRunsInFlight(env: { MAX_RUNS_IN_FLIGHT?: string }): number {
  const n = Number(env.MAX_RUNS_IN_FLIGHT);
  if (!Number.isInteger(n) || n < 1) return DEFAULT_MAX_RUNS_IN_FLIGHT;
  return Math.min(n, MAX_RUNS_IN_FLIGHT_CAP);
}

/**
 * A place for new run `id` in this isolate, or undefined when it is full. The function returned gives the place
 * back once the run's object has answered (an object in this isolate has taken it over by then).
 */
export function admitRun(env: { MAX_RUNS_IN_FLIGHT?: string }, id: string): (() => void) | undefined {
  if (runsInFlight() >= maxRunsInFlight(env)) return undefined;
  return reserveRun(id);
}

export function overloaded(): WorkflowError {
  return WorkflowError.of(Codes.RUN_OVERLOADED_ERROR);
}

/** The headers of a 503 answer. */
export function retryAfter(): Record<string, string> {
  return { "Retry-After": String(RETRY_AFTER_S) };
}

/**
 * Whether a run object's exception says the platform could not take the run: out of file handles, out of memory,
 * the object overloaded or not creatable. workerd reports its own failures to the caller only as "internal error;
 * reference = …" (the reason — under `wrangler dev` past the file limit "Too many open files", SQLITE_CANTOPEN — goes
 * to its log), so that text counts as overload too: a failure of the platform, not of the run, that a retry may
 * outlive. A WorkflowError is overload only when it says so (its text may quote anything, a provider's
 * "overloaded" included); other exceptions stay internal errors.
 */
export function isOverload(e: unknown): boolean {
  if (e instanceof WorkflowError) return e.code === Codes.RUN_OVERLOADED_ERROR;
  const text = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return OVERLOAD.test(text);
}

const OVERLOAD =
  /^(Error: )?internal error; reference = |EMFILE|ENFILE|too many open files|out of memory|exceeded (its|the) memory limit|memory limit exceeded|overloaded|SQLITE_CANTOPEN|unable to open database|SQLITE_NOMEM|cannot create durable object|ENOMEM/i;
