// Issue 15, "profile where the extra CPU goes": an ablation of the sync webhook run, measured by the peer harness
// rather than by a sampling profiler (whose per-function figures below ~0.1 ms are not evidence, BENCHMARKS.md).
// Each stage is a copy of this checkout (a git worktree of HEAD under .tmp/ablation) in which the webhook request
// is answered at one point of its path, with a 200 answer the harness accepts as the full run's; it then serves every
// copy the way it serves this runtime and measures them all, with the ceiling and the full runtime, in ABBA rounds.
// The server CPU per request of consecutive stages differ by what the later stage adds:
//
//   entry  the worker's fetch answers at once: workerd's HTTP handling, the local [assets] router in front of the
//          worker (which ceiling_assets also pays) and the harness's own cost (the floor)
//   mw     the hooks route answers first thing: + Hono's routing and the app-wide middleware (CORS, sid, auth)
//   route  after the hook's own checks: + the hook row (isolate cache), the body read, the bearer token's check
//   prep   before the run object is called: + parameter mapping, the flow row and plan, the run id, the request
//   rpc    the run object answers at once: + creating the object and the RPC carrying the request and the plan
//   hist   the whole run but its history row: + the engine, the run's row, the frames
//   ours   the whole run: + the history batch (D1)
//
// Not in the default list: rpc_bare, the rpc stage with the call's arguments (the request and the plan) left out;
// hist_nowait, the whole run with objects that did not open the history batch not waiting for its outcome; noassets,
// the whole run without wrangler.toml's [assets] block (no asset router in front of the worker).
//
//   export PATH=$PWD/node_modules/.bin:$PATH CLOUDFLARE_CF_FETCH_ENABLED=false
//   STATE_DIR=/dev/shm node bench/peers/ablation.mjs      # 8 rounds of 10 s at c = 50, about 19 minutes
//
// Env: STAGES (entry,mw,route,prep,rpc,hist by default; rpc_bare, hist_nowait and noassets on request), KEEP=1
// (leave the copies in .tmp/ablation), and every variable of bench/peers/run.mjs (ROUNDS, SECONDS, STATE_DIR, …). A
// cut that no longer applies (the code it names changed) stops the script before anything is measured.
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assetsBlock, root } from "../dev.mjs";

const ANSWER = 'json({ code: 0, message: "cut", outputs: { big: "big" } }, 200, {})';

/** The run object answers a sync webhook's call at once: no engine, no storage. */
const RPC_ANSWERS = {
  file: "src/durable/run-object.ts",
  find: "  async startHook(input: StartInput, waitMs: number): Promise<HookReply> {\n",
  put: `  async startHook(input: StartInput, waitMs: number): Promise<HookReply> {\n    return { created: true, status: "completed", outputs: { big: "big" }, error: null };\n`,
};

/** Each stage: its edits, each a file to change, a text found there once, and what replaces it. */
const CUTS = {
  entry: [
    {
      file: "src/worker/index.ts",
      find: "  fetch: app.fetch,\n",
      put: `  fetch: (req: Request, env: Env, ctx: ExecutionContext) =>
    req.method === "POST" && new URL(req.url).pathname.startsWith("/hooks/")
      ? Response.json({ code: 0, message: "cut", outputs: { big: "big" } })
      : app.fetch(req, env, ctx),
`,
    },
  ],
  mw: [
    {
      file: "src/worker/routes/hooks.ts",
      find: 'hooks.post("/hooks/:id", async (c) => {\n',
      put: `hooks.post("/hooks/:id", async (c) => {\n  return ${ANSWER};\n`,
    },
  ],
  route: [
    {
      file: "src/worker/routes/hooks.ts",
      find: "  if (!verdict.ok) return verdict.response;\n",
      put: `  if (!verdict.ok) return verdict.response;\n  return ${ANSWER};\n`,
    },
  ],
  prep: [
    {
      file: "src/worker/routes/hooks.ts",
      find: "    const release = admitRun(c.env, runId);\n",
      put: `    return ${ANSWER};\n    const release = admitRun(c.env, runId);\n`,
    },
  ],
  rpc: [RPC_ANSWERS],
  // not in the default list: the rpc stage with the call's arguments left out (what carrying them costs)
  rpc_bare: [
    RPC_ANSWERS,
    {
      file: "src/worker/routes/hooks.ts",
      find: "        { request, plan: planText(prepared.plan) },\n        row.mode",
      put: '        { request: { eventId: runId } as RunRequest, plan: "" },\n        row.mode',
    },
  ],
  // not in the default list: the history batch as it is, but an object that did not open the batch neither waits
  // for its outcome nor keeps a timer (what that waiting costs)
  hist_nowait: [
    {
      file: "src/durable/history.ts",
      find: "    if (current.rows.length >= BATCH_ROWS || current.chars >= BATCH_CHARS) open.delete(db);\n    await sleep(BATCH_MS);\n",
      put: "    if (current.rows.length >= BATCH_ROWS || current.chars >= BATCH_CHARS) open.delete(db);\n    return true;\n",
    },
  ],
  // not in the default list: the whole runtime without wrangler.toml's [assets] block (the console), so no router in
  // front of the worker (what that router costs ours; target ceiling_assets is the same for the ceiling)
  noassets: [
    {
      file: "wrangler.toml",
      get find() {
        return assetsBlock(); // read when the stage is applied, not by every ablation
      },
      put: "",
    },
  ],
  hist: [
    {
      file: "src/durable/run-object.ts",
      find: "    if (row) this.ctx.waitUntil(this.#recordHistory(row, status, outcome, total));\n",
      put: "",
    },
  ],
};
const DEFAULT_STAGES = ["entry", "mw", "route", "prep", "rpc", "hist"];
// the bare ceiling, and the ceiling behind the same [assets] router as every stage (bench/peers/run.mjs)
const CEILING_TARGETS = ["ceiling", "ceiling_assets"];

const stages = (process.env.STAGES ?? DEFAULT_STAGES.join(","))
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);
for (const s of stages) if (!CUTS[s]) throw new Error(`unknown stage "${s}" (one of ${Object.keys(CUTS).join(", ")})`);

const base = join(root, ".tmp", "ablation");
const git = (...args) =>
  execFileSync("git", ["-C", root, ...args], { stdio: "pipe" })
    .toString()
    .trim();
const head = git("rev-parse", "--short", "HEAD");
if (git("status", "--porcelain", "--untracked-files=no"))
  console.error(
    `[ablation] note: the copies are of HEAD (${head}); this checkout's uncommitted changes are not in them`,
  );

// the middle of an even count is the mean of the two middle values, as bench/peers/run.mjs takes it (bench/load.mjs
// takes the upper one)
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const f3 = (x) => x.toFixed(3);
const spread = (xs) => `${f3(median(xs))} [${f3(Math.min(...xs))}–${f3(Math.max(...xs))}]`;

/**
 * The stage table: CPU per request, what each stage adds to the one before it, and each ÷ the two ceilings, all
 * within each round.
 */
function report(result, order) {
  const lines = [];
  const ratio = (rounds, t, ceiling) => (t.startsWith("ceiling") ? "—" : spread(rounds.map((r) => r[t] / r[ceiling])));
  for (const [c, rounds] of Object.entries(result.cpu_by_round)) {
    lines.push(`\nAblation at ${head}, c = ${c}, ${rounds.length} rounds, ${result.state}: server CPU ms per request`);
    lines.push(
      "| stage | CPU per request | added over the stage before (within a round) | ÷ ceiling | ÷ ceiling_assets |",
    );
    lines.push("| --- | --- | --- | --- | --- |");
    order.forEach((t, i) => {
      const own = rounds.map((r) => r[t]);
      // the ceilings and the first stage have no stage before them
      const prev = i > 0 && !order[i - 1].startsWith("ceiling") ? order[i - 1] : undefined;
      const added = prev ? spread(rounds.map((r) => r[t] - r[prev])) : "—";
      lines.push(
        `| ${t} | ${spread(own)} | ${added} | ${ratio(rounds, t, "ceiling")} | ${ratio(rounds, t, "ceiling_assets")} |`,
      );
    });
  }
  console.log(lines.join("\n"));
}

/** Removes a copy: as a worktree, or as a plain folder when git no longer knows it as one. */
function removeCopy(dir) {
  try {
    git("worktree", "remove", "--force", dir);
  } catch {
    rmSync(dir, { recursive: true, force: true });
  }
}

const copies = {};
function cleanup() {
  if (process.env.KEEP === "1") return;
  for (const dir of Object.values(copies)) removeCopy(dir);
  try {
    git("worktree", "prune");
  } catch {
    // nothing to prune
  }
}

try {
  mkdirSync(base, { recursive: true });
  for (const s of stages) {
    const dir = join(base, s);
    if (existsSync(dir)) removeCopy(dir);
    git("worktree", "add", "--detach", dir, "HEAD");
    copies[s] = dir;
    symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
    // the console's built files (gitignored), which the [assets] binding serves
    cpSync(join(root, "console", "dist"), join(dir, "console", "dist"), { recursive: true });
    for (const { file, find, put } of CUTS[s]) {
      const path = join(dir, file);
      const text = readFileSync(path, "utf8");
      if (text.split(find).length !== 2) throw new Error(`stage ${s}: the text it cuts at is not once in ${file}`);
      writeFileSync(path, text.replace(find, put));
      console.error(`[ablation] ${s}: ${file} cut (${dir})`);
    }
  }
  const env = {
    ...process.env,
    ALTS: stages.map((s) => `${s}=${copies[s]}`).join(","),
    TARGETS: [...CEILING_TARGETS, ...stages, "ours"].join(","),
    RESULTS: process.env.RESULTS ?? "",
  };
  const r = spawnSync(process.execPath, [join(import.meta.dirname, "run.mjs")], {
    env,
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 64 << 20,
  });
  const out = r.stdout.toString();
  process.stdout.write(out);
  const line = out
    .trim()
    .split("\n")
    .filter((l) => l.startsWith('{"figure":"peers"'))
    .pop();
  if (r.status !== 0 || !line) throw new Error(`the harness failed (exit ${r.status})`);
  report(JSON.parse(line), [...CEILING_TARGETS, ...stages, "ours"]);
} finally {
  cleanup();
}
