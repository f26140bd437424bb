// Small shared pieces: links that route inside the page, status badges (icon + text, colour only as a third cue),
// JSON blocks, times and durations, a node's details, and the question form of a question-answer node.
import type { ComponentChildren, JSX } from "preact";
import { useState } from "preact/hooks";
import type { Interrupt, Usage } from "./api.ts";
import { aliasOf, masked, typeInfo, type DslNode, type DslVar } from "./dsl.ts";
import { STATUS_TEXT, type NodeRun, type NodeStatus } from "./run-state.ts";

export function navigate(to: string): void {
  history.pushState(null, "", to);
  dispatchEvent(new PopStateEvent("popstate"));
}

export function Link(props: {
  href: string;
  children: ComponentChildren;
  class?: string;
  label?: string;
  current?: boolean;
}): JSX.Element {
  return (
    <a
      href={props.href}
      class={props.class}
      aria-label={props.label}
      aria-current={props.current ? "page" : undefined}
      onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(props.href);
      }}
    >
      {props.children}
    </a>
  );
}

const RUN_STATUS: Record<string, { icon: string; cls: string }> = {
  running: { icon: "◔", cls: "running" },
  interrupt: { icon: "?", cls: "waiting" },
  completed: { icon: "✓", cls: "done" },
  failed: { icon: "✕", cls: "failed" },
  cancelled: { icon: "⊘", cls: "cancelled" },
};

/** A run's or node's status: icon and word, coloured. */
export function Badge(props: { status: string }): JSX.Element {
  const node = STATUS_TEXT[props.status as NodeStatus];
  const run = RUN_STATUS[props.status];
  const icon = run?.icon ?? node?.icon ?? "•";
  const text = props.status === "interrupt" ? "waiting for an answer" : (node?.text ?? props.status);
  return (
    <span class={`badge st-${run?.cls ?? props.status}`} data-status={props.status}>
      <span aria-hidden="true">{icon}</span> {text}
    </span>
  );
}

export function Json(props: { value: unknown; label: string }): JSX.Element {
  return (
    <pre class="json" aria-label={props.label} tabIndex={0}>
      {JSON.stringify(props.value, null, 2)}
    </pre>
  );
}

/** An error line read out by screen readers; nothing when there is no error. */
export function Alert(props: { text: string | null | undefined }): JSX.Element | null {
  return props.text ? (
    <p class="error" role="alert">
      {props.text}
    </p>
  ) : null;
}

export const when = (ms: number): string => new Date(ms).toLocaleString();

export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export const tokens = (u: Usage | null | undefined): string => (u ? String(u.total_tokens) : "—");

function vars(list: DslVar[] | undefined): Record<string, unknown> {
  return Object.fromEntries(
    (list ?? []).map((v) => [
      v.name,
      v.schema?.value
        ? v.schema.value.type === "ref"
          ? `← ${String((v.schema.value.content as { nodeId?: string; name?: string }).name ?? "")} of ${String((v.schema.value.content as { nodeId?: string }).nodeId ?? "")}`
          : v.schema.value.content
        : (v.schema?.type ?? ""),
    ]),
  );
}

/** The selected node: what the flow declares, and (in a run) what it received, produced, and how it ended. */
export function NodeDetails(props: {
  node: DslNode;
  run?: NodeRun;
  status?: NodeStatus;
  timing?: string;
}): JSX.Element {
  const { node, run } = props;
  const retry = node.data.retryConfig as { shouldRetry?: boolean; maxRetries?: number; timeout?: number } | undefined;
  return (
    <section class="details" aria-label={`Node ${aliasOf(node)}`}>
      <h3>
        <span aria-hidden="true">{typeInfo(node.id).glyph}</span> {aliasOf(node)}{" "}
        <small>
          {typeInfo(node.id).label} · <code>{node.id}</code>
        </small>
      </h3>
      {props.status ? (
        <p>
          <Badge status={props.status} />
          {props.timing ? <span class="muted"> {props.timing}</span> : null}
          {run?.usage ? <span class="muted"> · {run.usage.total_tokens} tokens</span> : null}
        </p>
      ) : null}
      {run?.error ? (
        <p class="error" role="status">
          Error {run.error.code}: {run.error.message}
        </p>
      ) : null}
      {retry?.shouldRetry ? (
        <p class="muted">
          Retries: up to {retry.maxRetries ?? 0}, {retry.timeout ?? 60} s per attempt
        </p>
      ) : null}
      {run?.inputs ? <Json label="inputs received" value={run.inputs} /> : null}
      {run?.outputs && Object.keys(run.outputs).length ? <Json label="outputs produced" value={run.outputs} /> : null}
      {run?.raw !== undefined && run.raw !== "" ? <Json label="raw output" value={run.raw} /> : null}
      <details>
        <summary>Declared inputs and outputs</summary>
        <h4>Inputs</h4>
        <Json label="declared inputs" value={vars(node.data.inputs)} />
        <h4>Outputs</h4>
        <Json
          label="declared outputs"
          value={Object.fromEntries((node.data.outputs ?? []).map((o) => [o.name, o.schema?.type ?? ""]))}
        />
      </details>
      <details>
        <summary>Parameters</summary>
        <Json label="parameters" value={masked(node.data.nodeParam ?? {})} />
      </details>
    </section>
  );
}

/** The question of a paused run as a form: its options as buttons, or a free-text answer. */
export function QuestionForm(props: {
  question: Interrupt;
  onAnswer: (content: string, type: "resume" | "ignore") => void;
  busy: boolean;
}): JSX.Element {
  const [text, setText] = useState("");
  const v = props.question.value;
  const options = (v.option ?? []).filter((o) => o.text !== "" || o.id !== "default");
  return (
    <form
      class="question"
      aria-label="Question"
      onSubmit={(e) => {
        e.preventDefault();
        if (text.trim()) props.onAnswer(text, "resume");
      }}
    >
      <p class="ask">
        <span aria-hidden="true">? </span>
        {v.content}
      </p>
      {v.type === "option" ? (
        <div class="options" role="group" aria-label="Options">
          {options.map((o) => (
            <button type="button" key={o.id} disabled={props.busy} onClick={() => props.onAnswer(o.id, "resume")}>
              {o.id}: {o.text || o.id}
            </button>
          ))}
        </div>
      ) : (
        <p>
          <label for="answer">Your answer</label>
          <input id="answer" value={text} onInput={(e) => setText(e.currentTarget.value)} disabled={props.busy} />
          <button type="submit" disabled={props.busy || !text.trim()}>
            Answer
          </button>
        </p>
      )}
      {!props.question.need_reply ? (
        <button type="button" disabled={props.busy} onClick={() => props.onAnswer("", "ignore")}>
          Skip the question
        </button>
      ) : null}
    </form>
  );
}
