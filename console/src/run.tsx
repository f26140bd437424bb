// A run's page (/console/runs/{id}, a stable link): the picture in the run's states, a waterfall of node timings,
// each node's inputs, outputs, error and tokens, every frame in order — and, while the run goes on, the live view
// through GET /runs/{id}/events (a reload replays from the first frame; a dropped connection continues after the last
// one with Last-Event-ID).
import type { JSX } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, type RunRow, type RunView, type Session } from "./api.ts";
import { aliasOf, dslOf, typeInfo, type Dsl } from "./dsl.ts";
import { FlowTabs, type FlowRecord } from "./flow.tsx";
import { FlowGraph } from "./graph.tsx";
import { useLive } from "./live.ts";
import { STATUS_TEXT, statusOf, type NodeStatus } from "./run-state.ts";
import { Alert, Badge, duration, Json, Link, NodeDetails, QuestionForm, tokens, when } from "./ui.tsx";

function Waterfall(props: {
  view: RunView;
  dsl: Dsl;
  states: Record<string, NodeStatus>;
  onSelect: (id: string) => void;
}): JSX.Element {
  const byId = new Map(props.dsl.nodes.map((n) => [n.id, n]));
  const rows = Object.entries(props.view.nodes).sort((a, b) => a[1].startedAt - b[1].startedAt);
  const t0 = props.view.createdAt;
  const end = Math.max(t0 + 1, props.view.updatedAt, ...rows.map(([, t]) => t.endedAt));
  const span = end - t0;
  return (
    <section class="timeline" aria-label="Timeline">
      <h2>Timeline</h2>
      <p class="muted">
        Where the time went: each node from its first to its last frame, on the run's {duration(span)}.
      </p>
      <ol class="waterfall">
        {rows.map(([id, t]) => {
          const n = byId.get(id);
          const st = props.states[id] ?? "done";
          const left = ((t.startedAt - t0) / span) * 100;
          const width = Math.max(((t.endedAt - t.startedAt) / span) * 100, 0.6);
          return (
            <li key={id} data-node={id}>
              <button
                type="button"
                class="wf-label"
                title="Show this node's inputs, outputs and error"
                onClick={() => props.onSelect(id)}
              >
                <span aria-hidden="true">{typeInfo(id).glyph} </span>
                {n ? aliasOf(n) : id}
              </button>
              <span class="wf-track" aria-hidden="true">
                <span class={`wf-bar st-${st}`} style={{ left: `${left}%`, width: `${width}%` }} />
              </span>
              <span class="wf-time">
                {duration(t.endedAt - t.startedAt)} · {STATUS_TEXT[st].icon} {STATUS_TEXT[st].text}
                {t.code ? ` (code ${t.code})` : ""}
                {t.usage?.total_tokens ? ` · ${t.usage.total_tokens} tokens` : ""}
              </span>
            </li>
          );
        })}
      </ol>
    </section>
  );
}

export function RunPage(props: { session: Session; id: string }): JSX.Element {
  const [view, setView] = useState<RunView | null>(null);
  const [flow, setFlow] = useState<FlowRecord | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const refresh = useRef<() => void>(() => undefined);
  const live = useLive(props.session, () => refresh.current());

  refresh.current = () => {
    api<RunView>(props.session, `/runs/${encodeURIComponent(props.id)}`)
      .then(setView)
      .catch(() => undefined);
  };

  useEffect(() => {
    let alive = true;
    api<RunView>(props.session, `/runs/${encodeURIComponent(props.id)}`)
      .then(async (v) => {
        if (!alive) return;
        setView(v);
        const rec = await api<{ data: FlowRecord }>(props.session, "/workflow/v1/protocol/get", {
          body: { flow_id: v.flowId },
        }).catch(() => null);
        if (alive && rec) setFlow(rec.data);
        if (alive) void live.attach(v.id, v.mode);
      })
      .catch((e: unknown) => alive && setError(e instanceof Error ? e.message : String(e)));
    return () => {
      alive = false;
    };
    // once per run id: the attached stream must not restart on a re-render
  }, [props.session, props.id]);

  // node timings while the run goes on: refreshed when a node ends
  const ends = Object.values(live.run.nodes).filter((n) => n.status !== "running").length;
  useEffect(() => {
    if (ends > 0) refresh.current();
  }, [ends]);

  const dsl = useMemo<Dsl>(
    () => dslOf(view?.mode === "open" ? (flow?.release_data ?? flow?.data) : flow?.data),
    [flow, view],
  );
  const run = live.run;
  const states = useMemo(() => {
    const out: Record<string, NodeStatus> = {};
    for (const n of dsl.nodes) out[n.id] = statusOf(run, n.id);
    return out;
  }, [run, dsl]);

  if (error)
    return (
      <p class="error" role="alert">
        Could not load the run: {error}
      </p>
    );
  if (!view) return <p aria-live="polite">Loading…</p>;
  const status = run.ended
    ? run.ended.code === 0
      ? "completed"
      : view.status === "cancelled"
        ? "cancelled"
        : "failed"
    : run.interrupt
      ? "interrupt"
      : view.status;
  const node = dsl.nodes.find((n) => n.id === selected);
  const failure = run.ended && run.ended.code !== 0 ? run.ended : view.error;
  return (
    <>
      <p class="crumbs">
        <Link href={`/console/flows/${view.flowId}/runs`}>← Runs of {flow?.name ?? view.flowId}</Link>
      </p>
      <h1>
        Run <code class="runid">{view.id}</code>
      </h1>
      {flow ? <FlowTabs id={view.flowId} name={flow.name} current="runs" /> : null}
      <dl class="facts">
        <div>
          <dt>Status</dt>
          <dd id="run-status">
            <Badge status={status} />
          </dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{when(view.createdAt)}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>{duration(view.updatedAt - view.createdAt)}</dd>
        </div>
        <div>
          <dt>Tokens</dt>
          <dd>{tokens(run.ended?.usage ?? view.usage)}</dd>
        </div>
        <div>
          <dt>Mode</dt>
          <dd>{view.mode}</dd>
        </div>
      </dl>
      {failure ? (
        <p class="error" role="alert">
          Failed with code {failure.code}: {failure.message}
        </p>
      ) : null}
      {run.interrupt ? (
        <QuestionForm question={run.interrupt} busy={false} onAnswer={(c, t) => void live.answer(c, t)} />
      ) : null}
      {!run.ended && status === "running" ? (
        <button type="button" onClick={() => void live.cancel()}>
          Cancel the run
        </button>
      ) : null}
      <div class="flow-layout">
        <section class="picture" aria-label="Run picture">
          <h2>Picture</h2>
          {dsl.nodes.length ? (
            <FlowGraph
              dsl={dsl}
              states={states}
              selected={selected}
              onSelect={setSelected}
              label="The run's flow, each node in its state"
            />
          ) : (
            <p class="muted">The flow is no longer available.</p>
          )}
          {node ? (
            <NodeDetails
              node={node}
              run={run.nodes[node.id]}
              status={states[node.id]}
              timing={
                view.nodes[node.id]
                  ? duration((view.nodes[node.id]?.endedAt ?? 0) - (view.nodes[node.id]?.startedAt ?? 0))
                  : undefined
              }
            />
          ) : (
            <p class="muted">Select a node to see its inputs, outputs and error.</p>
          )}
        </section>
        <section class="run-panel" aria-label="Answer and inputs">
          <h2>Inputs</h2>
          <Json label="run inputs" value={view.inputs} />
          <h2>Answer</h2>
          <output class="answer" aria-live="polite" aria-label="Answer">
            {run.answer}
          </output>
        </section>
      </div>
      <Waterfall
        view={view}
        dsl={dsl}
        states={states}
        onSelect={(id) => {
          setSelected(id);
          document.querySelector(".picture")?.scrollIntoView({ behavior: "smooth" });
        }}
      />
      <section aria-label="Frames">
        <h2>Frames</h2>
        <p class="muted" aria-live="polite">
          {run.seqs.length} frames received
        </p>
        <details>
          <summary>Every frame's sequence number</summary>
          <ol class="frames" id="frame-seqs">
            {run.seqs.map((s) => (
              <li key={s} data-seq={s}>
                {s}
              </li>
            ))}
          </ol>
        </details>
      </section>
      <Alert text={live.error} />
    </>
  );
}

const FILTERS = ["", "completed", "failed", "cancelled"] as const;

/** A flow's runs, newest first, filterable by status, paged. */
export function RunsPage(props: { session: Session; id: string }): JSX.Element {
  const [rows, setRows] = useState<RunRow[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [status, setStatus] = useState<string>("");
  const [name, setName] = useState<string>("");
  const [error, setError] = useState<string | null>(null);
  const load = (query: string, append: boolean): void => {
    api<{ runs: RunRow[]; next: string | null }>(props.session, `/flows/${encodeURIComponent(props.id)}/runs${query}`)
      .then((r) => {
        setRows((old) => (append ? [...(old ?? []), ...r.runs] : r.runs));
        setNext(r.next);
      })
      .catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  };
  useEffect(() => {
    load(`?limit=20${status ? `&status=${status}` : ""}`, false);
    // reloaded when the flow or the filter changes
  }, [props.id, status]);
  useEffect(() => {
    api<{ data: FlowRecord }>(props.session, "/workflow/v1/protocol/get", { body: { flow_id: props.id } })
      .then((r) => setName(r.data.name))
      .catch(() => undefined);
  }, [props.session, props.id]);
  return (
    <>
      <h1>{name || props.id}</h1>
      <FlowTabs id={props.id} name={name} current="runs" />
      <h2>Runs</h2>
      <p class="muted">
        Finished runs of this app, newest first. A run still going appears here when it ends; until then its page
        (linked from where it was started) follows it live.
      </p>
      <p>
        <label for="status-filter">Status</label>{" "}
        <select id="status-filter" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
          {FILTERS.map((f) => (
            <option key={f} value={f}>
              {f || "any"}
            </option>
          ))}
        </select>{" "}
        <button type="button" onClick={() => load(`?limit=20${status ? `&status=${status}` : ""}`, false)}>
          Refresh
        </button>
      </p>
      <Alert text={error} />
      {rows === null ? (
        <p>Loading…</p>
      ) : rows.length === 0 ? (
        <p>No finished runs{status ? ` with status ${status}` : ""} yet.</p>
      ) : (
        <table class="list" aria-label="Runs, newest first">
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Status</th>
              <th scope="col">Started</th>
              <th scope="col">Duration</th>
              <th scope="col">Tokens</th>
              <th scope="col">Mode</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id} data-run={r.id}>
                <td>
                  <Link href={`/console/runs/${r.id}`}>
                    <code>{r.id.slice(0, 12)}…</code>
                  </Link>
                </td>
                <td>
                  <Badge status={r.status} />
                  {r.code ? <span class="muted"> {r.code}</span> : null}
                </td>
                <td>{when(r.startedAt)}</td>
                <td>{duration(r.endedAt - r.startedAt)}</td>
                <td>{tokens(r.usage)}</td>
                <td>{r.mode}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {next ? (
        <button type="button" onClick={() => load(next, true)}>
          More runs
        </button>
      ) : null}
    </>
  );
}
