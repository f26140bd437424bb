// `wrangler dev` for the end-to-end suites (Node side): a local state folder with the migrations applied and the two
// seed apps, and the runtime started on a free loopback port, answering /health before the suite goes on.
import { execFileSync, spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeStream, SseParser } from "../../src/engine/sse.ts";
import type { Frame } from "../../src/engine/types.ts";
import { freePort } from "./redis-server.ts";

export const root = join(import.meta.dirname, "..", "..");
export const devEnv = {
  ...process.env,
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
  NO_COLOR: "1",
};

const SEED_APPS =
  "INSERT INTO app (name, alias_id, api_key, api_secret, is_tenant, source, actual_source, plat_release_auth) VALUES ('t','tenant01','tk','ts',1,1,1,7), ('d','d1590f30','dk','ds',0,1,1,0)";

function wrangler(args: string[]): void {
  execFileSync("wrangler", args, { cwd: root, env: devEnv, stdio: "pipe" });
}

/** A new local state folder with D1 migrated and the tenant app `tenant01` and the app `d1590f30` in it. */
export function seededState(prefix: string): string {
  const persist = mkdtempSync(join(tmpdir(), prefix));
  wrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", persist]);
  wrangler(["d1", "execute", "DB", "--local", "--persist-to", persist, "--command", SEED_APPS]);
  return persist;
}

export interface DevOptions {
  persist: string;
  /** `NAME:value` pairs for `--var`; the port is known inside, so a var may be a function of the base URL */
  vars: (base: string) => string[];
  stdio: StdioOptions;
  /** its own process group, so that a kill of -pid reaches workerd too */
  detached?: boolean;
  /** how long to wait for /health */
  waitMs?: number;
}

/** Starts `wrangler dev` and resolves once /health answers. */
export async function startDev(o: DevOptions): Promise<{ base: string; child: ChildProcess }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const args = ["dev", "--ip", "127.0.0.1", "--port", String(port), "--local", "--persist-to", o.persist];
  const child = spawn("wrangler", [...args, ...o.vars(base).flatMap((v) => ["--var", v])], {
    cwd: root,
    env: devEnv,
    stdio: o.stdio,
    detached: o.detached ?? false,
  });
  const deadline = Date.now() + (o.waitMs ?? 30_000);
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${base}/health`)).ok) return { base, child };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("wrangler dev did not start");
}

/** Every frame of an SSE response, as it streams in. */
export async function readFrames(res: Response): Promise<Frame[]> {
  const parser = new SseParser();
  const out: Frame[] = [];
  for await (const text of decodeStream(res.body as ReadableStream<Uint8Array>))
    for (const e of parser.push(text)) out.push(JSON.parse(e.data) as Frame);
  return out;
}
