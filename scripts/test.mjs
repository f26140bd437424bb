// The test command (`npm test`). In order: system packages, fixtures, typecheck and the Prettier check (one test
// each), vitest (the `engine` project on Node and the `workers` project in workerd, counted from a JSON report), the
// engine suite on Deno (counted from Deno's summary). Each runner's output streams through as it runs; the last line
// is `N passed, N failed[, N skipped]` summed over everything, and the exit code is non-zero if anything failed or a
// runner crashed.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "node_modules", ".bin");
const env = {
  ...process.env,
  // node_modules/.bin first: Node 22 (the `node` devDependency), vitest, wrangler, deno, tsc
  PATH: `${bin}:${process.env.PATH ?? ""}`,
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
  // colours only for a terminal: a CI log should read as text
  ...(process.stdout.isTTY ? {} : { NO_COLOR: "1" }),
};
const RUNNER_TIMEOUT_MS = 20 * 60_000;

const totals = { passed: 0, failed: 0, skipped: 0 };
const problems = [];
const timings = [];

/** Runs a child with its output streamed through; resolves with its exit status and (if asked) its stdout. */
function run(label, cmd, args, { capture = false } = {}) {
  console.log(`\n── ${label}: ${cmd} ${args.join(" ")}`);
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: ["ignore", capture ? "pipe" : "inherit", "inherit"] });
    let stdout = "";
    child.stdout?.on("data", (chunk) => {
      stdout += chunk;
      process.stdout.write(chunk);
    });
    const timer = setTimeout(() => {
      problems.push(`${label} timed out after ${RUNNER_TIMEOUT_MS / 60_000} min`);
      child.kill("SIGKILL");
    }, RUNNER_TIMEOUT_MS);
    const done = (status, error) => {
      clearTimeout(timer);
      const seconds = (Date.now() - started) / 1000;
      timings.push(`${label} ${seconds.toFixed(1)}s`);
      if (error) console.error(`${label}: ${error.message}`);
      resolve({ status, stdout });
    };
    child.on("error", (e) => done(null, e));
    child.on("close", (code, signal) => done(signal ? null : code));
  });
}

const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");

// 1. system packages and fixtures
if ((await run("setup", "bash", ["scripts/setup-system.sh"])).status !== 0) problems.push("setup-system failed");
if ((await run("fixtures", "node", ["scripts/gen-fixtures.mjs"])).status !== 0)
  problems.push("fixture generation failed");

// 2. typecheck: one test that passes or fails
if ((await run("typecheck", "node", ["scripts/typecheck.mjs"])).status === 0) totals.passed++;
else {
  totals.failed++;
  problems.push("typecheck failed");
}

// the browser console's build and its size budget: one more test (vitest.config.ts builds it too, for direct runs)
if ((await run("console", "node", ["scripts/build-console.mjs"])).status === 0) totals.passed++;
else {
  totals.failed++;
  problems.push("the console build failed or is over its size budget");
}

// formatting: one more test that passes or fails (the tree stays as .prettierrc says)
if ((await run("format", "prettier", ["--check", "--log-level", "warn", "."])).status === 0) totals.passed++;
else {
  totals.failed++;
  problems.push("prettier --check failed (npm run format fixes it)");
}

// 3. vitest, both projects, with a JSON report to count
const outDir = join(root, ".tmp");
mkdirSync(outDir, { recursive: true });
const report = join(outDir, "vitest.json");
rmSync(report, { force: true });
const vt = await run("vitest", "vitest", [
  "run",
  "--reporter=default",
  "--reporter=json",
  `--outputFile.json=${report}`,
]);
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, "utf8"));
  totals.passed += r.numPassedTests ?? 0;
  totals.failed += r.numFailedTests ?? 0;
  totals.skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  if (vt.status !== 0 && (r.numFailedTests ?? 0) === 0) {
    // a file that failed to load, an error in a hook or an unhandled rejection: no test failed, the run did
    totals.failed++;
    problems.push(`vitest exited ${vt.status} with ${r.numFailedTestSuites ?? 0} failed file(s) and no failed test`);
  }
} else {
  totals.failed++;
  problems.push(`vitest crashed (exit ${vt.status}) before writing its report`);
}

// 4. the engine suite on Deno (vitest imports mapped to test/support/deno-vitest-shim.ts by deno.json)
const denoTargets = ["test/engine/", "test/smoke/runner.test.ts"].filter((p) => existsSync(join(root, p)));
const deno = await run(
  "deno",
  "deno",
  ["test", "--allow-read", "--allow-env", "--no-check", "--permit-no-files", ...denoTargets],
  { capture: true },
);
const summaryLine = stripAnsi(deno.stdout)
  .split("\n")
  .reverse()
  .find((l) => /^(ok|FAILED) \| \d+ passed/.test(l.trim()));
if (summaryLine) {
  const count = (word) => Number(new RegExp(`(\\d+) ${word}`).exec(summaryLine)?.[1] ?? 0);
  totals.passed += count("passed");
  totals.failed += count("failed");
  totals.skipped += count("ignored");
  if (deno.status !== 0 && count("failed") === 0) {
    totals.failed++;
    problems.push(`deno test exited ${deno.status} with no failed test`);
  }
} else {
  totals.failed++;
  problems.push(`deno test crashed (exit ${deno.status}) before its summary`);
}

console.log(`\ntimings: ${timings.join(", ")}`);
if (problems.length) console.log(`problems: ${problems.join("; ")}`);
const summary = `${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ""}`;
console.log(`\n${summary}`);
process.exitCode = totals.failed > 0 || problems.length > 0 ? 1 : 0;
