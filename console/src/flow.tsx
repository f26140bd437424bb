// A flow's page: its picture (live node states while a run goes), the selected node's details, and the run panel
// — a form generated from the start node's declared outputs, draft or published version, the answer as it streams,
// progress, the question of a question-answer node, cancel.
import type { JSX } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, upload, type FlowListing, type Session } from "./api.ts";
import { dslOf, startNode, type Dsl, type DslVar } from "./dsl.ts";
import { FlowGraph } from "./graph.tsx";
import { useLive } from "./live.ts";
import { statusOf, type NodeStatus } from "./run-state.ts";
import { Alert, Badge, duration, Link, NodeDetails, QuestionForm } from "./ui.tsx";

export interface FlowRecord {
  id: string;
  name: string;
  description: string;
  data: unknown;
  release_data: unknown;
}

/** The flow's record and its line of the flow list (published versions). */
export function useFlow(
  session: Session,
  id: string,
): { flow: FlowRecord | null; listing: FlowListing | null; error: string | null } {
  const [flow, setFlow] = useState<FlowRecord | null>(null);
  const [listing, setListing] = useState<FlowListing | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    Promise.all([
      api<{ data: FlowRecord }>(session, "/workflow/v1/protocol/get", { body: { flow_id: id } }),
      api<{ flows: FlowListing[] }>(session, "/flows"),
    ])
      .then(([rec, list]) => {
        if (!live) return;
        setFlow(rec.data);
        setListing(list.flows.find((f) => f.id === id) ?? null);
      })
      .catch((e: unknown) => live && setError(e instanceof Error ? e.message : String(e)));
    return () => {
      live = false;
    };
  }, [session, id]);
  return { flow, listing, error };
}

export function FlowTabs(props: { id: string; name: string; current: "run" | "runs" | "hooks" }): JSX.Element {
  const tab = (key: "run" | "runs" | "hooks", href: string, text: string): JSX.Element => (
    <li>
      <Link href={href} class={props.current === key ? "current" : ""} current={props.current === key}>
        {text}
      </Link>
    </li>
  );
  return (
    <nav aria-label="Flow sections" class="tabs">
      <ul>
        {tab("run", `/console/flows/${props.id}`, "Picture and run")}
        {tab("runs", `/console/flows/${props.id}/runs`, "Runs")}
        {tab("hooks", `/console/flows/${props.id}/hooks`, "Webhooks")}
      </ul>
    </nav>
  );
}

type FieldKind = "string" | "number" | "integer" | "boolean" | "json" | "file";

function kindOf(v: DslVar): FieldKind {
  if (v.fileType === "file") return "file";
  const t = v.schema?.type ?? "string";
  if (t === "object" || t === "array") return "json";
  return t === "number" || t === "integer" || t === "boolean" ? t : "string";
}

/** The run form: one labelled control per start parameter, validated before the run starts. */
function RunForm(props: {
  session: Session;
  params: DslVar[];
  targets: { value: string; label: string }[];
  busy: boolean;
  onRun: (parameters: Record<string, unknown>, target: string) => void;
}): JSX.Element {
  const [values, setValues] = useState<Record<string, string | boolean>>(() =>
    Object.fromEntries(
      props.params.map((p) => {
        const d = p.schema?.default;
        return [
          p.name,
          kindOf(p) === "boolean"
            ? d === true
            : d === undefined || d === null
              ? ""
              : typeof d === "string"
                ? d
                : JSON.stringify(d),
        ];
      }),
    ),
  );
  const [files, setFiles] = useState<Record<string, File[]>>({});
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [target, setTarget] = useState(props.targets[0]?.value ?? "draft");
  const [uploading, setUploading] = useState(false);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const out: Record<string, unknown> = {};
    const bad: Record<string, string> = {};
    for (const p of props.params) {
      const k = kindOf(p);
      const raw = values[p.name];
      if (k === "file") {
        const list = files[p.name] ?? [];
        if (list.length === 0) {
          if (p.required) bad[p.name] = "choose a file";
          continue;
        }
        try {
          setUploading(true);
          const urls = await upload(props.session, list);
          out[p.name] = p.schema?.type === "array" ? urls : urls[0];
        } catch (err) {
          bad[p.name] = `upload failed: ${err instanceof Error ? err.message : String(err)}`;
        } finally {
          setUploading(false);
        }
        continue;
      }
      if (k === "boolean") {
        out[p.name] = raw === true;
        continue;
      }
      const text = String(raw ?? "");
      if (text === "") {
        if (p.required) bad[p.name] = "required";
        continue;
      }
      if (k === "number" || k === "integer") {
        const n = Number(text);
        if (!Number.isFinite(n) || (k === "integer" && !Number.isInteger(n)))
          bad[p.name] = `must be ${k === "integer" ? "a whole number" : "a number"}`;
        else out[p.name] = n;
      } else if (k === "json") {
        try {
          const v = JSON.parse(text) as unknown;
          const want = p.schema?.type;
          if (want === "array" ? !Array.isArray(v) : v === null || typeof v !== "object" || Array.isArray(v))
            bad[p.name] = `must be a JSON ${want}`;
          else out[p.name] = v;
        } catch {
          bad[p.name] = "not valid JSON";
        }
      } else out[p.name] = text;
    }
    setProblems(bad);
    if (Object.keys(bad).length === 0) props.onRun(out, target);
  };

  return (
    <form class="run-form" aria-label="Run the flow" onSubmit={(e) => void submit(e)} noValidate>
      {props.params.map((p) => {
        const k = kindOf(p);
        const id = `param-${p.name}`;
        const hint = p.schema?.description;
        const err = problems[p.name];
        const described = [hint ? `${id}-hint` : "", err ? `${id}-error` : ""].filter(Boolean).join(" ") || undefined;
        return (
          <div class="field" key={p.name}>
            <label for={id}>
              {p.name}{" "}
              <span class="muted">
                ({k === "json" ? `${p.schema?.type} as JSON` : k}
                {p.required ? ", required" : ""})
              </span>
            </label>
            {k === "boolean" ? (
              <input
                id={id}
                type="checkbox"
                checked={values[p.name] === true}
                aria-describedby={described}
                onChange={(e) => setValues({ ...values, [p.name]: e.currentTarget.checked })}
              />
            ) : k === "file" ? (
              <input
                id={id}
                type="file"
                multiple={p.schema?.type === "array"}
                aria-describedby={described}
                onChange={(e) => setFiles({ ...files, [p.name]: [...(e.currentTarget.files ?? [])] })}
              />
            ) : k === "json" || (k === "string" && p.name === "AGENT_USER_INPUT") ? (
              <textarea
                id={id}
                rows={k === "json" ? 4 : 2}
                value={String(values[p.name] ?? "")}
                aria-invalid={err ? true : undefined}
                aria-describedby={described}
                onInput={(e) => setValues({ ...values, [p.name]: e.currentTarget.value })}
              />
            ) : k === "string" ? (
              <input
                id={id}
                type="text"
                value={String(values[p.name] ?? "")}
                aria-invalid={err ? true : undefined}
                aria-describedby={described}
                onInput={(e) => setValues({ ...values, [p.name]: e.currentTarget.value })}
              />
            ) : (
              <input
                id={id}
                type="number"
                step={k === "integer" ? 1 : "any"}
                value={String(values[p.name] ?? "")}
                aria-invalid={err ? true : undefined}
                aria-describedby={described}
                onInput={(e) => setValues({ ...values, [p.name]: e.currentTarget.value })}
              />
            )}
            {hint ? (
              <small id={`${id}-hint`} class="muted">
                {hint}
              </small>
            ) : null}
            {err ? (
              <small id={`${id}-error`} class="error">
                {err}
              </small>
            ) : null}
          </div>
        );
      })}
      <div class="field">
        <label for="run-target">Version</label>
        <select id="run-target" value={target} onChange={(e) => setTarget(e.currentTarget.value)}>
          {props.targets.map((t) => (
            <option key={t.value} value={t.value}>
              {t.label}
            </option>
          ))}
        </select>
      </div>
      <button type="submit" class="primary" disabled={props.busy || uploading}>
        {uploading ? "Uploading…" : "Run"}
      </button>
    </form>
  );
}

export function FlowPage(props: { session: Session; id: string }): JSX.Element {
  const { flow, listing, error } = useFlow(props.session, props.id);
  const [selected, setSelected] = useState<string | null>(null);
  const [target, setTarget] = useState("draft");
  const live = useLive(props.session);
  const draft = useMemo<Dsl>(() => dslOf(flow?.data), [flow]);
  const published = useMemo<Dsl>(() => dslOf(flow?.release_data ?? flow?.data), [flow]);
  const dsl = target === "draft" ? draft : published;
  const run = live.run;
  const started = live.runId !== null || run.frames > 0;
  const states = useMemo(() => {
    if (!started) return undefined;
    const out: Record<string, NodeStatus> = {};
    for (const n of dsl.nodes) out[n.id] = statusOf(run, n.id);
    return out;
  }, [run, dsl, started]);

  if (error)
    return (
      <p class="error" role="alert">
        Could not load the flow: {error}
      </p>
    );
  if (!flow) return <p aria-live="polite">Loading…</p>;
  const targets = [
    { value: "draft", label: "Draft (debug run)" },
    ...(listing?.published ? [{ value: "open", label: "Published, latest (open run)" }] : []),
    ...(listing?.versions ?? []).map((v) => ({ value: `v:${v}`, label: `Published ${v} (debug run)` })),
  ];
  const node = dsl.nodes.find((n) => n.id === selected);
  const start = startNode(dsl);
  const ended = run.ended;
  return (
    <>
      <h1>{flow.name || flow.id}</h1>
      {flow.description ? <p class="muted">{flow.description}</p> : null}
      <FlowTabs id={props.id} name={flow.name} current="run" />
      <div class="flow-layout">
        <section class="picture" aria-label="Flow picture">
          <h2>Picture</h2>
          <FlowGraph
            dsl={dsl}
            states={states}
            selected={selected}
            onSelect={setSelected}
            label={`The flow ${flow.name} as a graph: ${dsl.nodes.length} nodes`}
          />
          {node ? (
            <NodeDetails
              node={node}
              run={run.nodes[node.id]}
              status={states?.[node.id]}
              timing={
                run.nodes[node.id]?.executedTime !== undefined
                  ? duration((run.nodes[node.id]?.executedTime ?? 0) * 1000)
                  : undefined
              }
            />
          ) : (
            <p class="muted">Select a node (click it, or Tab to it and press Enter) to see its parameters.</p>
          )}
        </section>
        <section class="run-panel" aria-label="Run">
          <h2>Run</h2>
          <RunForm
            session={props.session}
            params={start?.data.outputs ?? []}
            targets={targets}
            busy={live.busy}
            onRun={(parameters, t) => {
              setTarget(t === "draft" ? "draft" : "published");
              void live.start(props.id, parameters, {
                open: t === "open",
                version: t.startsWith("v:") ? t.slice(2) : "",
              });
            }}
          />
          {started ? (
            <div class="live" aria-label="Current run">
              <p>
                {ended ? (
                  <Badge status={ended.code === 0 ? "completed" : live.cancelled ? "cancelled" : "failed"} />
                ) : run.interrupt ? (
                  <Badge status="interrupt" />
                ) : (
                  <Badge status="running" />
                )}{" "}
                {live.runId ? (
                  ended ? (
                    <Link href={`/console/runs/${live.runId}`}>Open the run's page</Link>
                  ) : (
                    // leaving this page would end the stream and with it the run: the run's page opens beside it
                    <a href={`/console/runs/${live.runId}`} target="_blank" rel="noopener">
                      Watch on the run's page (new tab)
                    </a>
                  )
                ) : null}
              </p>
              <label for="progress">Progress</label>{" "}
              <progress id="progress" max={1} value={run.progress}>
                {Math.round(run.progress * 100)}%
              </progress>{" "}
              <span>{Math.round(run.progress * 100)}%</span>
              {!ended && live.busy ? (
                <button type="button" onClick={() => void live.cancel()}>
                  Cancel the run
                </button>
              ) : null}
              <h3>Answer</h3>
              {run.reasoning ? <p class="reasoning">{run.reasoning}</p> : null}
              <output class="answer" aria-live="polite" aria-label="Answer">
                {run.answer}
              </output>
              {run.interrupt ? (
                <QuestionForm question={run.interrupt} busy={false} onAnswer={(c, t) => void live.answer(c, t)} />
              ) : null}
              {ended && ended.code !== 0 ? (
                <p class="error" role="alert">
                  {live.cancelled ? "Cancelled" : "Failed"} with code {ended.code}: {ended.message}
                </p>
              ) : null}
              {ended?.usage ? <p class="muted">Tokens: {ended.usage.total_tokens}</p> : null}
            </div>
          ) : null}
          <Alert text={live.error} />
        </section>
      </div>
    </>
  );
}
