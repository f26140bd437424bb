// Following a run live: its frames from a chat or resume stream, or from the runs API's event stream (numbered, so a
// reconnect with Last-Event-ID continues exactly after the last frame shown). The state re-renders on every frame.
import { useRef, useState } from "preact/hooks";
import { api, events, readEvents, stream, type RunView, type Session } from "./api.ts";
import { applyFrame, emptyRun, type RunState } from "./run-state.ts";

export interface Live {
  run: RunState;
  runId: string | null;
  /** the run was cancelled from this page */
  cancelled: boolean;
  busy: boolean;
  error: string | null;
  /** starts a run: `open` = the published flow through the open API (its node states come from the event stream) */
  start(flowId: string, parameters: Record<string, unknown>, target: { open: boolean; version: string }): Promise<void>;
  /** answers the pending question */
  answer(content: string, type: "resume" | "ignore"): Promise<void>;
  cancel(): Promise<void>;
  /** follows a run through GET /runs/{id}/events from its first frame (or after the last one shown) */
  attach(runId: string, mode: "open" | "debug"): Promise<void>;
}

export function useLive(session: Session, onEnd?: (runId: string) => void): Live {
  const [run, setRun] = useState<RunState>(emptyRun);
  const [runId, setRunId] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [cancelled, setCancelled] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const last = useRef({ seq: 0, ended: false, interrupted: false, mode: "debug" as "open" | "debug", id: "" });

  const apply = (frame: Parameters<typeof applyFrame>[1], seq: number | null): void => {
    if (seq !== null) {
      // a replayed frame already shown (never expected; guards the "every frame once" promise)
      if (seq <= last.current.seq) return;
      last.current.seq = seq;
    }
    const c = frame.choices?.[0]?.finish_reason;
    if (c === "stop") last.current.ended = true;
    if (c === "interrupt") last.current.interrupted = true;
    setRun((r) => applyFrame(r, frame, seq));
  };

  /**
   * A stream that ended without a final frame: a dropped connection, or a run that ended without one (a cancelled
   * run's stream just closes). The run's summary says which; an ended run is shown as ended.
   */
  const settle = async (id: string): Promise<boolean> => {
    const v = await api<RunView>(session, `/runs/${encodeURIComponent(id)}`).catch(() => null);
    if (!v || v.status === "running" || v.status === "interrupt") return false;
    last.current.ended = true;
    const ended = { code: v.error?.code ?? 0, message: v.error?.message ?? "Success", usage: v.usage ?? undefined };
    setRun((r) => (r.ended ? r : { ...r, ended, interrupt: null }));
    if (v.status === "cancelled") setCancelled(true);
    return true;
  };

  /** the runs API stream until the run's next final frame; reconnects after a dropped connection */
  const follow = async (id: string): Promise<void> => {
    for (let tries = 0; tries < 20 && !last.current.ended && !last.current.interrupted; tries++) {
      try {
        const res = await events(session, id, last.current.seq);
        if (!res.ok) {
          const body = (await res.json().catch(() => ({}))) as { message?: string };
          const err = new Error(body.message ?? `HTTP ${res.status}`);
          if (res.status < 500) tries = 99; // not found, not allowed: no point in asking again
          throw err;
        }
        await readEvents(res, (e) => apply(e.frame, e.id));
        if (!last.current.ended && !last.current.interrupted && (await settle(id))) return;
      } catch (e) {
        if (tries >= 19) throw e;
        // a dropped connection: ask again after the last frame shown (Last-Event-ID)
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };

  const guard = async (what: () => Promise<void>): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await what();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
      if (last.current.ended && last.current.id) onEnd?.(last.current.id);
    }
  };

  return {
    run,
    runId,
    cancelled,
    busy,
    error,
    start: (flowId, parameters, target) =>
      guard(async () => {
        setRun(emptyRun());
        setCancelled(false);
        last.current = { seq: 0, ended: false, interrupted: false, mode: target.open ? "open" : "debug", id: "" };
        const path = target.open ? "/workflow/v1/chat/completions" : "/workflow/v1/debug/chat/completions";
        const res = await stream(session, path, {
          flow_id: flowId,
          parameters,
          stream: true,
          ...(target.version ? { version: target.version } : {}),
        });
        const id = res.headers.get("x-run-id");
        setRunId(id);
        last.current.id = id ?? "";
        if (target.open && id) {
          // the open stream carries only the answer: the node states come from the run's own event stream; the open
          // stream is read to its end all the same (a client that leaves cancels the run)
          await Promise.all([readEvents(res, () => undefined), follow(id)]);
        } else {
          await readEvents(res, (e) => apply(e.frame, null));
          if (id && !last.current.ended && !last.current.interrupted) await settle(id);
        }
      }),
    answer: (content, type) =>
      guard(async () => {
        const id = last.current.id;
        if (!id) return;
        last.current.interrupted = false;
        setRun((r) => ({ ...r, interrupt: null }));
        const path = last.current.mode === "open" ? "/workflow/v1/resume" : "/workflow/v1/debug/resume";
        const res = await stream(session, path, { event_id: id, event_type: type, content });
        if (last.current.seq > 0 || last.current.mode === "open") {
          // a page that follows the numbered event stream goes on with it; the resume answer is read to its end
          await Promise.all([readEvents(res, () => undefined), follow(id)]);
        } else {
          await readEvents(res, (e) => apply(e.frame, null));
          if (!last.current.ended && !last.current.interrupted) await settle(id);
        }
      }),
    cancel: async () => {
      const id = last.current.id;
      if (!id) return;
      try {
        const r = await api<{ cancelled: boolean }>(session, `/runs/${encodeURIComponent(id)}/cancel`, {
          method: "POST",
        });
        if (r.cancelled) setCancelled(true);
      } catch (e) {
        setError(e instanceof Error ? e.message : String(e));
      }
    },
    attach: (id, mode) =>
      guard(async () => {
        setRunId(id);
        last.current = { seq: 0, ended: false, interrupted: false, mode, id };
        setRun(emptyRun());
        await follow(id);
      }),
  };
}
