// Runs flows through the real engine with the real logic plugins plus scripted stand-ins for external nodes.
import { compile, type Plan } from "../../src/engine/compile.ts";
import type { Plugin } from "../../src/engine/plugin.ts";
import { Registry } from "../../src/engine/registry.ts";
import { Run, type RunOptions, type RunOutcome, type RunState } from "../../src/engine/run.ts";
import type { Frame } from "../../src/engine/types.ts";
import { plugins } from "../../src/plugins/index.ts";
import { FakeClock } from "./fake-clock.ts";
import { testRunInfo } from "./node-context.ts";
import { Scripts } from "./scripted.ts";

export interface Harness {
  scripts: Scripts;
  registry: Registry;
  clock: FakeClock | undefined;
}

/** The real plugins, with scripted plugins for the external node types and a few generic test types. */
export function testRegistry(scripts: Scripts, extra: Plugin<never>[] = []): Registry {
  const scripted: Plugin<never>[] = [
    scripts.streamPlugin("spark-llm", 23300),
    scripts.streamPlugin("agent", 23700),
    scripts.plainPlugin("ifly-code", { errorCode: 21600 }),
    scripts.plainPlugin("decision-making", { branches: true }),
    scripts.plainPlugin("noop"),
    scripts.plainPlugin("branchy", { branches: true }),
    scripts.plainPlugin("fragile", { idempotent: false }),
    scripts.streamPlugin("streamy"),
  ] as unknown as Plugin<never>[];
  const replaced = new Set([...scripted, ...extra].map((p) => p.type));
  return new Registry([...plugins.filter((p) => !replaced.has(p.type)), ...scripted, ...extra]);
}

export interface RunResult {
  frames: Frame[];
  outcome: RunOutcome;
  run: Run;
  plan: Plan;
}

export interface RunFlowOptions extends Partial<Omit<RunOptions, "registry" | "emit">> {
  registry?: Registry;
  scripts?: Scripts;
  state?: RunState;
  plan?: Plan;
}

/** the run info every harness run uses (the plugin tests' `testRunInfo`) */
export function runInfo(): RunOptions["info"] {
  return testRunInfo();
}

export async function runFlow(dsl: unknown, opts: RunFlowOptions = {}): Promise<RunResult> {
  const scripts = opts.scripts ?? new Scripts();
  const registry = opts.registry ?? testRegistry(scripts);
  const plan = opts.plan ?? compile(dsl, registry);
  const frames: Frame[] = [];
  const run = new Run(
    plan,
    {
      registry,
      sid: "spf-test",
      info: runInfo(),
      parameters: {},
      ...opts,
      emit: (f) => frames.push(structuredClone(f)),
    },
    opts.state,
  );
  const outcome = await run.execute();
  return { frames, outcome, run, plan };
}

/** The node id a frame is about ("" for frames without a node). */
export function frameNode(f: Frame): string {
  return f.workflow_step?.node?.id ?? "";
}

/** A compact description of a frame for order assertions: `<node id>:<kind>[:content]`. */
export function describeFrame(f: Frame): string {
  const node = f.workflow_step?.node;
  if (!node) return `error:${f.code}`;
  const choice = f.choices[0];
  if (node.id === "flow_obj") return choice?.finish_reason === "stop" ? "flow:end" : "flow:start";
  if (choice?.finish_reason === "interrupt") return `${node.id}:interrupt`;
  if (node.finish_reason === "stop") return f.code !== 0 ? `${node.id}:error:${f.code}` : `${node.id}:end`;
  const content = choice?.delta.content ?? "";
  return content || node.ext?.answer_mode !== undefined ? `${node.id}:process:${content}` : `${node.id}:start`;
}

export { FakeClock, Scripts };
