// The one owner check (issue 13, ARCHITECTURE decision 10). The auth middleware resolves the caller's app once per
// request; every flow, run, comparison and file operation goes through these helpers with it. Another app's resource
// answers exactly like a missing one (never "forbidden"), so ids of other apps cannot be probed.
//
// Who may do what:
// - a flow's records (get, update, delete, build, comparisons, debug runs of its draft or versions): its app only
//   (`flow.app_id`); a flow is created for the caller's app;
// - open runs of a published flow: every app holding its licence (spec §1.5.1), checked by the catalog;
// - publish and licences: tenant apps (`is_tenant = 1`, spec §1.4), the platform's own console;
// - a run (resume, cancel, events, status): the app that started it, checked again by the run object itself.
import { Codes, WorkflowError } from "../engine/index.ts";
import type { RunObject, RunSummary } from "../durable/run-object.ts";
import { appId, catalog, type Ctx } from "./context.ts";
import type { FlowRow } from "./store/catalog.ts";

/** The caller's own flow, or 20201 "flow not found" (also for another app's flow). */
export async function ownFlow(c: Ctx, flowId: string): Promise<FlowRow> {
  return catalog(c).ownFlow(flowId, appId(c));
}

/**
 * `app_id` named in a request body must be the caller's app (or be left out): a body field never widens what the
 * credentials allow. Answers the caller's app.
 */
export function bodyAppId(c: Ctx, named: string | undefined): string {
  const caller = appId(c);
  if (named && named !== caller)
    throw new WorkflowError(
      Codes.PARAM_ERROR,
      "Parameter: body->app_id, Error: must be the app the request is authenticated for",
    );
  return caller;
}

/** The run's object; every method takes the caller's app and refuses another's. */
export function runStub(c: Ctx, eventId: string): DurableObjectStub<RunObject> {
  return runObject(c.env.RUN, eventId);
}

/**
 * The object of run `runId`: the one `idFromName(runId)` names, addressed by its id without the name. Under
 * `wrangler dev` miniflare wraps every Durable Object class so that an object reached through a name writes that
 * name into its own SQLite (for its local explorer): a `blockConcurrencyWhile`, a table created and a row written in
 * every new run's database (BENCHMARKS.md: "Run objects without their name"). A run keeps its id in its own row, so
 * the name is not needed; the object is the same one, so a run started before this change is reached as before.
 */
export function runObject(ns: DurableObjectNamespace<RunObject>, runId: string): DurableObjectStub<RunObject> {
  return ns.get(ns.idFromString(ns.idFromName(runId).toString()));
}

/** The caller's run's summary, or null (no such run, or another app's). */
export async function ownRunSummary(c: Ctx, eventId: string, app: string): Promise<RunSummary | null> {
  return (await runStub(c, eventId).summary(app)) as RunSummary | null;
}
