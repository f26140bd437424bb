// The code node (spec §5.9). Python goes to the remote executor of the `ifly` contract: the user's code plus a
// trailer that calls `main(**params)` and prints the result as JSON; stdout is the result. JavaScript ([new],
// `codeLanguage: "javascript"` or `"js"`) runs inside the worker in the platform's sandbox (`ctx.sandbox`, QuickJS):
// `main` receives the node's inputs as the named properties of ONE object — `function main({ a, b }) { … }` — and
// returns a JSON-able value. Both honour the node's timeout and answer with the spec's codes: 21601 no `main`,
// 21602 an output of the wrong type, 21603 timeout (or the executor killed the code), 21600 anything else.
import * as z from "zod";
import { Codes } from "../engine/codes.ts";
import { clientText, isWorkflowError, WorkflowError } from "../engine/errors.ts";
import { definePlugin, type Clock, type CodeSandbox, type GuardedFetch, type NodeResult } from "../engine/plugin.ts";
import type { OutputSpec } from "../engine/types.ts";
import { codeTimeoutMs } from "../engine/limits.ts";
import { matchesType } from "../engine/schema.ts";

const Params = z
  .object({
    code: z.string(),
    // required by the spec but absent from the console's template until the node is placed: the run's ids stand in
    appId: z.string().default(""),
    uid: z.string().default(""),
    codeLanguage: z.enum(["python", "javascript", "js"]).default("python"),
  })
  .loose();
type Params = z.infer<typeof Params>;

/** spec §5.9: `retryConfig.timeout` when the node has one in force, else CODE_EXEC_TIMEOUT_SEC (10). */
const DEFAULT_TIMEOUT_SEC = 10;
/** guest memory of the JavaScript sandbox when CODE_JS_MEMORY_MB is not set */
const DEFAULT_JS_MEMORY_MB = 32;
/** "pod not ready" answers: wait this long, at most this many attempts in all */
const POD_RETRY_WAIT_MS = 1000;
const POD_ATTEMPTS = 5;
const KILLED = "exec code error::context deadline exceeded::signal: killed";

export default definePlugin({
  type: "ifly-code",
  params: Params,
  retryable: true,
  // user code may have side effects, and a guest that outran the platform's CPU limit must not run again after the
  // restart it caused
  idempotent: false,
  errorCode: Codes.CODE_EXECUTION_ERROR,
  async run(ctx, p: Params): Promise<NodeResult> {
    const timeoutSec =
      ctx.nodeTimeoutMs > 0 ? ctx.nodeTimeoutMs / 1000 : configSeconds(ctx.config.CODE_EXEC_TIMEOUT_SEC);
    if (p.codeLanguage === "python") {
      const args = pickArgs(pythonMainParams(p.code), ctx.inputs);
      const stdout = await execPython(
        { fetch: ctx.fetch, clock: ctx.clock, signal: ctx.signal, url: ctx.config.CODE_EXEC_URL },
        pythonProgram(p.code, args),
        {
          appId: p.appId || ctx.run.appId,
          uid: p.uid || ctx.run.uid,
          timeoutSec,
        },
      );
      const outputs = checkOutputs(parseStdout(stdout, ctx.outputs), ctx.outputs);
      return { outputs, rawOutput: stdout, ext: stdout ? { raw_output: stdout } : {} };
    }
    const { value, logs } = await runJavaScript(ctx.sandbox, p.code, ctx.inputs, {
      // issue 13: the sandbox runs on the worker's own thread, so whatever the node asks, it stops at
      // CODE_TIMEOUT_MAX_MS (Python runs on the remote executor and keeps the spec's timeout, under NODE_TIMEOUT_MAX_MS)
      timeoutMs: codeTimeoutMs(timeoutSec * 1000, ctx.config),
      memoryBytes: configMegabytes(ctx.config.CODE_JS_MEMORY_MB) * 1024 * 1024,
      signal: ctx.signal,
    });
    if (logs) ctx.log(`console: ${logs.slice(0, 2000)}`);
    const raw = value === undefined ? "" : JSON.stringify(value);
    const outputs = checkOutputs(value === undefined ? {} : asResult(value, ctx.outputs), ctx.outputs);
    return { outputs, rawOutput: raw, ext: raw ? { raw_output: raw } : {} };
  },
});

// ---- the code-run route (spec §1.5.12) --------------------------------------------------------------------------

export interface SnippetDeps {
  fetch: GuardedFetch;
  clock: Clock;
  signal: AbortSignal;
  config: Readonly<Record<string, string | undefined>>;
  sandbox?: CodeSandbox;
}

/**
 * Runs a snippet outside any flow: `main` gets `variables` (as keyword arguments in Python, as one object in
 * JavaScript) and the answer is the decoded result. Python output that is not JSON is 21600, as in the original.
 */
export async function runCodeSnippet(
  deps: SnippetDeps,
  s: {
    code: string;
    language: "python" | "javascript" | "js";
    variables: Record<string, unknown>;
    appId: string;
    uid: string;
  },
): Promise<unknown> {
  const timeoutSec = configSeconds(deps.config.CODE_EXEC_TIMEOUT_SEC);
  if (s.language === "python") {
    const args = pickArgs(pythonMainParams(s.code), s.variables);
    const stdout = await execPython(
      { fetch: deps.fetch, clock: deps.clock, signal: deps.signal, url: deps.config.CODE_EXEC_URL },
      pythonProgram(s.code, args),
      {
        appId: s.appId,
        uid: s.uid,
        timeoutSec,
      },
    );
    const value = parseJson(stdout);
    if (value === undefined)
      throw WorkflowError.of(Codes.CODE_EXECUTION_ERROR, `the code's output is not JSON: ${stdout.slice(0, 200)}`);
    return value;
  }
  const { value } = await runJavaScript(deps.sandbox, s.code, s.variables, {
    timeoutMs: codeTimeoutMs(timeoutSec * 1000, deps.config),
    memoryBytes: configMegabytes(deps.config.CODE_JS_MEMORY_MB) * 1024 * 1024,
    signal: deps.signal,
  });
  return value;
}

// ---- Python: the program and the executor ---------------------------------------------------------------------

/**
 * The parameter names of `def main(…)`: comment lines removed, annotations and defaults stripped; `*args` and
 * `**kwargs` take nothing. No `main` → 21601.
 */
export function pythonMainParams(code: string): string[] {
  const source = code
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("#"))
    .join("\n");
  const m = /^[ \t]*(?:async[ \t]+)?def[ \t]+main[ \t]*\(([\s\S]*?)\)[ \t]*(?:->[^:]*)?:/m.exec(source);
  if (!m) throw WorkflowError.of(Codes.CODE_BUILD_ERROR, "can not find main function");
  return splitTopLevel(m[1] ?? "")
    .map((part) => (part.split(/[:=]/)[0] ?? "").trim())
    .filter((name) => name !== "" && name !== "/" && !name.startsWith("*"));
}

/** Splits at commas outside brackets, so `x: Dict[str, int]` stays one parameter. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of text) {
    if ("([{".includes(ch)) depth++;
    else if (")]}".includes(ch)) depth--;
    if (ch === "," && depth === 0) {
      parts.push(cur);
      cur = "";
    } else cur += ch;
  }
  parts.push(cur);
  return parts;
}

/** Every `main` parameter must be an input of the node (spec §5.9). */
function pickArgs(names: readonly string[], inputs: Record<string, unknown>): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (const name of names) {
    if (!Object.hasOwn(inputs, name))
      throw WorkflowError.of(Codes.CODE_EXECUTION_ERROR, `main parameter '${name}' is not an input of this node`);
    args[name] = inputs[name];
  }
  return args;
}

/** A JSON value as a Python literal: `true/false/null` become `True/False/None`; strings keep JSON's escapes, which Python reads the same. */
export function pythonLiteral(v: unknown): string {
  if (v === null || v === undefined) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  if (typeof v === "number")
    return Number.isFinite(v) ? JSON.stringify(v) : v > 0 ? 'float("inf")' : v < 0 ? 'float("-inf")' : 'float("nan")';
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(pythonLiteral).join(", ")}]`;
  if (typeof v === "object") {
    return `{${Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${JSON.stringify(k)}: ${pythonLiteral(x)}`)
      .join(", ")}}`;
  }
  return JSON.stringify(String(v));
}

/** spec §5.9: the user's code, then `main(**params)` and its result printed as JSON unless it is a string. */
export function pythonProgram(code: string, args: Record<string, unknown>): string {
  return `${code}

import json as __ifly_json
__ifly_output = main(**${pythonLiteral(args)})
if __ifly_output is not None:
    print(__ifly_output if isinstance(__ifly_output, str) else __ifly_json.dumps(__ifly_output, ensure_ascii=False))
`;
}

export interface ExecutorDeps {
  fetch: GuardedFetch;
  clock: Clock;
  signal: AbortSignal;
  /** CODE_EXEC_URL */
  url: string | undefined;
}

/** POSTs the program to the `ifly` executor (spec §5.9) and returns its stdout without one trailing newline. */
export async function execPython(
  deps: ExecutorDeps,
  program: string,
  o: { appId: string; uid: string; timeoutSec: number },
): Promise<string> {
  if (!deps.url) throw WorkflowError.of(Codes.CODE_EXECUTION_ERROR, "no code executor is configured (CODE_EXEC_URL)");
  const url = new URL(deps.url);
  url.searchParams.set("appid", o.appId);
  url.searchParams.set("uid", o.uid);
  const body = JSON.stringify({ code: program, timeout_sec: o.timeoutSec });
  for (let attempt = 1; ; attempt++) {
    let res: Response;
    let text: string;
    try {
      res = await deps.fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body,
        signal: deps.signal,
        // the executor enforces timeout_sec itself; this only bounds a silent one
        timeoutMs: o.timeoutSec * 1000 + 5000,
        maxBytes: 16 * 1024 * 1024,
      });
      text = await res.text();
    } catch (e) {
      if (deps.signal.aborted) throw deps.signal.reason;
      const raw = isWorkflowError(e) || e instanceof Error ? e.message : String(e);
      if (/timeout|timed out/i.test(raw))
        throw WorkflowError.of(
          Codes.CODE_EXECUTION_TIMEOUT_ERROR,
          isWorkflowError(e) ? raw : "the code executor did not answer in time",
        );
      throw WorkflowError.of(Codes.CODE_EXECUTION_ERROR, clientText(e));
    }
    const json = parseJson(text);
    if (res.status === 200) {
      const stdout = field(field(json, "data"), "stdout");
      const out = typeof stdout === "string" ? stdout : "";
      return out.endsWith("\n") ? out.slice(0, -1) : out;
    }
    if (res.status === 500) {
      if (field(json, "code") === "pod not ready") {
        if (attempt >= POD_ATTEMPTS)
          throw WorkflowError.of(
            Codes.CODE_EXECUTION_ERROR,
            `the executor's pod is not ready after ${POD_ATTEMPTS} attempts`,
          );
        await deps.clock.sleep(POD_RETRY_WAIT_MS, deps.signal);
        continue;
      }
      const message = field(json, "message");
      const stderr = field(field(json, "data"), "stderr");
      const detail =
        typeof stderr === "string" && stderr !== ""
          ? stripStdinFrame(stderr)
          : typeof message === "string"
            ? message
            : text;
      const killed = [message, stderr].some((s) => typeof s === "string" && s.startsWith(KILLED));
      throw WorkflowError.of(killed ? Codes.CODE_EXECUTION_TIMEOUT_ERROR : Codes.CODE_EXECUTION_ERROR, detail);
    }
    throw WorkflowError.of(Codes.CODE_EXECUTION_ERROR, `HTTP ${res.status}: ${text.slice(0, 500)}`);
  }
}

/** The traceback line of the wrapper itself says nothing about the user's code. */
function stripStdinFrame(stderr: string): string {
  const lines = stderr.split("\n");
  const i = lines.findIndex((l) => /^\s*File "<stdin>", line \d+, in <module>\s*$/.test(l));
  if (i >= 0) lines.splice(i, 1);
  return lines.join("\n");
}

// ---- JavaScript -----------------------------------------------------------------------------------------------

function runJavaScript(
  sandbox: CodeSandbox | undefined,
  code: string,
  inputs: Record<string, unknown>,
  limits: { timeoutMs: number; memoryBytes: number; signal: AbortSignal },
): Promise<{ value: unknown; logs: string }> {
  if (!sandbox)
    return Promise.reject(
      WorkflowError.of(
        Codes.CODE_EXECUTION_ERROR,
        "JavaScript code nodes need a sandbox, and this platform provides none",
      ),
    );
  return sandbox.runJs(code, inputs, limits).catch((e: unknown) => {
    if (limits.signal.aborted) throw limits.signal.reason;
    if (isWorkflowError(e)) throw e;
    throw WorkflowError.of(Codes.CODE_EXECUTION_ERROR, clientText(e));
  });
}

// ---- results --------------------------------------------------------------------------------------------------

/** spec §5.9: stdout parsed as JSON; text that is not JSON goes to the first declared output. */
export function parseStdout(stdout: string, outputs: readonly OutputSpec[]): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(stdout);
  } catch {
    return outputs[0] ? { [outputs[0].name]: stdout } : {};
  }
  return asResult(value, outputs);
}

/** An object is the outputs by name; any other value is the first declared output. */
function asResult(value: unknown, outputs: readonly OutputSpec[]): Record<string, unknown> {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  return outputs[0] ? { [outputs[0].name]: value } : {};
}

/** spec §5.9: absent outputs keep their defaults; present ones must have exactly their declared type (21602). */
export function checkOutputs(result: Record<string, unknown>, outputs: readonly OutputSpec[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const o of outputs) {
    if (!Object.hasOwn(result, o.name)) continue;
    const v = result[o.name];
    const type = typeof o.schema.type === "string" ? o.schema.type : "";
    if (!matchesType(v, type))
      throw WorkflowError.of(
        Codes.CODE_NODE_RESULT_TYPE_ERROR,
        `Code return type is not ${type}, please check the type!`,
      );
    out[o.name] = v;
  }
  return out;
}

// ---- helpers --------------------------------------------------------------------------------------------------

function configSeconds(v: string | undefined): number {
  const n = Number(v);
  return v !== undefined && v !== "" && Number.isFinite(n) && n > 0 ? n : DEFAULT_TIMEOUT_SEC;
}

function configMegabytes(v: string | undefined): number {
  const n = Number(v);
  return v !== undefined && v !== "" && Number.isFinite(n) && n > 0 ? n : DEFAULT_JS_MEMORY_MB;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function field(v: unknown, key: string): unknown {
  return typeof v === "object" && v !== null && Object.hasOwn(v, key) ? (v as Record<string, unknown>)[key] : undefined;
}
