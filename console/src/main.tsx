// The browser console (issue 16): sign in, the app's flows, a flow's picture and run panel, its runs and webhooks,
// and a run's page. Plain Preact, routed on the path under /console/ (deep links are served the same index.html).
import { render, type JSX } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, ApiError, loadSession, saveSession, type FlowListing, type Session } from "./api.ts";
import { FlowPage } from "./flow.tsx";
import { HooksPage } from "./hooks.tsx";
import { RunPage, RunsPage } from "./run.tsx";
import { Alert, Badge, Link, navigate, when } from "./ui.tsx";
import "./style.css";

function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const on = (): void => setPath(location.pathname);
    addEventListener("popstate", on);
    return () => removeEventListener("popstate", on);
  }, []);
  return path;
}

function SignIn(props: { onSession: (s: Session) => void }): JSX.Element {
  const [mode, setMode] = useState<"gateway" | "key">("gateway");
  const [app, setApp] = useState("");
  const [key, setKey] = useState("");
  const [secret, setSecret] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = (e: Event): void => {
    e.preventDefault();
    const s: Session = mode === "gateway" ? { mode, app: app.trim() } : { mode, key: key.trim(), secret };
    setBusy(true);
    setError(null);
    // the credentials are checked by asking for the app's flows, as any client would
    api<{ flows: FlowListing[] }>(s, "/flows")
      .then(() => props.onSession(s))
      .catch((err: unknown) =>
        setError(err instanceof ApiError ? `${err.code}: ${err.message}` : "The runtime could not be reached"),
      )
      .finally(() => setBusy(false));
  };
  return (
    <form class="signin" aria-label="Sign in" onSubmit={submit}>
      <h1>Sign in</h1>
      <p class="muted">Use what this deployment's AUTH_MODE expects. The credentials stay in this tab only.</p>
      <fieldset>
        <legend>Authentication</legend>
        <label>
          <input type="radio" name="mode" checked={mode === "gateway"} onChange={() => setMode("gateway")} /> App id
          (gateway mode)
        </label>
        <label>
          <input type="radio" name="mode" checked={mode === "key"} onChange={() => setMode("key")} /> API key and secret
          (key or hmac mode)
        </label>
      </fieldset>
      {mode === "gateway" ? (
        <div class="field">
          <label for="app-id">App id</label>
          <input
            id="app-id"
            value={app}
            required
            autoComplete="username"
            onInput={(e) => setApp(e.currentTarget.value)}
          />
        </div>
      ) : (
        <>
          <div class="field">
            <label for="api-key">API key</label>
            <input
              id="api-key"
              value={key}
              required
              autoComplete="username"
              onInput={(e) => setKey(e.currentTarget.value)}
            />
          </div>
          <div class="field">
            <label for="api-secret">API secret</label>
            <input
              id="api-secret"
              type="password"
              value={secret}
              required
              autoComplete="current-password"
              onInput={(e) => setSecret(e.currentTarget.value)}
            />
          </div>
        </>
      )}
      <button type="submit" class="primary" disabled={busy}>
        Sign in
      </button>
      <Alert text={error} />
    </form>
  );
}

function Flows(props: { session: Session }): JSX.Element {
  const [flows, setFlows] = useState<FlowListing[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [q, setQ] = useState("");
  useEffect(() => {
    api<{ flows: FlowListing[] }>(props.session, "/flows")
      .then((r) => setFlows(r.flows))
      .catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  }, [props.session]);
  const shown = useMemo(() => {
    const needle = q.trim().toLowerCase();
    return (flows ?? []).filter(
      (f) =>
        !needle ||
        f.name.toLowerCase().includes(needle) ||
        f.id.includes(needle) ||
        f.description.toLowerCase().includes(needle),
    );
  }, [flows, q]);
  return (
    <>
      <h1>Flows</h1>
      <p>
        <label for="search">Search</label>{" "}
        <input
          id="search"
          type="search"
          value={q}
          placeholder="name, id or description"
          onInput={(e) => setQ(e.currentTarget.value)}
        />{" "}
        <span class="muted" aria-live="polite">
          {flows ? `${shown.length} of ${flows.length}` : ""}
        </span>
      </p>
      <Alert text={error} />
      {flows === null ? (
        <p>Loading…</p>
      ) : (
        <table class="list" aria-label="Flows">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Draft / published</th>
              <th scope="col">Versions</th>
              <th scope="col">Last run</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((f) => (
              <tr key={f.id} data-flow={f.id}>
                <td>
                  <Link href={`/console/flows/${f.id}`}>{f.name || f.id}</Link>
                  <br />
                  <small class="muted">
                    <code>{f.id}</code>
                  </small>
                </td>
                <td>{f.published ? "published" : "draft only"}</td>
                <td>{f.versions.length ? f.versions.join(", ") : "—"}</td>
                <td>
                  {f.lastRun ? (
                    <>
                      <Link href={`/console/runs/${f.lastRun.id}`} label={`Last run, ${f.lastRun.status}`}>
                        <Badge status={f.lastRun.status} />
                      </Link>{" "}
                      <small class="muted">{when(f.lastRun.startedAt)}</small>
                    </>
                  ) : (
                    "never run"
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function App(): JSX.Element {
  const [session, setSession] = useState<Session | null>(loadSession);
  const path = usePath()
    .replace(/^\/console\/?/, "/")
    .replace(/^\/$/, "/");
  useEffect(() => {
    if (!location.pathname.startsWith("/console")) history.replaceState(null, "", "/console/");
  }, []);
  const signOut = (): void => {
    saveSession(null);
    setSession(null);
    navigate("/console/");
  };
  let page: JSX.Element;
  let m: RegExpMatchArray | null;
  if (!session)
    page = (
      <SignIn
        onSession={(s) => {
          saveSession(s);
          setSession(s);
        }}
      />
    );
  else if ((m = path.match(/^\/runs\/([^/]+)\/?$/))) page = <RunPage key={m[1]} session={session} id={m[1] ?? ""} />;
  else if ((m = path.match(/^\/flows\/([^/]+)\/runs\/?$/)))
    page = <RunsPage key={m[1]} session={session} id={m[1] ?? ""} />;
  else if ((m = path.match(/^\/flows\/([^/]+)\/hooks\/?$/)))
    page = <HooksPage key={m[1]} session={session} id={m[1] ?? ""} />;
  else if ((m = path.match(/^\/flows\/([^/]+)\/?$/))) page = <FlowPage key={m[1]} session={session} id={m[1] ?? ""} />;
  else page = <Flows session={session} />;
  return (
    <>
      <a class="skip" href="#main">
        Skip to the content
      </a>
      <header class="top">
        <Link href="/console/" class="brand">
          Astron workflows
        </Link>
        {session ? (
          <span>
            <span class="muted">{session.mode === "gateway" ? `app ${session.app}` : `key ${session.key}`}</span>{" "}
            <button type="button" onClick={signOut}>
              Sign out
            </button>
          </span>
        ) : null}
      </header>
      <main id="main">{page}</main>
    </>
  );
}

render(<App />, document.getElementById("root") as HTMLElement);
