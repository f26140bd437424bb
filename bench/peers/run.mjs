// Issue 6 peer benchmark: the same small webhook flow (webhook → uppercase a field → branch → JSON response) on
// n8n, on Node-RED and on this runtime, plus the platform ceiling (a bare worker that creates a Durable Object per
// request and does one storage write), all started by this script and measured in one run on loopback with
// autocannon: requests per second, p50 and p99 latency, and the peak memory of each server.
//
//   bash bench/peers/setup.sh        # once: installs the peers into $PEERS_DIR (.tmp/peers, gitignored)
//   export PATH=$PWD/node_modules/.bin:$PATH CLOUDFLARE_CF_FETCH_ENABLED=false
//   node bench/peers/run.mjs         # full run: 8 ABBA rounds at c = 50; writes bench/results-peers.md
//   SECONDS=3 ROUNDS=2 TARGETS=ours,ceiling node bench/peers/run.mjs   # a quick trial (writes nothing)
//
// Fairness (issue 15): each round measures every system once, forward order on even rounds and reversed on odd
// ones (ABBA), with IDLE seconds of quiet before every window; every ratio is taken within one round and reported
// as the median over the rounds with its range; the 1/5/15-minute load averages at each window's start are kept;
// and the server CPU each system spent in the window (user + system time of its whole process tree, from /proc)
// is divided by the requests it answered: CPU per request, steadier than req/s on a shared machine.
//
// Env: SECONDS (10), WARM (2: seconds of load before each measured window, same connections), CONCURRENCY ("50"),
// ROUNDS (8), IDLE (3 s), TARGETS ("ours,ceiling,ceiling_assets,n8n,nodered"; add "ours_proxy,ceiling_proxy" to also
// measure through wrangler dev's proxy), PEERS_DIR (.tmp/peers), STATE_DIR (the OS temp dir: where the workers' local
// D1/Durable Object state, n8n's SQLite and Node-RED's user dir live; /dev/shm puts them on tmpfs), RESULTS
// (bench/results-peers.md; written only when every target and the default concurrencies ran, or when set), SAMPLE_MS
// (100, memory sampling period), TIMEOUT_S (120, per request), WRANGLER_LOG (info), ALT_ROOT (a second checkout of this
// runtime, e.g. a baseline commit in a git worktree with node_modules linked: target "alt" serves it the way "ours" is
// served, and "ours ÷ alt" ratios are reported), ALTS ("name=<checkout>,name=<checkout>": more such checkouts, each a
// target of its own name, e.g. copies with one stage of a run cut out; "ours − name" CPU per request and "ours ÷ name"
// ratios are reported), CEILINGS ("name=<dir>,…": more workers served and called like the ceiling, e.g. the ceiling
// with one of our settings added; "name ÷ ceiling" CPU per request is reported), HOLD=1 (start everything, print the
// targets, wait for ^C), RENDER=<log> (re-render the Markdown from the JSON line of a saved run).
//
// How our worker and the ceiling are served: both under `wrangler dev --local --no-bundle` from a snapshot of the
// bundle `wrangler deploy --dry-run` builds, and both measured at the workerd entry socket of the workerd process
// that runs the worker (found from the process tree), i.e. bypassing wrangler's proxy worker (about 10× on a bare
// request per bench/peers/fixtures/README.md; within noise here, where a Durable Object's creation and its SQLite on disk
// dominate). Same build path, same workerd, same route for both. One difference is not ours to remove: our
// wrangler.toml has an [assets] block (the console, issue 16), and with one miniflare sends every request through
// the platform's asset router (entry → RPC proxy → router, outer and inner entrypoints → the worker). Target
// `ceiling_assets` is the ceiling with the same block, so "ours ÷ ceiling_assets" compares like with like.
import { execFileSync, spawn } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, relative } from "node:path";
import autocannon from "autocannon";
import { assetsBlock, freePort, root } from "../dev.mjs";
import { procTable, tree, treeCpuMs } from "../proc.mjs";
import { INPUT, oursRequest, prepareOurs } from "./ours.mjs";

const SECONDS = Number(process.env.SECONDS ?? 10);
const CONCURRENCY = (process.env.CONCURRENCY ?? "50").split(",").map(Number);
const ROUNDS = Number(process.env.ROUNDS ?? 8);
const IDLE = Number(process.env.IDLE ?? 3); // seconds of quiet before each measured window
const WARM = Number(process.env.WARM ?? 2); // seconds of load before the measured window, on the same connections
const ALL = ["ours", "ceiling", "ceiling_assets", "n8n", "nodered"];
/** `name=<dir>,name=<dir>` from an environment variable, as { name: dir }. */
function namedDirs(variable) {
  const pairs = (process.env[variable] ?? "").split(",").filter(Boolean);
  return Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf("=");
      if (at < 1) throw new Error(`${variable}: "${pair}" is not name=<dir>`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}
// other checkouts served like ours: ALT_ROOT as target "alt", and ALTS by name (an ablation: copies with one stage
// of a run cut out each)
const ALTS = { ...(process.env.ALT_ROOT ? { alt: process.env.ALT_ROOT } : {}), ...namedDirs("ALTS") };
// workers served and called like the ceiling
const CEILINGS = namedDirs("CEILINGS");
const TARGETS = (process.env.TARGETS ?? ALL.join(","))
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);
// inside the repository but gitignored and Prettier-ignored (.tmp/), so a clone benchmarks with nothing beside it
const PEERS_DIR = process.env.PEERS_DIR ?? join(root, ".tmp", "peers");
const SAMPLE_MS = Number(process.env.SAMPLE_MS ?? 100);
// where the workers' local D1/Durable Object state and n8n's SQLite live (the disk by default, like a real install)
const STATE_DIR = process.env.STATE_DIR ?? tmpdir();
const stateNote = () =>
  STATE_DIR === tmpdir()
    ? `the OS temp dir on disk (${STATE_DIR})`
    : STATE_DIR.startsWith("/dev/shm")
      ? `tmpfs (${STATE_DIR})`
      : STATE_DIR;
const WRANGLER_LOG = process.env.WRANGLER_LOG ?? "info"; // `wrangler dev --log-level` (info is its default)
const full = ALL.every((t) => TARGETS.includes(t)) && CONCURRENCY.includes(50) && SECONDS >= 10 && ROUNDS >= 8;
const RESULTS = process.env.RESULTS ?? (full ? join(root, "bench", "results-peers.md") : "");
const peerFlows = join(import.meta.dirname, "fixtures"); // the n8n and Node-RED flows (NOTICE)
const bin = join(root, "node_modules", ".bin");
const baseEnv = {
  ...process.env,
  PATH: `${bin}:${process.env.PATH ?? ""}`,
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
  NO_COLOR: "1",
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(`[peers ${new Date().toISOString().slice(11, 19)}]`, ...a);

// ── process trees and memory ────────────────────────────────────────────────────────────────────────────────────
function status(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(s)?.[1] ?? 0);
    return { name: /^Name:\s+(.*)$/m.exec(s)?.[1] ?? "?", rss: kb("VmRSS"), hwm: kb("VmHWM") };
  } catch {
    return undefined;
  }
}
const cmdline = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return "";
  }
};

/**
 * Polls every server's process tree each SAMPLE_MS: the sum of VmRSS over the tree (and over the serving process
 * alone, for the workers: the workerd running the worker), keeping the peak since `reset`.
 */
class MemorySampler {
  constructor() {
    // name → { root, serving(pid→bool), narrowed, peakTree, peakServing, peakTreeAll, peakServingAll }
    this.servers = new Map();
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
    this.timer.unref();
  }
  /** `serving`: which processes of the tree serve (the worker's workerd); without it the whole tree does */
  add(name, rootPid, serving) {
    this.servers.set(name, {
      root: rootPid,
      serving: serving ?? (() => true),
      narrowed: serving !== undefined,
      peakTree: 0,
      peakServing: 0,
      peakTreeAll: 0,
      peakServingAll: 0,
    });
  }
  sample() {
    const table = procTable();
    for (const s of this.servers.values()) {
      let sum = 0;
      let serving = 0;
      for (const pid of tree(s.root, table)) {
        const st = status(pid);
        if (!st) continue;
        sum += st.rss;
        if (s.serving(pid)) serving += st.rss;
      }
      s.peakTree = Math.max(s.peakTree, sum);
      s.peakServing = Math.max(s.peakServing, serving);
      s.peakTreeAll = Math.max(s.peakTreeAll, sum);
      s.peakServingAll = Math.max(s.peakServingAll, serving);
    }
  }
  /** lifetime high-water marks (VmHWM, includes start-up) summed over the tree, by process name */
  hwm(name) {
    const s = this.servers.get(name);
    const parts = tree(s.root)
      .map((pid) => ({ pid, ...status(pid), serving: s.serving(pid) }))
      .filter((p) => p.hwm !== undefined);
    return {
      totalKb: parts.reduce((n, p) => n + p.hwm, 0),
      servingKb: parts.filter((p) => p.serving).reduce((n, p) => n + p.hwm, 0),
      parts,
    };
  }
  stop() {
    clearInterval(this.timer);
  }
}

// ── starting the servers ────────────────────────────────────────────────────────────────────────────────────────
const started = []; // { name, child, cleanup }

function spawnServer(name, cmd, args, opts) {
  const logFile = join(scratchLogs, `${name}.log`);
  const child = spawn(cmd, args, { ...opts, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const chunks = [];
  const keep = (b) => {
    chunks.push(b);
    if (chunks.length > 400) chunks.shift();
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  child.on("exit", (code, sig) => {
    writeFileSync(logFile, Buffer.concat(chunks));
    if (!child.stopping) log(`${name} exited early (${code ?? sig}); its output is in ${logFile}`);
  });
  const entry = { name, child, output: () => Buffer.concat(chunks).toString("utf8"), cleanup: [] };
  started.push(entry);
  return entry;
}

async function stopAll() {
  for (const s of started.reverse()) {
    s.child.stopping = true;
    try {
      process.kill(-s.child.pid, "SIGTERM"); // the server's own process group (spawned detached)
    } catch {}
  }
  await sleep(1500);
  for (const s of started) {
    try {
      process.kill(-s.child.pid, "SIGKILL");
    } catch {}
    for (const f of s.cleanup) f();
  }
}

async function waitFor(what, probe, { tries = 600, every = 250 } = {}) {
  let last;
  for (let i = 0; i < tries; i++) {
    try {
      if (await probe()) return;
    } catch (e) {
      last = e;
    }
    await sleep(every);
  }
  throw new Error(`${what} not ready${last ? `: ${last.message}` : ""}`);
}

const post = (url, body, headers = {}, timeoutMs = 5000) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });

/** Listening TCP ports of a process (from /proc/net/tcp and its socket fds). */
function listeningPorts(pid) {
  const inodes = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {}
  }
  const ports = [];
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 9 && f[3] === "0A" && inodes.has(f[9])) ports.push(parseInt(f[1].split(":")[1], 16));
  }
  return ports;
}

/**
 * The ceiling with this runtime's `[assets]` block (the console's static files and `run_worker_first`), copied from
 * wrangler.toml at run time so it cannot drift from ours: a folder under .tmp whose wrangler.toml serves
 * bench/ceiling/worker.ts. Returns the folder.
 */
function ceilingWithAssets() {
  const dir = join(root, ".tmp", "ceiling-assets");
  mkdirSync(dir, { recursive: true });
  const toml = readFileSync(join(root, "bench", "ceiling", "wrangler.toml"), "utf8")
    .replace(/^name\s*=.*$/m, 'name = "bench-ceiling-assets"')
    .replace(/^main\s*=.*$/m, `main = ${JSON.stringify(relative(dir, join(root, "bench", "ceiling", "worker.ts")))}`);
  const folder = relative(dir, root);
  const block = assetsBlock().replace(
    /^directory\s*=\s*"(.*)"$/m,
    (_, d) => `directory = ${JSON.stringify(join(folder, d))}`,
  );
  writeFileSync(join(dir, "wrangler.toml"), `${toml.trimEnd()}\n\n${block}`);
  return dir;
}

/**
 * `wrangler dev --local` serving a snapshot of the worker in `cwd`: the bundle `wrangler deploy --dry-run` builds,
 * copied with its wrangler.toml into a scratch folder and served with `--no-bundle`, so edits made to the tree
 * while the benchmark runs neither reload the worker nor change what is measured. Optionally with a seeded D1 (as
 * bench/dev.mjs does). Returns the proxy base and the direct base: the entry socket of the workerd process that
 * runs the worker (the one started with an ephemeral entry port), found by probing its listening ports.
 */
async function startWrangler(name, cwd, { seed, probe }) {
  const snap = mkdtempSync(join(STATE_DIR, `peers-${name}-`));
  const persist = join(snap, "state");
  execFileSync("wrangler", ["deploy", "--dry-run", "--outdir", join(snap, "dist")], {
    cwd,
    env: baseEnv,
    stdio: "pipe",
  });
  const entry = readdirSync(join(snap, "dist")).find((f) => f.endsWith(".js"));
  const toml = readFileSync(join(cwd, "wrangler.toml"), "utf8")
    .replace(/^main\s*=.*$/m, `main = "dist/${entry}"`)
    .replace(/^migrations_dir\s*=\s*"(.*)"$/m, (_, d) => `migrations_dir = ${JSON.stringify(join(cwd, d))}`)
    // the console's [assets] folder (issue 16), also relative to the project
    .replace(/^directory\s*=\s*"(.*)"$/m, (_, d) => `directory = ${JSON.stringify(join(cwd, d))}`);
  writeFileSync(join(snap, "wrangler.toml"), toml);
  if (seed) {
    const opts = { cwd: snap, env: baseEnv, stdio: "pipe" };
    execFileSync("wrangler", ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persist], opts);
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
      opts,
    );
  }
  const port = await freePort();
  const s = spawnServer(
    name,
    "wrangler",
    [
      "dev",
      "--no-bundle",
      "--log-level",
      WRANGLER_LOG,
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--local",
      "--persist-to",
      persist,
    ],
    { cwd: snap, env: baseEnv },
  );
  s.cleanup.push(() => rmSync(snap, { recursive: true, force: true }));
  const proxy = `http://127.0.0.1:${port}`;
  await waitFor(`${name} (wrangler dev)`, async () => (await probe(proxy)) === true);
  let direct;
  let workerPid;
  await waitFor(
    `${name} (workerd entry socket)`,
    async () => {
      for (const pid of tree(s.child.pid)) {
        if (!cmdline(pid).includes("--socket-addr=entry=127.0.0.1:0")) continue;
        for (const p of listeningPorts(pid)) {
          const base = `http://127.0.0.1:${p}`;
          try {
            if ((await Promise.race([probe(base), sleep(1500).then(() => false)])) === true) {
              direct = base;
              workerPid = pid;
              return true;
            }
          } catch {}
        }
      }
      return false;
    },
    { tries: 40, every: 500 },
  );
  return { proxy, direct, rootPid: s.child.pid, workerPid };
}

async function startN8n() {
  const dir = join(PEERS_DIR, "n8n");
  const node24 = join(PEERS_DIR, "node24-bin");
  const cli = join(dir, "node_modules", "n8n", "bin", "n8n");
  if (!existsSync(cli) || !existsSync(node24))
    throw new Error(`n8n is not installed in ${PEERS_DIR}: run bash bench/peers/setup.sh`);
  const home = mkdtempSync(join(STATE_DIR, "peers-n8n-"));
  const port = await freePort();
  const env = {
    ...process.env,
    PATH: `${join(PEERS_DIR, "node24", "node_modules", "node", "bin")}:${process.env.PATH}`,
    N8N_USER_FOLDER: home,
    N8N_PORT: String(port),
    N8N_LISTEN_ADDRESS: "127.0.0.1",
    N8N_HOST: "127.0.0.1",
    N8N_DIAGNOSTICS_ENABLED: "false",
    N8N_VERSION_NOTIFICATIONS_ENABLED: "false",
    N8N_TEMPLATES_ENABLED: "false",
    N8N_PERSONALIZATION_ENABLED: "false",
    N8N_DISABLED_MODULES: "mcp-registry",
    N8N_DYNAMIC_BANNERS_ENABLED: "false",
    N8N_COMMUNITY_PACKAGES_ENABLED: "false",
    N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS: "false",
    N8N_LOG_LEVEL: "warn",
    DO_NOT_TRACK: "1",
  };
  const flowFile = join(home, "flow.json");
  copyFileSync(join(peerFlows, "n8n-webhook-flow.json"), flowFile);
  const run = (...args) => execFileSync(node24, [cli, ...args], { env, stdio: "pipe", timeout: 300_000 }).toString();
  run("import:workflow", `--input=${flowFile}`);
  run(...N8N_ACTIVATE);
  const s = spawnServer("n8n", node24, [cli, "start"], { env, cwd: home });
  s.cleanup.push(() => rmSync(home, { recursive: true, force: true }));
  const url = `http://127.0.0.1:${port}/webhook/hook`;
  await waitFor("n8n", async () => (await post(url, JSON.stringify(INPUT))).status === 200, { tries: 720, every: 500 });
  return { base: `http://127.0.0.1:${port}`, rootPid: s.child.pid };
}
// n8n 2.x: `publish:workflow` makes the imported draft the active version (1.x used update:workflow --active=true).
const N8N_ACTIVATE = (process.env.N8N_ACTIVATE ?? "publish:workflow --id=perfAnchorHook01").split(" ");

async function startNodeRed() {
  const dir = join(PEERS_DIR, "node-red");
  const red = join(dir, "node_modules", "node-red", "red.js");
  if (!existsSync(red)) throw new Error(`Node-RED is not installed in ${PEERS_DIR}: run bash bench/peers/setup.sh`);
  const user = mkdtempSync(join(STATE_DIR, "peers-nodered-"));
  copyFileSync(join(peerFlows, "node-red-webhook-flow.json"), join(user, "flows.json"));
  copyFileSync(join(peerFlows, "node-red-settings.js"), join(user, "settings.js"));
  const port = await freePort();
  // the project's Node 22 from the registry (Node-RED 5 wants Node ≥ 22.9), whatever node runs this script
  const node22 = existsSync(join(bin, "node")) ? join(bin, "node") : process.execPath;
  const s = spawnServer(
    "nodered",
    node22,
    [red, "--userDir", user, "--settings", join(user, "settings.js"), "--port", String(port)],
    { env: { ...process.env, NODE_RED_ENABLE_TOURS: "false" }, cwd: user },
  );
  s.cleanup.push(() => rmSync(user, { recursive: true, force: true }));
  const base = `http://127.0.0.1:${port}`;
  await waitFor("Node-RED", async () => (await post(`${base}/hook`, JSON.stringify(INPUT))).status === 200, {
    tries: 240,
    every: 500,
  });
  return { base, rootPid: s.child.pid };
}

// ── the load ────────────────────────────────────────────────────────────────────────────────────────────────────
/**
 * One autocannon run of WARM + `seconds` on the same connections; only responses that arrive in the last `seconds`
 * count (steady state: a slow server has its queue full by then). Latencies come from each response's own timer
 * (ms, sub-ms resolution; autocannon's histogram keeps whole ms); bodies are checked. Then waits until one more
 * request gets through, so work left queued in the server does not leak into the next measurement.
 */
async function drive(target, connections, seconds, cpuRoot) {
  const { url, headers, body, ok } = target;
  const warm = WARM;
  const done = [];
  let bad = 0;
  let t0 = 0;
  const load = loadavg().map((x) => +x.toFixed(2));
  // the server's CPU over exactly the measured window (after the warm-up, until the load stops)
  let cpuStart;
  let cpuEnd;
  const startTimer = setTimeout(() => (cpuStart = cpuRoot ? treeCpuMs(cpuRoot) : undefined), warm * 1000);
  const endTimer = setTimeout(() => (cpuEnd = cpuRoot ? treeCpuMs(cpuRoot) : undefined), (warm + seconds) * 1000);
  const res = await new Promise((resolve, reject) => {
    const inst = autocannon(
      {
        url,
        connections,
        duration: warm + seconds,
        timeout: Number(process.env.TIMEOUT_S ?? 120), // n8n at c=50 answers in seconds; autocannon's default (10 s) would cut it
        requests: [{ method: "POST", headers, body, onResponse: (status, text) => void (ok(status, text) || bad++) }],
      },
      (err, r) => (err ? reject(err) : resolve(r)),
    );
    t0 = performance.now();
    inst.on("response", (_client, _status, _bytes, ms) => done.push([performance.now() - t0, ms]));
  });
  clearTimeout(startTimer);
  clearTimeout(endTimer);
  cpuEnd ??= cpuRoot ? treeCpuMs(cpuRoot) : undefined;
  const lat = done.filter(([t]) => t >= warm * 1000 && t <= (warm + seconds) * 1000).map(([, ms]) => ms);
  lat.sort((x, y) => x - y);
  const pct = (p) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] ?? NaN;
  const drainStart = performance.now();
  await post(url, body, headers, 300_000)
    .then((r) => r.text())
    .catch(() => {});
  return {
    requests: lat.length,
    rps: lat.length / seconds,
    cpu_ms_per_req:
      cpuStart !== undefined && cpuEnd !== undefined && lat.length ? (cpuEnd - cpuStart) / lat.length : undefined,
    load,
    p50: pct(50),
    p99: pct(99),
    bad,
    errors: res.errors + res.timeouts + res.non2xx,
    drain_ms: Math.round(performance.now() - drainStart),
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const RATIO_LABELS = {
  rps_vs_ceiling: "ours ÷ ceiling req/s (target ≥ 0.80)",
  cpu_vs_ceiling: "ours ÷ ceiling server CPU per request (target ≤ 1.25)",
  p99_vs_ceiling: "ours ÷ ceiling p99 (target ≤ 1.25)",
  rps_vs_ceiling_assets: "ours ÷ ceiling_assets req/s (like with like: both behind the same [assets] router)",
  cpu_vs_ceiling_assets: "ours ÷ ceiling_assets server CPU per request",
  p99_vs_ceiling_assets: "ours ÷ ceiling_assets p99",
  ceiling_assets_cpu_vs_ceiling:
    "ceiling_assets ÷ ceiling server CPU per request (what the local [assets] router costs)",
  rps_vs_n8n: "ours ÷ n8n req/s",
  p99_vs_n8n_p50_over_5: "ours p99 ÷ (n8n p50 / 5) (target < 1)",
  ceiling_p99_vs_n8n_p50_over_5: "ceiling p99 ÷ (n8n p50 / 5) (the platform's own room)",
  rps_vs_nodered: "ours ÷ Node-RED req/s",
  rps_vs_alt: "ours ÷ alt req/s (this checkout against the other one)",
  cpu_vs_alt: "ours ÷ alt server CPU per request",
  p99_vs_alt: "ours ÷ alt p99",
};

const LABELS = {
  ours: "this runtime (sync webhook; workerd entry socket under wrangler dev)",
  ceiling: "ceiling: bare worker, one DO + one storage write (workerd entry socket under wrangler dev)",
  ours_proxy: "this runtime through wrangler dev's proxy",
  ceiling_proxy: "ceiling through wrangler dev's proxy",
  ceiling_assets:
    "ceiling_assets: the ceiling with this runtime's [assets] block (the console), called at /hooks/ceiling",
  n8n: "n8n (defaults, webhook → Set → IF → Respond)",
  nodered: "Node-RED (http in → function → switch → change → http response)",
  alt: "alt: this runtime at another commit (ALT_ROOT), served the same way",
};

// ── main ───────────────────────────────────────────────────────────────────────────────────────────────────────
if (process.env.RENDER) {
  // re-render the Markdown from saved runs (the JSON line this script prints last): RENDER=run1.log,run2.log renders
  // the last one in full and lists the ratios of the others
  const runs = process.env.RENDER.split(",").map((f) => {
    const lines = readFileSync(f, "utf8").trim().split("\n");
    return JSON.parse(lines.filter((l) => l.startsWith('{"figure":"peers"')).pop());
  });
  const r = runs.pop();
  r.state = process.env.STATE_DIR ? stateNote() : (r.state ?? stateNote());
  r.others = runs;
  writeFileSync(RESULTS || join(root, "bench", "results-peers.md"), renderMarkdown(r));
  process.exit(0);
}
const scratchLogs = mkdtempSync(join(tmpdir(), "peers-logs-"));
const mem = new MemorySampler();
const targets = {};
const cpuOf = {}; // target → the root pid of the process tree whose CPU it spends
const versions = {};
let exitCode = 0;
try {
  const needOurs = TARGETS.some((t) => t.startsWith("ours"));
  const needCeil = TARGETS.some((t) => t === "ceiling" || t === "ceiling_proxy");
  const ceilReq = (base, path = "/") => ({
    url: `${base}${path}`,
    headers: { "content-type": "application/json" },
    body: "{}",
    ok: (st, t) => st === 200 && t.includes('"ok":true'),
  });
  const ceilProbeAt = (path) => async (b) => (await (await post(`${b}${path}`, "{}")).text()).includes('"ok":true');
  if (needCeil) {
    log("starting the ceiling (wrangler dev, bench/ceiling)");
    const c = await startWrangler("ceiling", join(root, "bench", "ceiling"), { seed: false, probe: ceilProbeAt("/") });
    targets.ceiling = ceilReq(c.direct);
    targets.ceiling_proxy = ceilReq(c.proxy);
    mem.add("ceiling", c.rootPid, (pid) => pid === c.workerPid);
    cpuOf.ceiling = cpuOf.ceiling_proxy = c.rootPid;
  }
  // ceiling-like workers, each called at a path its routing sends to the worker: ceiling_assets (the ceiling behind
  // our [assets] router, called like our webhooks) and the CEILINGS
  const ceilingLikes = Object.entries({
    ...(TARGETS.includes("ceiling_assets")
      ? { ceiling_assets: { dir: ceilingWithAssets(), path: "/hooks/ceiling" } }
      : {}),
    ...Object.fromEntries(Object.entries(CEILINGS).map(([name, dir]) => [name, { dir, path: "/" }])),
  }).filter(([name]) => TARGETS.includes(name));
  for (const [name, { dir, path }] of ceilingLikes) {
    log(`starting ${name}: a ceiling-like worker in ${dir} (wrangler dev)`);
    const c = await startWrangler(name, dir, { seed: false, probe: ceilProbeAt(path) });
    targets[name] = ceilReq(c.direct, path);
    mem.add(name, c.rootPid, (pid) => pid === c.workerPid);
    cpuOf[name] = c.rootPid;
  }
  if (needOurs) {
    log("starting our runtime (wrangler dev)");
    const o = await startWrangler("ours", root, {
      seed: true,
      probe: async (b) => (await fetch(`${b}/health`, { signal: AbortSignal.timeout(1500) })).status === 200,
    });
    const prepared = await prepareOurs(o.proxy);
    targets.ours = oursRequest(o.direct, prepared);
    targets.ours_proxy = oursRequest(o.proxy, prepared);
    mem.add("ours", o.rootPid, (pid) => pid === o.workerPid);
    cpuOf.ours = cpuOf.ours_proxy = o.rootPid;
  }
  if (TARGETS.includes("alt") && !ALTS.alt)
    throw new Error('target "alt" needs ALT_ROOT (another checkout of this runtime)');
  for (const [name, cwd] of Object.entries(ALTS)) {
    if (!TARGETS.includes(name)) continue;
    log(`starting ${name}: the checkout ${cwd} (wrangler dev)`);
    const a = await startWrangler(name, cwd, {
      seed: true,
      probe: async (b) => (await fetch(`${b}/health`, { signal: AbortSignal.timeout(1500) })).status === 200,
    });
    targets[name] = oursRequest(a.direct, await prepareOurs(a.proxy));
    versions[name] = execFileSync("git", ["-C", cwd, "rev-parse", "--short", "HEAD"]).toString().trim();
    versions.ours = execFileSync("git", ["-C", root, "rev-parse", "--short", "HEAD"]).toString().trim();
    mem.add(name, a.rootPid, (pid) => pid === a.workerPid);
    cpuOf[name] = a.rootPid;
  }
  if (TARGETS.includes("n8n")) {
    log("starting n8n (import, publish, start)");
    const n = await startN8n();
    targets.n8n = {
      url: `${n.base}/webhook/hook`,
      headers: { "content-type": "application/json" },
      body: JSON.stringify(INPUT),
      ok: (st, t) => st === 200 && t.includes('"branch":"big"') && t.includes('"ADA"'),
    };
    mem.add("n8n", n.rootPid);
    cpuOf.n8n = n.rootPid;
    versions.n8n = JSON.parse(
      readFileSync(join(PEERS_DIR, "n8n", "node_modules", "n8n", "package.json"), "utf8"),
    ).version;
    versions.n8n_node = execFileSync(join(PEERS_DIR, "node24-bin"), ["-v"]).toString().trim();
  }
  if (TARGETS.includes("nodered")) {
    log("starting Node-RED");
    const r = await startNodeRed();
    targets.nodered = {
      url: `${r.base}/hook`,
      headers: { "content-type": "application/json" },
      body: JSON.stringify(INPUT),
      ok: (st, t) => st === 200 && t.includes('"branch":"big"') && t.includes('"ADA"'),
    };
    mem.add("nodered", r.rootPid);
    cpuOf.nodered = r.rootPid;
    versions.nodered = JSON.parse(
      readFileSync(join(PEERS_DIR, "node-red", "node_modules", "node-red", "package.json"), "utf8"),
    ).version;
    versions.nodered_node = execFileSync(existsSync(join(bin, "node")) ? join(bin, "node") : process.execPath, ["-v"])
      .toString()
      .trim();
  }
  const order = TARGETS.filter((t) => targets[t]);
  for (const t of order) {
    // one checked request each before the load, so a wrong flow fails loudly instead of measuring errors
    // (n8n once answered 200 while starting and then, for a moment, Express's "Cannot POST": retry for a while)
    let last = "";
    await waitFor(
      t,
      async () => {
        const r = await post(targets[t].url, targets[t].body, targets[t].headers, 30_000);
        last = `${r.status} ${(await r.text()).slice(0, 300)}`;
        return targets[t].ok(r.status, last.slice(4));
      },
      { tries: 60, every: 1000 },
    ).catch(() => {
      throw new Error(`${t} answered ${last}`);
    });
    log(`${t} ready: ${last.slice(0, 160)}`);
  }
  if (process.env.HOLD) {
    // debugging: keep the servers up and print how to call them until this process gets SIGINT/SIGTERM
    console.log(
      JSON.stringify(
        Object.fromEntries(
          order.map((t) => [t, { url: targets[t].url, headers: targets[t].headers, body: targets[t].body }]),
        ),
      ),
    );
    await new Promise((r) => {
      process.once("SIGINT", r);
      process.once("SIGTERM", r);
    });
    throw new Error("HOLD ended");
  }
  for (const s of mem.servers.values()) s.peakTreeAll = s.peakServingAll = 0; // peaks from here on: while serving

  // ABBA rounds (issue 15): every round measures every system once, in the forward order on even rounds and the
  // reverse on odd ones, with an idle gap before each window; ratios are taken within a round (same machine state),
  // then reported as the median over rounds with their range. The load averages at each window's start are kept.
  const runs = {}; // `${t}@${c}` → one result per round
  const rounds = {}; // c → [{ t → result }]
  for (const c of CONCURRENCY) {
    for (let round = 0; round < ROUNDS; round++) {
      const seq = round % 2 === 0 ? order : [...order].reverse();
      const row = {};
      for (const t of seq) {
        await sleep(IDLE * 1000);
        const r = await drive(targets[t], c, SECONDS, cpuOf[t]);
        row[t] = r;
        (runs[`${t}@${c}`] ??= []).push(r);
        log(
          `round ${round + 1}/${ROUNDS} c=${c} ${t}: ${r.rps.toFixed(1)} rps, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, CPU ${r.cpu_ms_per_req?.toFixed(3) ?? "—"} ms/req, load ${r.load.join(" ")}, errors ${r.errors}, bad bodies ${r.bad}, drained in ${r.drain_ms} ms`,
        );
      }
      (rounds[c] ??= []).push(row);
    }
  }
  mem.sample();
  const stat = (xs) => {
    const v = xs.filter((x) => Number.isFinite(x));
    if (!v.length) return undefined;
    const digits = Math.max(...v) < 10 ? 3 : 1;
    return {
      median: +median(v).toFixed(digits),
      min: +Math.min(...v).toFixed(digits),
      max: +Math.max(...v).toFixed(digits),
      n: v.length,
    };
  };
  const points = [];
  for (const c of CONCURRENCY) {
    for (const t of order) {
      const list = runs[`${t}@${c}`];
      points.push({
        target: t,
        concurrency: c,
        rps: stat(list.map((x) => x.rps)),
        p50_ms: stat(list.map((x) => x.p50)),
        p99_ms: stat(list.map((x) => x.p99)),
        cpu_ms_per_req: stat(list.map((x) => x.cpu_ms_per_req)),
        errors: list.reduce((n, x) => n + x.errors + x.bad, 0),
      });
    }
  }
  // within-round ratios, then their median and range over the rounds
  const ratios = {};
  for (const c of CONCURRENCY) {
    const per = (f) => stat(rounds[c].map((row) => f(row)).filter((x) => x !== undefined));
    const has = (t) => order.includes(t);
    const r = {};
    // ours ÷ `name`: req/s, CPU per request, p99
    const versus = (name) => {
      r[`rps_vs_${name}`] = per((x) => x.ours.rps / x[name].rps);
      r[`cpu_vs_${name}`] = per((x) => x.ours.cpu_ms_per_req / x[name].cpu_ms_per_req);
      r[`p99_vs_${name}`] = per((x) => x.ours.p99 / x[name].p99);
    };
    if (has("ours") && has("ceiling")) versus("ceiling");
    for (const name of Object.keys(ALTS).filter(has)) {
      if (!has("ours")) break;
      versus(name);
      r[`cpu_ms_ours_minus_${name}`] = per((x) => x.ours.cpu_ms_per_req - x[name].cpu_ms_per_req);
    }
    if (has("ours") && has("ceiling_assets")) versus("ceiling_assets");
    // every ceiling-like worker against the bare ceiling, paired within each round
    for (const name of ["ceiling_assets", ...Object.keys(CEILINGS)].filter(has)) {
      if (!has("ceiling")) break;
      r[`${name}_cpu_vs_ceiling`] = per((x) => x[name].cpu_ms_per_req / x.ceiling.cpu_ms_per_req);
    }
    if (has("ours") && has("n8n")) {
      r.rps_vs_n8n = per((x) => x.ours.rps / x.n8n.rps);
      r.p99_vs_n8n_p50_over_5 = per((x) => x.ours.p99 / (x.n8n.p50 / 5));
    }
    if (has("ceiling") && has("n8n")) r.ceiling_p99_vs_n8n_p50_over_5 = per((x) => x.ceiling.p99 / (x.n8n.p50 / 5));
    if (has("ours") && has("nodered")) r.rps_vs_nodered = per((x) => x.ours.rps / x.nodered.rps);
    ratios[c] = r;
  }
  const memory = {};
  for (const [name, s] of mem.servers) {
    const h = mem.hwm(name);
    memory[name] = {
      peak_tree_rss_mb: +(s.peakTreeAll / 1024).toFixed(1),
      peak_serving_rss_mb: s.narrowed ? +(s.peakServingAll / 1024).toFixed(1) : undefined,
      hwm_tree_mb: +(h.totalKb / 1024).toFixed(1),
      processes: h.parts.map((p) => `${p.name}:${(p.hwm / 1024).toFixed(0)}`).join(" "),
    };
  }
  const result = {
    figure: "peers",
    state: stateNote(),
    seconds: SECONDS,
    warm: WARM,
    rounds: ROUNDS,
    idle: IDLE,
    date: new Date().toISOString(),
    versions,
    points,
    ratios,
    memory,
    loads: Object.values(runs).flatMap((list) => list.map((x) => x.load[0])),
    // each round's server CPU per request by target (c → rounds → target → ms), for within-round differences
    cpu_by_round: Object.fromEntries(
      CONCURRENCY.map((c) => [
        c,
        rounds[c].map((row) => Object.fromEntries(Object.entries(row).map(([t, x]) => [t, x.cpu_ms_per_req]))),
      ]),
    ),
  };
  printTable(points, ratios, memory);
  console.log(JSON.stringify(result));
  if (RESULTS) {
    writeFileSync(RESULTS, renderMarkdown(result));
    log(`wrote ${RESULTS}`);
  }
} catch (e) {
  exitCode = 1;
  console.error(e);
  for (const s of started) console.error(`── last output of ${s.name}:\n${s.output().slice(-3000)}`);
} finally {
  mem.stop();
  await stopAll();
}
process.exit(exitCode);

function fmt(x, unit = "") {
  return x ? `${x.median}${unit} [${x.min}–${x.max}]` : "—";
}

function printTable(points, ratios, memory) {
  const pad = (s, n) => String(s).padEnd(n);
  console.log(
    `${pad("target", 10)}${pad("c", 5)}${pad("req/s", 24)}${pad("p50 ms", 24)}${pad("p99 ms", 24)}${pad("CPU ms/req", 24)}errors`,
  );
  for (const p of points)
    console.log(
      `${pad(p.target, 10)}${pad(p.concurrency, 5)}${pad(fmt(p.rps), 24)}${pad(fmt(p.p50_ms), 24)}${pad(fmt(p.p99_ms), 24)}${pad(fmt(p.cpu_ms_per_req), 24)}${p.errors}`,
    );
  for (const [c, r] of Object.entries(ratios))
    for (const [k, v] of Object.entries(r)) console.log(`c=${c} ${k}: ${fmt(v)} (${v?.n ?? 0} rounds)`);
  for (const [n, m] of Object.entries(memory)) console.log(`memory ${n}: ${JSON.stringify(m)}`);
}

function renderMarkdown(r) {
  const L = [];
  L.push("# Peer benchmark", "");
  L.push(
    "Generated by `node bench/peers/run.mjs` (after `bash bench/peers/setup.sh`); do not edit by hand.",
    "",
    `Run: ${r.date}. ${r.rounds} rounds; in each, every system gets ${r.warm} s of load (not counted) then ${r.seconds} s measured,`,
    `after ${r.idle} s idle; the order is reversed every other round (ABBA). Each figure is the median over the rounds`,
    "[min–max]; each ratio is taken within a round, then its median [min–max]. Loopback, autocannon in the benchmark",
    "process, every server started by this script. CPU per request: user + system time of the server's whole process",
    "tree during the measured window ÷ the requests it answered in it. Machine: 2 shared cores.",
    `n8n ${r.versions.n8n ?? "—"} on Node ${r.versions.n8n_node ?? "—"}, Node-RED ${r.versions.nodered ?? "—"} on Node ${r.versions.nodered_node ?? "—"}.` +
      (r.versions.alt ? ` This runtime at ${r.versions.ours}, alt at ${r.versions.alt}.` : ""),
    `State (the workers' local D1/Durable Object SQLite, n8n's SQLite, Node-RED's user dir): ${r.state}.`,
    "",
  );
  for (const c of [...new Set(r.points.map((p) => p.concurrency))]) {
    L.push(
      `### concurrency ${c}`,
      "",
      "| target | req/s | p50 | p99 | server CPU per request | errors |",
      "| --- | --- | --- | --- | --- | --- |",
    );
    for (const p of r.points.filter((x) => x.concurrency === c))
      L.push(
        `| ${LABELS[p.target] ?? p.target} | ${fmt(p.rps)} | ${fmt(p.p50_ms, " ms")} | ${fmt(p.p99_ms, " ms")} | ${fmt(p.cpu_ms_per_req, " ms")} | ${p.errors} |`,
      );
    L.push("", "| ratio (within each round) | median [min–max] | rounds |", "| --- | --- | --- |");
    for (const [k, v] of Object.entries(r.ratios[c] ?? {}))
      L.push(`| ${RATIO_LABELS[k] ?? k} | ${fmt(v)} | ${v?.n ?? 0} |`);
    L.push("");
  }
  const loads = r.loads ?? [];
  if (loads.length)
    L.push(`Load averages (1 min) at the windows' starts: ${Math.min(...loads)}–${Math.max(...loads)}.`, "");
  L.push(
    "",
    "### peak memory",
    "",
    "Sampled every " +
      SAMPLE_MS +
      " ms from /proc while the benchmark ran (after start-up): the largest sum of VmRSS over the",
    "server's process tree, and for the workers also the workerd process that runs the worker alone (the tree also",
    "holds wrangler's Node process, its proxy workerd and esbuild). `VmHWM` is each process's lifetime peak, start-up",
    "included, summed over the tree. The serving workerd grows with the number of Durable Objects the run created (one",
    "per request, kept by the local runtime), so its figure depends on the length of the run; n8n and Node-RED stay flat.",
    "",
  );
  L.push(
    "| server | peak tree RSS | peak RSS of the serving workerd | Σ VmHWM over the tree | processes (VmHWM MB) |",
    "| --- | --- | --- | --- | --- |",
  );
  for (const [n, m] of Object.entries(r.memory))
    L.push(
      `| ${n} | ${m.peak_tree_rss_mb} MB | ${m.peak_serving_rss_mb !== undefined ? `${m.peak_serving_rss_mb} MB` : "—"} | ${m.hwm_tree_mb} MB | ${m.processes} |`,
    );
  L.push("", "### what was compared", "");
  L.push(
    "- n8n: `bench/peers/fixtures/n8n-webhook-flow.json` imported with `n8n import:workflow`, published, `n8n start` with its",
  );
  L.push(
    "  defaults (SQLite, executions saved, task runners as shipped, and the default `vm` expression engine: isolated-vm with a pool of one isolate, which serialises expression evaluation) except telemetry, update",
  );
  L.push(
    "  checks, templates and banners off, bound to 127.0.0.1. Its tree is the main process and its task-runner child.",
  );
  L.push(
    "- Node-RED: `bench/peers/fixtures/node-red-webhook-flow.json` with `node-red-settings.js` (127.0.0.1, telemetry off).",
  );
  L.push(
    "- This runtime: `bench/peers/astron-flow.json` (start(name, n) → text-joiner → if-else n > 10 → text-joiner big |",
  );
  L.push(
    "  small → end in variable mode, JSON `{name, n, big, small}`), published and licensed, called through the open API",
  );
  L.push("  the flow's `sync` webhook `POST /hooks/{id}` (bearer token, no rate limit; see `oursRequest`");
  L.push(
    "  in run.mjs). Not strictly equal: no Astron node upper-cases a string without the code node, whose only executor",
  );
  L.push(
    "  is a remote Python service (spec §5.9), so the text-joiner copies the name; the response names the branch by which",
  );
  L.push(
    "  key is filled rather than by a `branch` field. The open API does more per request than a webhook (D1 licence",
  );
  L.push(
    "  read, a run Durable Object with its frames and history row), which is the work the issue's targets are about.",
  );
  L.push("- Ceiling: `bench/ceiling` (a bare Hono worker creating a Durable Object per request with one SQL write).");
  L.push(
    "- ceiling_assets: the same worker with this runtime's `[assets]` block (the console, issue 16). Locally miniflare",
  );
  L.push(
    "  then routes every request entry → RPC proxy → router (outer, inner) → the worker: three more isolate hops that",
  );
  L.push(
    "  ours pays on every webhook and the bare ceiling does not. On Cloudflare the router is the platform's own worker.",
  );
  L.push(
    "- Both workers run under `wrangler dev --local` and are driven at the entry socket of the workerd process that",
  );
  L.push(
    "  runs them, bypassing wrangler's proxy worker (the `_proxy` rows, when present, go through it); like with like.",
  );
  L.push("", "```json", JSON.stringify({ ...r, others: undefined }), "```", "");
  return L.join("\n");
}
