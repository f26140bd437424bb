// Runs in flight in this isolate (issue 15, overload). The worker reserves a place for a new run before it creates
// the run's object; the object, when it launches the run, takes the reservation over if it lives in the same isolate
// (always under `wrangler dev`, where one workerd isolate serves the worker and every object) or takes a place of
// its own, and gives it back when the run stops executing. Each run is counted once per isolate that holds it: a
// non-streaming caller that waits for the whole run does not count it twice.

let held = 0;
/** reservations by run id, until their object takes them over or the worker gives them back */
const reserved = new Map<string, () => void>();

/** Runs this isolate holds now (executing, or reserved by the worker and not yet launched). */
export function runsInFlight(): number {
  return held;
}

function place(): () => void {
  held++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    held--;
  };
}

/**
 * The worker's reservation for run `id`. The function returned gives it back unless the run's object took it over
 * (then the object gives it back when the run stops executing).
 */
export function reserveRun(id: string): () => void {
  const release = place();
  // the same run started twice at once (a repeated webhook delivery): the second place is the worker's own
  if (reserved.has(id)) return release;
  reserved.set(id, release);
  return () => {
    if (reserved.get(id) !== release) return;
    reserved.delete(id);
    release();
  };
}

/** Holds a place for run `id` until `execution` settles: the worker's reservation when there is one here. */
export function holdWhile(id: string, execution: Promise<void>): Promise<void> {
  const taken = reserved.get(id);
  if (taken) reserved.delete(id);
  return execution.finally(taken ?? place());
}
