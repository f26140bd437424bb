// A flow's webhooks: list, create (the secret or token shown once, with a request to copy: curl with the bearer
// token, or a few lines that sign with Standard Webhooks), rotate and delete.
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, type Hook, type Session } from "./api.ts";
import { dslOf, startNode, type DslVar } from "./dsl.ts";
import { FlowTabs, useFlow } from "./flow.tsx";
import { Alert, when } from "./ui.tsx";

/** A body that fits the start node's declared parameters: their defaults, or a value of their type. */
function exampleBody(params: DslVar[]): string {
  const sample = (p: DslVar): unknown => {
    if (p.schema?.default !== undefined && p.schema.default !== "") return p.schema.default;
    const t = p.schema?.type ?? "string";
    if (t === "integer" || t === "number") return 0;
    if (t === "boolean") return false;
    if (t === "object") return {};
    if (t === "array") return [];
    return p.name === "AGENT_USER_INPUT" ? "hello" : "text";
  };
  return JSON.stringify(Object.fromEntries(params.map((p) => [p.name, sample(p)])));
}

/** The request a sender makes: curl for a bearer hook, Node with the standardwebhooks package for a signed one. */
export function example(hook: Hook, params: DslVar[]): string {
  const body = exampleBody(params);
  if (hook.auth === "bearer")
    return [
      `curl -s ${hook.url} \\`,
      `  -H 'Authorization: Bearer ${hook.token ?? "wht_…"}' \\`,
      `  -H 'Content-Type: application/json' \\`,
      `  -d '${body.replaceAll("'", "'\\''")}'`,
    ].join("\n");
  return [
    `// npm install standardwebhooks`,
    `import { Webhook } from "standardwebhooks";`,
    `const body = ${JSON.stringify(body)};`,
    `const id = crypto.randomUUID();`,
    `const at = new Date();`,
    `const signature = new Webhook(${JSON.stringify(hook.secret ?? "whsec_…")}).sign(id, at, body);`,
    `const res = await fetch(${JSON.stringify(hook.url)}, {`,
    `  method: "POST",`,
    `  headers: { "content-type": "application/json", "webhook-id": id,`,
    `    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)), "webhook-signature": signature },`,
    `  body,`,
    `});`,
    `console.log(res.status, await res.text());`,
  ].join("\n");
}

function Secret(props: { hook: Hook; params: DslVar[]; onDone: () => void }): JSX.Element {
  const [copied, setCopied] = useState("");
  const secret = props.hook.token ?? props.hook.secret ?? "";
  const sample = example(props.hook, props.params);
  const copy = (what: string, text: string): void => {
    navigator.clipboard
      .writeText(text)
      .then(() => setCopied(what))
      .catch(() => setCopied("select the text and copy it"));
  };
  return (
    <section class="secret" aria-label="New secret" role="region">
      <h3>
        {props.hook.token ? "Bearer token" : "Signing secret"} of {props.hook.hook_id}
      </h3>
      <p>
        <strong>Shown once.</strong> Store it now: the runtime keeps only{" "}
        {props.hook.token ? "a hash of it" : "what it needs to verify"}.
      </p>
      <p>
        <label for="new-secret">{props.hook.token ? "Token" : "Secret"}</label>{" "}
        <input id="new-secret" readOnly value={secret} size={48} onFocus={(e) => e.currentTarget.select()} />{" "}
        <button type="button" onClick={() => copy("secret copied", secret)}>
          Copy
        </button>
      </p>
      <p>
        <label for="example">Example request</label>
      </p>
      <textarea id="example" readOnly rows={sample.split("\n").length + 1} value={sample} class="code" />
      <p>
        <button type="button" onClick={() => copy("example copied", sample)}>
          Copy the example
        </button>{" "}
        <span role="status">{copied}</span>{" "}
        <button type="button" onClick={props.onDone}>
          Done
        </button>
      </p>
    </section>
  );
}

export function HooksPage(props: { session: Session; id: string }): JSX.Element {
  const { flow, listing } = useFlow(props.session, props.id);
  const [hooks, setHooks] = useState<Hook[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [fresh, setFresh] = useState<Hook | null>(null);
  const [confirm, setConfirm] = useState<string | null>(null);
  const [mode, setMode] = useState<"sync" | "async" | "stream">("sync");
  const [auth, setAuth] = useState<"signature" | "bearer">("signature");
  const [mapping, setMapping] = useState("");
  const [version, setVersion] = useState("");
  const params = startNode(dslOf(flow?.release_data ?? flow?.data))?.data.outputs ?? [];

  const load = (): void => {
    api<{ hooks: Hook[] }>(props.session, `/hooks?flow_id=${encodeURIComponent(props.id)}`)
      .then((r) => setHooks(r.hooks))
      .catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  };
  useEffect(load, [props.session, props.id]);

  const act = async (what: () => Promise<void>): Promise<void> => {
    setError(null);
    try {
      await what();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  const create = (e: Event): void => {
    e.preventDefault();
    void act(async () => {
      let map: Record<string, string> = {};
      if (mapping.trim()) {
        try {
          map = JSON.parse(mapping) as Record<string, string>;
        } catch {
          throw new Error("The mapping is not valid JSON");
        }
      }
      const hook = await api<Hook>(props.session, "/hooks", {
        body: { flow_id: props.id, mode, auth, mapping: map, ...(version ? { version } : {}) },
      });
      setFresh(hook);
      load();
    });
  };

  return (
    <>
      <h1>{flow?.name ?? props.id}</h1>
      <FlowTabs id={props.id} name={flow?.name ?? ""} current="hooks" />
      <h2>Webhooks</h2>
      <p class="muted">
        A webhook starts the published flow from any HTTPS sender; its body's fields (or the mapping) become the start
        parameters.
      </p>
      <Alert text={error} />
      {fresh ? <Secret hook={fresh} params={params} onDone={() => setFresh(null)} /> : null}
      {hooks === null ? (
        <p>Loading…</p>
      ) : hooks.length === 0 ? (
        <p>No webhooks yet.</p>
      ) : (
        <table class="list" aria-label="Webhooks">
          <thead>
            <tr>
              <th scope="col">Hook</th>
              <th scope="col">Mode</th>
              <th scope="col">Auth</th>
              <th scope="col">Created</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {hooks.map((h) => (
              <tr key={h.hook_id} data-hook={h.hook_id}>
                <td>
                  <code>{h.url}</code>
                </td>
                <td>{h.mode}</td>
                <td>{h.auth}</td>
                <td>{typeof h.created_at === "number" ? when(h.created_at) : h.created_at}</td>
                <td>
                  <button
                    type="button"
                    aria-label={`Rotate the ${h.auth === "bearer" ? "token" : "secret"} of ${h.hook_id}`}
                    onClick={() =>
                      void act(async () => {
                        setFresh(
                          await api<Hook>(props.session, `/hooks/${h.hook_id}/rotate`, {
                            body: { keep_previous_seconds: 0 },
                          }),
                        );
                      })
                    }
                  >
                    Rotate
                  </button>{" "}
                  {confirm === h.hook_id ? (
                    <button
                      type="button"
                      class="danger"
                      aria-label={`Confirm: delete ${h.hook_id}`}
                      onClick={() =>
                        void act(async () => {
                          await api(props.session, `/hooks/${h.hook_id}`, { method: "DELETE" });
                          setConfirm(null);
                          load();
                        })
                      }
                    >
                      Confirm delete
                    </button>
                  ) : (
                    <button type="button" aria-label={`Delete ${h.hook_id}`} onClick={() => setConfirm(h.hook_id)}>
                      Delete
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form class="hook-form" aria-label="New webhook" onSubmit={create}>
        <h3>New webhook</h3>
        <div class="field">
          <label for="hook-mode">Mode</label>
          <select id="hook-mode" value={mode} onChange={(e) => setMode(e.currentTarget.value as typeof mode)}>
            <option value="sync">sync: answer the run's outputs</option>
            <option value="async">async: answer 202 at once</option>
            <option value="stream">stream: answer the open API's frames</option>
          </select>
        </div>
        <div class="field">
          <label for="hook-auth">Authentication</label>
          <select id="hook-auth" value={auth} onChange={(e) => setAuth(e.currentTarget.value as typeof auth)}>
            <option value="signature">Standard Webhooks signature</option>
            <option value="bearer">Bearer token</option>
          </select>
        </div>
        <div class="field">
          <label for="hook-version">Version</label>
          <select id="hook-version" value={version} onChange={(e) => setVersion(e.currentTarget.value)}>
            <option value="">latest published</option>
            {(listing?.versions ?? []).map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="hook-mapping">Mapping (JSON, optional)</label>
          <textarea
            id="hook-mapping"
            rows={3}
            placeholder={`{"${params[0]?.name ?? "AGENT_USER_INPUT"}": "body.text"}`}
            value={mapping}
            aria-describedby="hook-mapping-hint"
            onInput={(e) => setMapping(e.currentTarget.value)}
          />
          <small id="hook-mapping-hint" class="muted">
            start parameter → body.a.b, query.q or headers.x-id; empty: the body's own fields
          </small>
        </div>
        <button type="submit" class="primary">
          Create the webhook
        </button>
      </form>
    </>
  );
}
