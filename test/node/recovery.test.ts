// Fault test (issue 13 item 5, ARCHITECTURE decision 11): the runtime — `wrangler dev`, i.e. wrangler and its workerd
// — is killed with SIGKILL while four runs are in flight, then started again on the same persisted state. With no
// client attached, each run ends by itself within 30 s: an LLM node interrupted mid-call before any token is asked
// again (and the code node that had completed before it is not run again), a code node interrupted mid-call fails
// with 22302, a question-answer wait fails with 23900 when its answer timeout passes, and a webhook callback that was
// waiting for its retry is delivered. The calls each fake server saw are counted.
import type { ChildProcess } from "node:child_process";
import { openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeCodeExecutor, type FakeCodeExecutor } from "../support/fake-code-executor.ts";
import { startFakeOpenAI, type FakeOpenAI } from "../support/fake-openai.ts";
import { startFakeReceiver } from "../support/fake-receiver.ts";
import { END, flow, questionFlow, START } from "../support/dsl-builder.ts";
import { llmNode } from "../support/llm-flow.ts";
import { seededState, startDev } from "../support/wrangler-dev.ts";

const APP = { "X-Consumer-Username": "d1590f30", "Content-Type": "application/json" };
const TENANT = { "X-Consumer-Username": "tenant01", "Content-Type": "application/json" };

let persist = "";
let runtime: ChildProcess | undefined;
let base = "";
let openai: FakeOpenAI;
let exec: FakeCodeExecutor;
let receiver: { url: string; close(): Promise<void> };

/** Starts `wrangler dev` in its own process group (so that a kill reaches workerd too) and waits for /health. */
async function startRuntime(): Promise<void> {
  // the runtime's own log, for a failure's message
  const log = openSync(join(persist, "runtime.log"), "a");
  ({ base, child: runtime } = await startDev({
    persist,
    vars: () => ["ALLOW_PRIVATE_FETCH:true", `CODE_EXEC_URL:${exec.url}`, "HOOK_CALLBACK_BASE_DELAY_MS:4000"],
    stdio: ["ignore", log, log],
    detached: true,
    waitMs: 60_000,
  }));
}

/** SIGKILL to the runtime's whole process group: wrangler and workerd die at once, nothing is shut down. */
async function killRuntime(): Promise<void> {
  const child = runtime;
  if (!child?.pid) return;
  runtime = undefined;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // already gone
  }
  // (bounded: a runtime that had died already sends no second exit)
  await Promise.race([exited, sleep(5000)]);
  // workerd is a child of wrangler in the same group; wait until its port is free again
  await sleep(500);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function post(path: string, body: unknown, headers: Record<string, string> = APP): Promise<Response> {
  return fetch(`${base}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
}

async function addFlow(data: unknown, publish = false): Promise<string> {
  const add = (await (
    await post("/workflow/v1/protocol/add", { app_id: "d1590f30", name: "recovery", description: "", data })
  ).json()) as { data: { flow_id: string } };
  const id = add.data.flow_id;
  if (publish) {
    await post("/v1/publish", { flow_id: id, release_status: 1, plat: 1 }, TENANT);
    await post("/v1/auth", { flow_id: id, app_id: "d1590f30" }, TENANT);
  }
  return id;
}

interface RunView {
  status: string;
  error: { code: number; message: string } | null;
  outputs: Record<string, unknown> | null;
  callback: { status: string; attempts: number } | null;
}

async function runView(id: string): Promise<RunView> {
  return (await (await fetch(`${base}/runs/${id}`, { headers: APP })).json()) as RunView;
}

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end)
      throw new Error(
        `timed out waiting for ${what}\n${readFileSync(join(persist, "runtime.log"), "utf8").slice(-4000)}`,
      );
    await sleep(250);
  }
}

/** A streamed debug run whose client stays connected (a client that leaves cancels its run) until the runtime dies. */
async function startStreamed(flowId: string): Promise<string> {
  const res = await post("/workflow/v1/debug/chat/completions", {
    flow_id: flowId,
    parameters: { AGENT_USER_INPUT: "go" },
  });
  const id = res.headers.get("x-run-id") ?? "";
  void res
    .text()
    .catch(() => undefined)
    .then(() => undefined);
  return id;
}

/**
 * The answer timeout of the question-answer node is at least a minute (spec §5.17). While the runtime is down the
 * test moves the stored answer deadline to a few seconds from now, as if that minute had passed: in the run's row,
 * in the object's own alarm record (`_cf_METADATA`) and in workerd's alarm index of the namespace (`_cf_ALARM` in
 * `metadata.sqlite`, what workerd reads at start-up to re-arm stored alarms). What wakes the run after the restart
 * is then the alarm stored before the kill.
 */
function shortenAnswerWait(runId: string, at: number): void {
  const dir = join(persist, "v3", "do");
  // alarm times are stored in the unit workerd chose: scale ours to the stored value's magnitude
  const scaled = (stored: unknown): number | bigint => (Number(stored) > 1e15 ? BigInt(at) * 1_000_000n : at);
  let moved = 0;
  for (const ns of readdirSync(dir)) {
    for (const file of readdirSync(join(dir, ns)).filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite")) {
      const db = new DatabaseSync(join(dir, ns, file));
      try {
        const names = db
          .prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`)
          .all()
          .map((r) => String(r.name));
        if (!names.includes("run")) continue;
        const row = db.prepare(`SELECT request FROM run WHERE id = 1`).get() as { request: string } | undefined;
        if (!row || (JSON.parse(row.request) as { eventId: string }).eventId !== runId) continue;
        db.prepare(`UPDATE run SET interrupt = json_set(interrupt, '$.deadline', ?) WHERE id = 1`).run(at);
        const read = db.prepare(`SELECT value FROM _cf_METADATA WHERE key = 1`);
        read.setReadBigInts(true);
        const alarm = read.get() as { value: unknown } | undefined;
        if (alarm) db.prepare(`UPDATE _cf_METADATA SET value = ? WHERE key = 1`).run(scaled(alarm.value));
        const index = new DatabaseSync(join(dir, ns, "metadata.sqlite"));
        try {
          const actor = file.slice(0, -".sqlite".length);
          const find = index.prepare(`SELECT scheduled_time FROM _cf_ALARM WHERE actor_id = ?`);
          find.setReadBigInts(true);
          const entry = find.get(actor) as { scheduled_time: unknown } | undefined;
          if (entry)
            moved += Number(
              index
                .prepare(`UPDATE _cf_ALARM SET scheduled_time = ? WHERE actor_id = ?`)
                .run(scaled(entry.scheduled_time), actor).changes,
            );
        } finally {
          index.close();
        }
      } finally {
        db.close();
      }
    }
  }
  if (moved !== 1) throw new Error(`the stored alarm of run ${runId} was not found`);
}

beforeAll(async () => {
  [openai, exec, receiver] = await Promise.all([startFakeOpenAI(), startFakeCodeExecutor(), startFakeReceiver()]);
  persist = seededState("wrangler-recovery-");
  await startRuntime();
}, 90_000);

afterAll(async () => {
  await killRuntime();
  rmSync(persist, { recursive: true, force: true });
  await Promise.all([openai?.close(), exec?.close(), receiver?.close()]);
}, 30_000);

describe("a killed and restarted runtime", () => {
  it("ends every interrupted run by itself, with no client attached, and runs no completed node twice", async () => {
    // 1. code (fast, completes) → LLM (slow first byte: killed mid-call before any token) → end
    const llmFlow = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("ifly-code::before", {
        params: { code: 'def main(input):\n    return {"out": "warm"}\n# fake: {"stdout": "{\\"out\\": \\"warm\\"}"}' },
        inputs: [{ name: "input", ref: { node: START, name: "AGENT_USER_INPUT" } }],
        outputs: [{ name: "out" }],
      })
      .node("spark-llm::l", {
        params: llmNode(openai.url, { tokens: ["re", "run"], firstByteDelayMs: 7000 }),
        inputs: [{ name: "input", ref: { node: "ifly-code::before", name: "out" } }],
        outputs: [{ name: "output" }],
      })
      .node(END, {
        params: { outputMode: 1, template: "{{output}}", streamOutput: true },
        inputs: [{ name: "output", ref: { node: "spark-llm::l", name: "output" } }],
      })
      .edge(START, "ifly-code::before")
      .edge("ifly-code::before", "spark-llm::l")
      .edge("spark-llm::l", END)
      .build();
    // 2. a code node killed mid-call (it may have side effects: it must not run again)
    const codeFlow = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node("ifly-code::slow", {
        params: {
          code: 'def main(input):\n    return {"out": "late"}\n# fake: {"delayMs": 8000, "stdout": "{\\"out\\": \\"late\\"}"}',
        },
        inputs: [{ name: "input", ref: { node: START, name: "AGENT_USER_INPUT" } }],
        outputs: [{ name: "out" }],
      })
      .node(END, {
        params: { outputMode: 0 },
        inputs: [{ name: "out", ref: { node: "ifly-code::slow", name: "out" } }],
      })
      .edge(START, "ifly-code::slow")
      .edge("ifly-code::slow", END)
      .build();
    // 3. a question that nobody answers
    const qaFlow = questionFlow();
    // 4. a webhook run whose result callback fails once and waits for its retry
    const quickFlow = flow()
      .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
      .node(END, {
        params: { outputMode: 0 },
        inputs: [{ name: "echo", ref: { node: START, name: "AGENT_USER_INPUT" } }],
      })
      .edge(START, END)
      .build();

    const [llmId, codeId, qaId, quickId] = await Promise.all([
      addFlow(llmFlow),
      addFlow(codeFlow),
      addFlow(qaFlow),
      addFlow(quickFlow, true),
    ]);

    const qaRun = await post("/workflow/v1/debug/chat/completions", {
      flow_id: qaId,
      parameters: { AGENT_USER_INPUT: "q" },
    });
    const qaRunId = qaRun.headers.get("x-run-id") ?? "";
    expect(await qaRun.text()).toContain('"finish_reason":"interrupt"');

    const hook = (await (
      await post("/hooks", {
        flow_id: quickId,
        mode: "async",
        auth: "bearer",
        rate_per_minute: 0,
        mapping: { AGENT_USER_INPUT: "body.q" },
        callback_url: `${receiver.url}/cb/restart?fail=1`,
      })
    ).json()) as { hook_id: string; token: string };
    const hooked = (await (
      await post(
        `/hooks/${hook.hook_id}`,
        { q: "hi" },
        { Authorization: `Bearer ${hook.token}`, "Content-Type": "application/json" },
      )
    ).json()) as { run_id: string };
    const received = async (): Promise<number> =>
      ((await (await fetch(`${receiver.url}/__received/cb/restart`)).json()) as unknown[]).length;

    const llmRunId = await startStreamed(llmId);
    const codeRunId = await startStreamed(codeId);
    const llmCalls = (): number => openai.requests().length;
    const execCalls = (marker: string): number => exec.requests().filter((r) => r.code.includes(marker)).length;
    await until("the LLM call, the slow code call and the first callback attempt", 20_000, async () =>
      llmCalls() === 1 && execCalls('"delayMs": 8000') === 1 && (await runView(hooked.run_id)).callback?.attempts === 1
        ? true
        : undefined,
    );
    expect(execCalls('"warm"')).toBe(1);

    await killRuntime();
    const alarmAt = Date.now() + 8000;
    shortenAnswerWait(qaRunId, alarmAt);
    const restartedAt = Date.now();
    await startRuntime();

    // nobody attaches to any run: only their own alarms can carry them on
    const settled = async (id: string): Promise<RunView> =>
      until(`run ${id} to end`, 30_000, async () => {
        const v = await runView(id);
        return v.status === "running" || v.status === "interrupt" ? undefined : v;
      });
    const [llm, code, qa] = await Promise.all([settled(llmRunId), settled(codeRunId), settled(qaRunId)]);
    const delivered = await until("the callback after the restart", 30_000, async () => {
      const v = await runView(hooked.run_id);
      return v.callback?.status === "delivered" ? v : undefined;
    });
    expect(Date.now() - restartedAt).toBeLessThan(30_000);

    // the LLM node had shown nothing: asked again, the run completes; the code node before it ran once
    expect(llm).toMatchObject({ status: "completed", outputs: { output: "rerun" } });
    expect(llmCalls()).toBe(2);
    expect(execCalls('"warm"')).toBe(1);
    // the code node may have had side effects: it fails with the clear code and is not called again
    expect(code).toMatchObject({ status: "failed", error: { code: 22302 } });
    expect(code.error?.message).toContain("not idempotent");
    expect(execCalls('"delayMs": 8000')).toBe(1);
    // the unanswered question times out by the alarm stored before the kill
    expect(qa).toMatchObject({ status: "failed", error: { code: 23900 } });
    // the callback's retry is delivered; the run itself did not run again
    expect(delivered).toMatchObject({
      status: "completed",
      outputs: { echo: "hi" },
      callback: { status: "delivered", attempts: 2 },
    });
    expect(await received()).toBe(2);
  }, 150_000);
});
