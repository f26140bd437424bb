// The JavaScript sandbox of the `ifly-code` node ([new], spec §5.9): QuickJS compiled to WebAssembly, run inside the
// worker. Each call gets a fresh runtime and context with a memory limit, a stack limit and an interrupt handler that
// stops the code at its deadline or when the run is cancelled. The guest sees only the ECMAScript built-ins and a
// `console` whose output is captured: no fetch, no timers, no module loader, nothing of the host or its bindings.
// Arguments cross as JSON text, the result comes back as JSON text.
//
// Errors (what the code node relies on): WorkflowError 21601 when the code defines no `main` function, 21603 when it
// ran past its time limit, 21600 with the guest's error text for anything else (a throw, out of memory, stack
// overflow, a result that is not JSON); the signal's reason when the run was cancelled.
import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSContext,
  type QuickJSHandle,
  type QuickJSRuntime,
  type QuickJSWASMModule,
} from "quickjs-emscripten-core";
import releaseVariant from "@jitl/quickjs-wasmfile-release-sync";
import { Codes } from "../engine/codes.ts";
import { WorkflowError } from "../engine/errors.ts";
import type { CodeSandbox, SandboxLimits } from "../engine/plugin.ts";

/**
 * Largest stack the guest may use: deep recursion ends with QuickJS's "stack overflow" error (about 1,500 frames)
 * before the host's own stack runs out (512 KiB was too much on Node: the host overflowed first).
 */
const MAX_STACK_BYTES = 256 * 1024;
/** Captured console output beyond this is dropped (the guest cannot fill the isolate's memory through logs). */
const MAX_LOG_CHARS = 64 * 1024;

/** Built before the guest runs and held only by the host, so the guest cannot replace what the driver calls. */
const DRIVER = `(function (parse, stringify, P) {
  return [
    function (fn, json) { return fn(parse(json)); },
    function (v) { return stringify(v); },
    function (v) { return v instanceof P; },
  ];
})(JSON.parse, JSON.stringify, Promise)`;

interface Engine {
  quickjs: QuickJSWASMModule;
  /** the linear memory's size when the module was instantiated */
  baseBytes: number;
  /** growth beyond this many bytes of linear memory is refused (malloc fails, the guest gets "out of memory") */
  capBytes: number;
}

let loading: Promise<Engine> | undefined;

/**
 * Loads QuickJS once per isolate, on first use: workerd forbids compiling WebAssembly from bytes and doing such work
 * at module scope. In workerd the module comes precompiled from the bundle (wrangler's CompiledWasm rule); on Node
 * and Deno the variant reads its .wasm file itself.
 */
function engine(): Promise<Engine> {
  loading ??= (async () => {
    const onWorkerd = typeof navigator !== "undefined" && navigator.userAgent === "Cloudflare-Workers";
    const variant = onWorkerd
      ? newVariant(releaseVariant, { wasmModule: async () => (await import("./quickjs-wasm.ts")).default })
      : releaseVariant;
    const quickjs = await newQuickJSWASMModuleFromVariant(variant);
    const memory = quickjs.getWasmMemory();
    const e: Engine = { quickjs, baseBytes: memory.buffer.byteLength, capBytes: Infinity };
    // QuickJS's own memory limit is blind in this build (it counts 8 bytes per allocation: no malloc_usable_size
    // under Emscripten, quickjs-emscripten issue #271), so the heap itself is bounded: Emscripten grows the linear
    // memory through `memory.grow` inside a try, and a refused growth makes malloc return NULL.
    const grow = memory.grow.bind(memory);
    memory.grow = (pages: number): number => {
      if (memory.buffer.byteLength + pages * 65536 > e.capBytes) throw new RangeError("sandbox memory limit");
      return grow(pages);
    };
    return e;
  })().catch((e: unknown) => {
    loading = undefined; // a failed load is retried by the next call
    throw e;
  });
  return loading;
}

/**
 * On Cloudflare's edge the clock does not advance while code runs (a Spectre mitigation: time moves only across
 * I/O), so a deadline read from `Date.now()` never arrives inside a synchronous guest. While the clock stands still
 * the interrupt handler counts polls instead: QuickJS polls about every 10,000 bytecode steps, about 10 times per ms
 * for an empty loop once V8 has optimised the WebAssembly (measured on Node 22, x86-64; 3 per ms while still cold).
 * A cold isolate or a guest whose steps are heavier than an empty loop's polls less often and overruns a counted
 * limit accordingly; the platform's CPU limit stays the last bound.
 */
const POLLS_PER_MS_WHEN_FROZEN = 10;

export interface JsSandboxOptions {
  /** clock of the deadline check; tests may inject one (a frozen one, as on the edge) */
  now?: () => number;
  /** interrupt polls per ms assumed while the clock stands still (see POLLS_PER_MS_WHEN_FROZEN) */
  pollsPerMs?: number;
}

export function createJsSandbox(options: JsSandboxOptions = {}): CodeSandbox {
  const now = options.now ?? Date.now;
  return {
    async runJs(code, args, limits) {
      if (limits.signal.aborted) throw limits.signal.reason;
      const argsJson = JSON.stringify(args);
      const e = await engine();
      if (limits.signal.aborted) throw limits.signal.reason;
      const pollsPerMs = options.pollsPerMs ?? POLLS_PER_MS_WHEN_FROZEN;
      // from here to the end everything is synchronous: one guest at a time owns the module's heap
      e.capBytes = e.baseBytes + limits.memoryBytes;
      let outcome: { ok: true; value: { value: unknown; logs: string } } | { ok: false; error: unknown } | undefined;
      try {
        const runtime = e.quickjs.newRuntime();
        try {
          outcome = { ok: true, value: runIn(runtime, code, argsJson, limits, now, pollsPerMs) };
        } catch (err) {
          outcome = { ok: false, error: err };
        }
        runtime.dispose();
      } catch (err) {
        // a trap or an Emscripten abort (the guest's exception is caught above): this instance's state is unknown,
        // so the next call instantiates a new one
        if (loading) loading = undefined;
        outcome ??= { ok: false, error: WorkflowError.of(Codes.CODE_EXECUTION_ERROR, `the sandbox failed: ${err instanceof Error ? err.message : String(err)}`) };
      } finally {
        e.capBytes = Infinity;
      }
      if (outcome.ok) return outcome.value;
      const err = outcome.error;
      if (err instanceof WorkflowError || (limits.signal.aborted && err === limits.signal.reason)) throw err;
      if (loading) loading = undefined;
      throw WorkflowError.of(Codes.CODE_EXECUTION_ERROR, `the sandbox failed: ${err instanceof Error ? err.message : String(err)}`);
    },
  };
}

/** Warms the module (the first load compiles and instantiates the WebAssembly). */
export async function preloadJsSandbox(): Promise<void> {
  await engine();
}

function runIn(runtime: QuickJSRuntime, code: string, argsJson: string, limits: SandboxLimits, now: () => number, pollsPerMs: number): { value: unknown; logs: string } {
  const deadline = now() + limits.timeoutMs;
  let timedOut = false;
  // polls since the clock last moved, and how many the time left allows while it stands still
  let lastSeen = now();
  let stillPolls = 0;
  let allowedStill = Math.ceil(limits.timeoutMs * pollsPerMs);
  runtime.setMemoryLimit(limits.memoryBytes);
  runtime.setMaxStackSize(MAX_STACK_BYTES);
  runtime.setInterruptHandler(() => {
    if (limits.signal.aborted) return true;
    const t = now();
    if (t >= deadline) timedOut = true;
    else if (t !== lastSeen) {
      lastSeen = t;
      stillPolls = 0;
      allowedStill = Math.ceil((deadline - t) * pollsPerMs);
    } else if (++stillPolls >= allowedStill) timedOut = true;
    return timedOut;
  });
  const ctx = runtime.newContext();
  const handles: QuickJSHandle[] = [];
  const keep = (h: QuickJSHandle): QuickJSHandle => (handles.push(h), h);
  let logs = "";
  const stop = (): WorkflowError | unknown => {
    if (limits.signal.aborted) return limits.signal.reason;
    return WorkflowError.of(Codes.CODE_EXECUTION_TIMEOUT_ERROR, `the code ran longer than ${limits.timeoutMs} ms`);
  };
  const failure = (h: QuickJSHandle): unknown => {
    if (timedOut || limits.signal.aborted) return stop();
    return WorkflowError.of(Codes.CODE_EXECUTION_ERROR, describeError(ctx, h));
  };
  try {
    installConsole(ctx, keep, (line) => {
      if (logs.length < MAX_LOG_CHARS) logs += `${line}\n`.slice(0, MAX_LOG_CHARS - logs.length);
    });
    const driver = keep(evaluate(ctx, DRIVER, failure));
    const call = keep(ctx.getProp(driver, 0));
    const stringify = keep(ctx.getProp(driver, 1));
    const isPromise = keep(ctx.getProp(driver, 2));

    keep(evaluate(ctx, code, failure, "main.js"));
    const kind = ctx.dump(keep(evaluate(ctx, "typeof main", failure))) as unknown;
    if (kind !== "function") throw WorkflowError.of(Codes.CODE_BUILD_ERROR, "can not find main function");
    const main = keep(evaluate(ctx, "main", failure));

    const called = ctx.callFunction(call, ctx.undefined, main, keep(ctx.newString(argsJson)));
    if (called.error) throw failure(keep(called.error));
    let result = keep(called.value);

    // an async main: settle its promise (the guest has no timers or I/O, so pending jobs are all there is)
    const promised = ctx.callFunction(isPromise, ctx.undefined, result);
    if (promised.error) throw failure(keep(promised.error));
    if (ctx.dump(keep(promised.value)) === true) {
      const jobs = runtime.executePendingJobs();
      if (jobs.error) throw failure(keep(jobs.error));
      const state = ctx.getPromiseState(result);
      if (state.type === "pending") throw WorkflowError.of(Codes.CODE_EXECUTION_ERROR, "main returned a promise that never settles");
      if (state.type === "rejected") throw failure(keep(state.error));
      result = keep(state.value);
    }
    if (ctx.typeof(result) === "undefined") return { value: undefined, logs };
    const text = ctx.callFunction(stringify, ctx.undefined, result);
    if (text.error) throw failure(keep(text.error));
    const json = ctx.dump(keep(text.value)) as unknown;
    if (typeof json !== "string") throw WorkflowError.of(Codes.CODE_EXECUTION_ERROR, "main returned a value that is not JSON");
    return { value: JSON.parse(json) as unknown, logs };
  } finally {
    for (const h of handles.reverse()) if (h.alive) h.dispose();
    ctx.dispose();
  }
}

function evaluate(ctx: QuickJSContext, source: string, failure: (h: QuickJSHandle) => unknown, filename = "driver.js"): QuickJSHandle {
  const r = ctx.evalCode(source, filename, { type: "global" });
  if (r.error) {
    const e = failure(r.error);
    r.error.dispose();
    throw e;
  }
  return r.value;
}

/** `console.log` and friends append to the captured logs; nothing reaches the host's console. */
function installConsole(ctx: QuickJSContext, keep: (h: QuickJSHandle) => QuickJSHandle, write: (line: string) => void): void {
  const con = keep(ctx.newObject());
  for (const name of ["log", "info", "warn", "error", "debug"]) {
    const fn = keep(
      ctx.newFunction(name, (...parts) => {
        write(parts.map((p) => (ctx.typeof(p) === "string" ? ctx.getString(p) : safeDump(ctx, p))).join(" "));
      }),
    );
    ctx.setProp(con, name, fn);
  }
  ctx.setProp(ctx.global, "console", con);
}

function safeDump(ctx: QuickJSContext, h: QuickJSHandle): string {
  try {
    const v = ctx.dump(h) as unknown;
    return typeof v === "string" ? v : JSON.stringify(v) ?? String(v);
  } catch {
    return "[unprintable]";
  }
}

/** The guest's error as `Name: message` (QuickJS reports out-of-memory and stack overflow as InternalError/RangeError). */
function describeError(ctx: QuickJSContext, h: QuickJSHandle): string {
  const v = safeValue(ctx, h);
  if (typeof v === "object" && v !== null) {
    const o = v as { name?: unknown; message?: unknown };
    const name = typeof o.name === "string" ? o.name : "Error";
    const message = typeof o.message === "string" ? o.message : JSON.stringify(v);
    return `${name}: ${message}`;
  }
  return String(v);
}

function safeValue(ctx: QuickJSContext, h: QuickJSHandle): unknown {
  try {
    return ctx.dump(h) as unknown;
  } catch {
    return "unknown error";
  }
}
