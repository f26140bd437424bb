// Shared by the HTTP benchmarks: a `wrangler dev` instance on a free loopback port with its own local D1 (migrated,
// with a tenant app and the d1590f30 app), and a helper that adds, publishes and licenses a flow.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const root = join(import.meta.dirname, "..");

/**
 * The `[assets]` block of this runtime's wrangler.toml (the console's static files, issue 16), exactly as written:
 * what the peer harness copies into its `ceiling_assets` worker and what the ablation's `noassets` stage removes.
 */
export function assetsBlock() {
  const block = readFileSync(join(root, "wrangler.toml"), "utf8").match(/^\[assets\]\n(?:(?!\[).*\n)*/m)?.[0];
  if (!block) throw new Error("wrangler.toml has no [assets] block");
  return block;
}
export const env = {
  ...process.env,
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
  NO_COLOR: "1",
};

export async function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

/** Starts `wrangler dev` in `cwd` (the project by default); `seed` gives it a migrated D1 with the bench apps. */
export async function startDev({ cwd = root, seed = true, vars = {}, probe = "GET", args = [] } = {}) {
  const persist = mkdtempSync(join(tmpdir(), "bench-dev-"));
  if (seed) {
    execFileSync("wrangler", ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persist], {
      cwd,
      env,
      stdio: "pipe",
    });
    execFileSync(
      "wrangler",
      [
        "d1",
        "execute",
        "DB",
        "--local",
        "--persist-to",
        persist,
        "--command",
        "INSERT INTO app (name, alias_id, api_key, api_secret, is_tenant, source, actual_source, plat_release_auth) VALUES ('t','tenant01','tk','ts',1,1,1,7), ('d','d1590f30','dk','ds',0,1,1,0)",
      ],
      { cwd, env, stdio: "pipe" },
    );
  }
  const port = await freePort();
  const varArgs = Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
  const child = spawn(
    "wrangler",
    ["dev", "--ip", "127.0.0.1", "--port", String(port), "--local", "--persist-to", persist, ...varArgs, ...args],
    // DEV_LOG=<file>: the runtime's output goes there (for a benchmark's post-mortem)
    { cwd, env, stdio: process.env.DEV_LOG ? ["ignore", openSync(process.env.DEV_LOG, "a"), "pipe"] : "ignore" },
  );
  if (process.env.DEV_LOG) child.stderr.pipe(process.stderr);
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 500));
    rmSync(persist, { recursive: true, force: true });
  };
  for (let i = 0; i < 200; i++) {
    try {
      // the project answers GET /health; the ceiling (bench/ceiling) answers POST only
      await fetch(`${base}/health`, { method: probe, ...(probe === "POST" ? { body: "{}" } : {}) });
      return { base, stop, pid: child.pid, persist };
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  await stop();
  throw new Error(`wrangler dev in ${cwd} did not start`);
}

/** Adds a flow, publishes it and licenses it to d1590f30; returns its id. */
export async function publishFlow(base, data) {
  const post = (path, body, headers = {}) =>
    fetch(`${base}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...headers },
      body: JSON.stringify(body),
    }).then((r) => r.json());
  const id = (
    await post(
      "/workflow/v1/protocol/add",
      { app_id: "d1590f30", name: "bench", description: "", data },
      { "X-Consumer-Username": "d1590f30" },
    )
  ).data.flow_id;
  await post("/v1/publish", { flow_id: id, release_status: 1, plat: 1 }, { "X-Consumer-Username": "tenant01" });
  await post("/v1/auth", { flow_id: id, app_id: "d1590f30" }, { "X-Consumer-Username": "tenant01" });
  return id;
}
