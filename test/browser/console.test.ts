// The browser console (issue 16) in a real Chromium (Debian's, installed by scripts/setup-system.sh) driven by
// playwright-core against `wrangler dev` with a seeded app and a fake OpenAI provider that streams slowly: sign in,
// open a flow, run it and watch the tokens and node states change while it runs, a failing node with its code, a
// question answered in the page, a run's page reloaded mid-run that shows every frame once, and a webhook created in
// the page and called with the curl request it shows. Every page is checked with axe-core (no serious or critical
// violations); the browser's console must show no error and no request may fail. Screenshots of a flow picture
// and a run's timeline go to .tmp/screenshots/.
import { execFileSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { END, flow, optionQuestionFlow, START } from "../support/dsl-builder.ts";
import { startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai.ts";
import { loadFixture } from "../support/fixtures.ts";
import { llmNode, startLlmEnd } from "../support/llm-flow.ts";
import { root, seededState, startDev } from "../support/wrangler-dev.ts";

const APP = { "X-Consumer-Username": "d1590f30", "Content-Type": "application/json" };
const TENANT = { "X-Consumer-Username": "tenant01", "Content-Type": "application/json" };
const CHROMIUM = "/usr/bin/chromium";
const SHOTS = join(root, ".tmp", "screenshots");
const TOKENS = ["Hel", "lo ", "from ", "the ", "edge", "!"];
const LONG = Array.from({ length: 12 }, (_, i) => `t${i} `);

let openai: FakeOpenAI;
let dev: ChildProcess | undefined;
let base = "";
let persist = "";
let profile = "";
let browser: BrowserContext;
let page: Page;
const ids = { branch: "", llm: "", failing: "", question: "", slow: "", iteration: "", file: "" };
const consoleErrors: string[] = [];
const failedRequests: string[] = [];
/** requests the test itself cuts off (a reload mid-stream) are not failures of the console */
let reloading = false;

async function post(path: string, body: unknown, headers = APP): Promise<Response> {
  return fetch(`${base}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
}

async function addFlow(name: string, data: unknown): Promise<string> {
  const r = (await (
    await post("/workflow/v1/protocol/add", { app_id: "d1590f30", name, description: "", data })
  ).json()) as {
    data: { flow_id: string };
  };
  return r.data.flow_id;
}

/** axe-core in the page: no serious or critical violation. */
async function accessible(where: string): Promise<void> {
  const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
  if (!(await page.evaluate(() => "axe" in globalThis))) await page.addScriptTag({ path: axePath });
  const violations = await page.evaluate(async () => {
    const r = await (
      globalThis as unknown as {
        axe: {
          run: () => Promise<{
            violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[];
          }>;
        };
      }
    ).axe.run();
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n) => n.target.join(" ")).slice(0, 3),
    }));
  });
  const bad = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(bad, `axe on ${where}`).toEqual([]);
}

const state = (nodePrefix: string): Promise<string | null> =>
  page.locator(`.graph [data-node^="${nodePrefix}"]`).first().getAttribute("data-state");

beforeAll(async () => {
  openai = await startFakeOpenAI();
  persist = seededState("wrangler-console-");
  ({ base, child: dev } = await startDev({ persist, vars: () => ["ALLOW_PRIVATE_FETCH:true"], stdio: "ignore" }));
  ids.branch = await addFlow("Branch example", loadFixture("example-core-if-else-branch.json"));
  ids.llm = await addFlow(
    "Streaming answer",
    startLlmEnd(openai.url, {
      tokens: TOKENS,
      delayMs: 350,
      usage: { prompt_tokens: 7, completion_tokens: 6, total_tokens: 13 },
    }),
  );
  ids.failing = await addFlow("Failing model", startLlmEnd(openai.url, { status: 500 }));
  ids.question = await addFlow("Ask first", optionQuestionFlow());
  // the example start → LLM → end flow, its model node pointed at the fake provider
  const example = loadFixture("example-core-start-llm-end.json") as {
    data: { nodes: { id: string; data: { nodeParam: Record<string, unknown> } }[] };
  };
  for (const n of example.data.nodes)
    if (n.id.startsWith("spark-llm::"))
      n.data.nodeParam = { ...n.data.nodeParam, ...llmNode(openai.url, { tokens: LONG, delayMs: 300 }) };
  ids.slow = await addFlow("Long answer", example);
  ids.iteration = await addFlow(
    "Each item",
    flow()
      .node(START, {
        outputs: [{ name: "items", type: "array", required: true, schema: { items: { type: "string" } } }],
      })
      .prefixIteration({ it: "For each", is: "Item", tj: "Prefix", ie: "Collect" })
      .node(END, {
        params: { outputMode: 0 },
        inputs: [{ name: "all", type: "array", ref: { node: "iteration::it", name: "output" } }],
      })
      .edge(START, "iteration::it")
      .edge("iteration::it", END)
      .build(),
  );
  // a file parameter: the form uploads it to R2 and passes its URL
  const withFile = flow()
    .node(START, { outputs: [{ name: "doc", required: true }] })
    .node(END, { params: { outputMode: 0 }, inputs: [{ name: "doc", ref: { node: START, name: "doc" } }] })
    .edge(START, END)
    .build() as unknown as { data: { nodes: { id: string; data: { outputs?: Record<string, unknown>[] } }[] } };
  const docParam = withFile.data.nodes.find((n) => n.id === START)?.data.outputs?.[0];
  if (docParam) Object.assign(docParam, { fileType: "file", allowedFileType: ["txt"] });
  ids.file = await addFlow("Read a file", withFile);
  // the branch example is published and licensed: webhooks run published flows
  await post("/v1/publish", { flow_id: ids.branch, release_status: 1, plat: 1 }, TENANT);
  await post("/v1/auth", { flow_id: ids.branch, app_id: "d1590f30" }, TENANT);

  profile = mkdtempSync(join(tmpdir(), "console-chromium-"));
  // a fresh profile (playwright passes it as --user-data-dir)
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1360, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("requestfailed", (r) => {
    if (!(reloading && r.failure()?.errorText === "net::ERR_ABORTED"))
      failedRequests.push(`${r.method()} ${r.url()} ${r.failure()?.errorText ?? ""}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) failedRequests.push(`${r.request().method()} ${r.url()} ${r.status()}`);
  });
  mkdirSync(SHOTS, { recursive: true });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  dev?.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 300));
  if (dev && dev.exitCode === null) dev.kill("SIGKILL");
  await openai?.close();
  rmSync(persist, { recursive: true, force: true });
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe("the console in Chromium", { timeout: 30_000 }, () => {
  it("signs in and lists the app's flows, searchable", async () => {
    await page.goto(`${base}/`);
    await page.waitForURL(/\/console\/$/);
    await accessible("sign-in");
    await page.getByLabel("App id", { exact: true }).fill("d1590f30");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("table", { name: "Flows" }).waitFor();
    for (const name of ["Branch example", "Streaming answer", "Failing model", "Ask first"])
      await expect(page.getByRole("link", { name }).count()).resolves.toBe(1);
    await accessible("flows");
    await page.getByLabel("Search").fill("branch");
    await expect(page.locator("tbody tr").count()).resolves.toBe(1);
    await page.getByLabel("Search").fill("");
  });

  it("draws a flow: one shape per node with its alias, branch handles labelled, details on selection", async () => {
    await page.getByRole("link", { name: "Branch example" }).click();
    await page.locator(".graph svg").waitFor({ timeout: 5000 });
    await expect(page.locator(".graph [data-node]").count()).resolves.toBe(5);
    for (const alias of ["Start", "Branch", "Pass message", "Fail text", "End"])
      await expect(page.locator(".graph .alias", { hasText: alias }).count()).resolves.toBe(1);
    await expect(page.locator(".graph .edge text").allTextContents()).resolves.toEqual(
      expect.arrayContaining(["if", "else"]),
    );
    // keyboard: focus a node and press Enter
    await page.locator('.graph [data-node^="if-else"]').focus();
    await page.keyboard.press("Enter");
    await page.getByRole("region", { name: "Node Branch" }).waitFor({ timeout: 5000 });
    await accessible("flow picture");
    await page.locator(".picture .graph").screenshot({ path: join(SHOTS, "flow-picture.png"), timeout: 5000 });
  });

  it("runs a flow and shows the tokens and node states while it runs, then the end", async () => {
    await page.getByRole("link", { name: "Astron workflows" }).click();
    await page.getByRole("link", { name: "Streaming answer" }).click();
    await page.getByLabel(/AGENT_USER_INPUT/).fill("hi");
    await page.getByRole("button", { name: "Run", exact: true }).click();
    // mid-run: part of the answer is in, the model node is running, the end node has not finished
    await page.waitForFunction('(document.querySelector(".answer")?.textContent ?? "").length > 0');
    const partial = (await page.locator(".answer").textContent()) ?? "";
    expect(partial.length).toBeGreaterThan(0);
    expect(partial).not.toBe(TOKENS.join(""));
    await expect(state("spark-llm")).resolves.toBe("running");
    await expect(state("node-end")).resolves.not.toBe("done");
    await expect(page.locator(".live .badge").first().textContent()).resolves.toContain("running");
    // then it ends
    await page.locator('.live .badge[data-status="completed"]').waitFor({ timeout: 15_000 });
    await expect(page.locator(".answer").textContent()).resolves.toBe(TOKENS.join(""));
    for (const prefix of ["node-start", "spark-llm", "node-end"]) await expect(state(prefix)).resolves.toBe("done");
    await expect(page.locator(".live").textContent()).resolves.toContain("Tokens: 13");
    await accessible("flow run");
  });

  it("shows a failing node as failed, with its code", async () => {
    await page.goto(`${base}/console/flows/${ids.failing}`);
    await page.getByLabel(/AGENT_USER_INPUT/).fill("hi");
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await page.locator('.live .badge[data-status="failed"]').waitFor({ timeout: 15_000 });
    await expect(state("spark-llm")).resolves.toBe("failed");
    const alert = (await page.locator(".live .error").textContent()) ?? "";
    const code = /code (\d+)/.exec(alert)?.[1];
    expect(Number(code)).toBeGreaterThan(0);
    await page.locator('.graph [data-node^="spark-llm"]').click();
    await expect(page.locator(".details .error").textContent()).resolves.toContain(`Error ${code}`);
    await accessible("failed run");
  });

  it("asks a question-answer node's question in the page and finishes with the answer", async () => {
    await page.goto(`${base}/console/flows/${ids.question}`);
    await page.getByLabel(/AGENT_USER_INPUT/).fill("go");
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await page.getByRole("form", { name: "Question" }).waitFor({ timeout: 15_000 });
    await expect(state("question-answer")).resolves.toBe("waiting");
    await expect(page.locator(".question .ask").textContent()).resolves.toContain("Ship it?");
    await accessible("question");
    await page.getByRole("button", { name: "A: yes" }).click();
    await page.locator('.live .badge[data-status="completed"]').waitFor({ timeout: 15_000 });
    await expect(page.locator(".answer").textContent()).resolves.toContain("yes");
    await expect(state("question-answer")).resolves.toBe("done");
  });

  it("draws an iteration body as a group and takes an array as validated JSON", async () => {
    await page.goto(`${base}/console/flows/${ids.iteration}`);
    await page.locator(".graph svg").waitFor();
    await expect(page.locator(".graph .group text").allTextContents()).resolves.toEqual(["For each body"]);
    await expect(page.locator(".graph .edge.dashed text").allTextContents()).resolves.toEqual(["each item"]);
    const items = page.getByLabel(/items/);
    await items.fill("[not json");
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await expect(page.locator(".run-form .error").textContent()).resolves.toBe("not valid JSON");
    await expect(page.locator(".live").count()).resolves.toBe(0);
    await items.fill('{"a": 1}');
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await expect(page.locator(".run-form .error").textContent()).resolves.toBe("must be a JSON array");
    await items.fill('["a", "b"]');
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await page.locator('.live .badge[data-status="completed"]').waitFor({ timeout: 15_000 });
    await expect(page.locator(".answer").textContent()).resolves.toBe('{"all":["x-a","x-b"]}');
    for (const prefix of ["iteration::", "text-joiner", "iteration-node-end"])
      await expect(state(prefix)).resolves.toBe("done");
    await accessible("iteration");
  });

  it("uploads a file parameter to R2 and runs with its URL", async () => {
    await page.goto(`${base}/console/flows/${ids.file}`);
    await page
      .getByLabel(/doc/)
      .setInputFiles({ name: "note.txt", mimeType: "text/plain", buffer: Buffer.from("hello") });
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await page.locator('.live .badge[data-status="completed"]').waitFor({ timeout: 15_000 });
    const answer = JSON.parse((await page.locator(".answer").textContent()) ?? "{}") as { doc: string };
    expect(answer.doc).toMatch(/\/workflow\/v1\/files\/[^/]+\.txt$/);
    await expect((await fetch(answer.doc)).text()).resolves.toBe("hello");
  });

  it("cancels a running run from the page", async () => {
    await page.goto(`${base}/console/flows/${ids.slow}`);
    await page.getByLabel(/AGENT_USER_INPUT/).fill("stop me");
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await page.waitForFunction('(document.querySelector(".answer")?.textContent ?? "").length > 0');
    await page.getByRole("button", { name: "Cancel the run" }).click();
    await page.locator('.live .badge[data-status="cancelled"]').waitFor({ timeout: 15_000 });
    await expect(state("spark-llm")).resolves.toBe("cancelled");
    await expect(page.locator(".live .error").textContent()).resolves.toMatch(/^Cancelled with code 22301/);
  });

  it("reattaches a run's page reloaded mid-run and shows every frame once", async () => {
    // a run started elsewhere (a client that stays connected), watched in the page
    const res = await post("/workflow/v1/debug/chat/completions", {
      flow_id: ids.slow,
      parameters: { AGENT_USER_INPUT: "long" },
    });
    const runId = res.headers.get("x-run-id") ?? "";
    const drained = res.text();
    await page.goto(`${base}/console/runs/${runId}`);
    await page.waitForFunction('document.querySelectorAll("#frame-seqs li").length >= 4');
    await expect(page.locator("#run-status").textContent()).resolves.toContain("running");
    reloading = true;
    await page.reload();
    reloading = false;
    await page.waitForFunction('document.querySelectorAll("#frame-seqs li").length >= 1');
    await page.locator('#run-status [data-status="completed"]').waitFor({ timeout: 20_000 });
    await drained;
    const seqs = (await page.locator("#frame-seqs li").allTextContents()).map(Number);
    const view = (await (await fetch(`${base}/runs/${runId}`, { headers: APP })).json()) as { lastEventId: number };
    expect(seqs).toEqual(Array.from({ length: view.lastEventId }, (_, i) => i + 1));
    await expect(page.locator(".answer").textContent()).resolves.toBe(LONG.join(""));
    await page.locator(".waterfall li").first().waitFor();
    await expect(page.locator(".waterfall li").count()).resolves.toBe(3);
    // a node's inputs and outputs, from the timeline
    await page.locator(".waterfall button", { hasText: "LLM" }).click();
    await expect(page.getByLabel("outputs produced").textContent()).resolves.toContain("t11");
    await expect(page.getByLabel("inputs received").textContent()).resolves.toContain("long");
    await accessible("run page");
    await page.locator(".timeline").screenshot({ path: join(SHOTS, "run-timeline.png") });
    await page.screenshot({ path: join(SHOTS, "run-page.png"), fullPage: true });
  });

  it("creates a webhook in the page; its curl request starts a run that appears in the runs list", async () => {
    await page.goto(`${base}/console/flows/${ids.branch}/hooks`);
    await page.getByLabel("Authentication").selectOption("bearer");
    await page.getByRole("button", { name: "Create the webhook" }).click();
    const example = await page.getByLabel("Example request").inputValue();
    expect(example).toMatch(/^curl -s .*\/hooks\/hk_/);
    await accessible("webhooks");
    // the request exactly as the page shows it: the start parameters' defaults (score 0)
    expect(example).toContain(`-d '{"AGENT_USER_INPUT":"hello","score":0}'`);
    const out = execFileSync("bash", ["-c", example], {
      encoding: "utf8",
    });
    const answer = JSON.parse(out) as { run_id: string; status: string };
    expect(answer.status).toBe("completed");
    await page.getByRole("button", { name: "Done" }).click();
    // the run history is written in batches: the list shows it within moments
    await page.getByRole("link", { name: "Runs" }).click();
    for (let i = 0; i < 20 && (await page.locator(`[data-run="${answer.run_id}"]`).count()) === 0; i++) {
      await new Promise((r) => setTimeout(r, 300));
      await page.getByRole("button", { name: "Refresh" }).click();
    }
    await page.locator(`[data-run="${answer.run_id}"]`).waitFor();
    await accessible("runs list");
    // its page: the example flow's run, final states and timeline
    await page.locator(`[data-run="${answer.run_id}"] a`).click();
    await page.locator('#run-status [data-status="completed"]').waitFor();
    // the final states come with the replayed frames
    await page.locator('.graph [data-node^="node-end"][data-state="done"]').waitFor();
    await page.locator(".waterfall li").first().waitFor();
    // score 0 takes the "else" branch: the text joiner ran, the message node was skipped
    await expect(state("text-joiner")).resolves.toBe("done");
    await expect(state("message")).resolves.toBe("skipped");
    await page.locator(".timeline").screenshot({ path: join(SHOTS, "run-timeline-branch.png") });
  });

  it("logged no browser error and no failed request", () => {
    expect(consoleErrors).toEqual([]);
    expect(failedRequests).toEqual([]);
  });
});
