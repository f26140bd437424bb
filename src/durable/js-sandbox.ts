// The JavaScript sandbox of the `ifly-code` node ([new], spec §5.9): QuickJS compiled to WebAssembly, run inside the
// worker. Each call gets a fresh runtime and context with a memory limit, a stack limit and an interrupt handler that
// stops the code at its deadline or when the run is cancelled. The guest sees only the ECMAScript built-ins and a
// `console` whose output is captured: no fetch, no timers, no module loader, nothing of the host or its bindings.
// Arguments cross as JSON text, the result comes back as JSON text.
//
// Slices (issue 13): the guest runs on the isolate's one thread, so a busy loop held every other request of the
// isolate (`/health` answered after 44 s). Where WebAssembly JSPI exists (workerd), the guest's calls are entered
// through `WebAssembly.promising` and QuickJS's interrupt poll through `WebAssembly.Suspending`: every few ms the
// poll suspends the guest's WebAssembly stack, a timer lets the event loop serve other requests (and a cancel reach
// the run), and the guest resumes where it was. Without JSPI (Node, Deno) the guest runs in one piece as before.
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

/**
 * Built before the guest runs and held only by the host, so the guest cannot replace what the driver calls. Values
 * become text inside the guest (console arguments, errors): that may run the guest's own code (`toJSON`, getters),
 * which must happen inside a guest call the interrupt handler watches, never in a host-side dump.
 */
const DRIVER = `(function (parse, stringify, P, S, global) {
  function text(v) {
    if (typeof v === "string") return v;
    try { var j = stringify(v); return j === undefined ? S(v) : j; } catch (e) { return "[unprintable]"; }
  }
  return [
    function (fn, json) { return fn(parse(json)); },
    function (v) { return stringify(v); },
    function (v) { return v instanceof P; },
    function (write) {
      var c = {};
      ["log", "info", "warn", "error", "debug"].forEach(function (n) {
        c[n] = function () { var parts = []; for (var i = 0; i < arguments.length; i++) parts.push(text(arguments[i])); write(parts.join(" ")); };
      });
      global.console = c;
    },
    function (e) {
      try {
        if (typeof e !== "object" || e === null) return S(e);
        return (typeof e.name === "string" ? e.name : "Error") + ": " + (typeof e.message === "string" ? e.message : text(e));
      } catch (x) { return "unknown error"; }
    },
  ];
})(JSON.parse, JSON.stringify, Promise, String, globalThis)`;

interface Engine {
  quickjs: QuickJSWASMModule;
  /** the linear memory's size when the module was instantiated */
  baseBytes: number;
  /** growth beyond this many bytes of linear memory is refused (malloc fails, the guest gets "out of memory") */
  capBytes: number;
  /** the guest's calls in slices, when the platform has JSPI */
  slices?: Slices;
  /** one guest at a time owns the module's heap and stack, also while it is suspended */
  queue: Promise<void>;
}

/** Run the guest this long (or this many interrupt polls, when the clock stands still) before giving the thread back. */
const SLICE_MS = 4;
const SLICE_POLLS = 40;

/** JSPI (WebAssembly JavaScript Promise Integration), in the platform's WebAssembly namespace when it has it. */
interface Jspi {
  Suspending: new (fn: (...args: number[]) => number | Promise<number>) => object;
  promising: (fn: unknown) => (...args: number[]) => Promise<number>;
}

function jspi(): Jspi | undefined {
  const w = WebAssembly as unknown as Partial<Jspi>;
  return typeof w.Suspending === "function" && typeof w.promising === "function" ? (w as Jspi) : undefined;
}

/** The parts of the Emscripten module a sliced call needs (its exports are numbers in, a number out). */
interface RawModule {
  _QTS_Eval: unknown;
  _QTS_Call: unknown;
  _QTS_ExecutePendingJob: unknown;
  _malloc: (bytes: number) => number;
  _free: (ptr: number) => void;
  lengthBytesUTF8: (s: string) => number;
  stringToUTF8: (s: string, ptr: number, max: number) => number;
}

/** quickjs-emscripten's own members a sliced call uses to turn a result pointer into a handle (checked at load). */
interface ContextInternals {
  ctx: { value: number };
  memory: { heapValueHandle(ptr: number): QuickJSHandle };
  ffi: {
    QTS_ResolveException(ctx: number, ptr: number): number;
    QTS_FreeValuePointer(ctx: number, ptr: number): void;
  };
}

class Slices {
  /** set while a sliced call runs: the interrupt poll may suspend it */
  active = false;
  #since = 0;
  #polls = 0;
  readonly raw: RawModule;
  readonly memory: WebAssembly.Memory;
  readonly evalAsync: (...a: number[]) => Promise<number>;
  readonly callAsync: (...a: number[]) => Promise<number>;
  readonly jobsAsync: (...a: number[]) => Promise<number>;
  constructor(raw: RawModule, memory: WebAssembly.Memory, jspi: Jspi) {
    this.raw = raw;
    this.memory = memory;
    // throws when they are not exported WebAssembly functions
    this.evalAsync = jspi.promising(raw._QTS_Eval);
    this.callAsync = jspi.promising(raw._QTS_Call);
    this.jobsAsync = jspi.promising(raw._QTS_ExecutePendingJob);
  }

  /** Called at every interrupt poll the guest did not stop at: a promise suspends the guest until it settles. */
  pause(): Promise<void> | undefined {
    if (!this.active) return undefined;
    const now = Date.now();
    if (++this.#polls < SLICE_POLLS && now - this.#since < SLICE_MS) return undefined;
    return new Promise<void>((resolve) => setTimeout(resolve, 0)).then(() => this.#restart());
  }

  #restart(): void {
    this.#since = Date.now();
    this.#polls = 0;
  }

  async #enter(call: (...a: number[]) => Promise<number>, ...args: number[]): Promise<number> {
    this.#restart();
    this.active = true;
    try {
      return await call(...args);
    } finally {
      this.active = false;
    }
  }

  #string(s: string): number {
    const n = this.raw.lengthBytesUTF8(s) + 1;
    const ptr = this.raw._malloc(n);
    this.raw.stringToUTF8(s, ptr, n);
    return ptr;
  }

  #result(ctx: QuickJSContext, ptr: number): { value: QuickJSHandle } | { error: QuickJSHandle } {
    const q = ctx as unknown as ContextInternals;
    const errorPtr = q.ffi.QTS_ResolveException(q.ctx.value, ptr);
    if (errorPtr) {
      q.ffi.QTS_FreeValuePointer(q.ctx.value, ptr);
      return { error: q.memory.heapValueHandle(errorPtr) };
    }
    return { value: q.memory.heapValueHandle(ptr) };
  }

  /** `ctx.evalCode(source, filename, { type: "global" })` in slices. */
  async evalCode(
    ctx: QuickJSContext,
    source: string,
    filename: string,
  ): Promise<{ value: QuickJSHandle } | { error: QuickJSHandle }> {
    const code = this.#string(source);
    const name = this.#string(filename);
    try {
      // detectModule 0, flags 0 (JS_EVAL_TYPE_GLOBAL), as evalCode with { type: "global" }
      const ptr = await this.#enter(
        this.evalAsync,
        (ctx as unknown as ContextInternals).ctx.value,
        code,
        this.raw.lengthBytesUTF8(source),
        name,
        0,
        0,
      );
      return this.#result(ctx, ptr);
    } finally {
      this.raw._free(code);
      this.raw._free(name);
    }
  }

  /** `ctx.callFunction(fn, this, ...args)` in slices. */
  async call(
    ctx: QuickJSContext,
    fn: QuickJSHandle,
    self: QuickJSHandle,
    args: QuickJSHandle[],
  ): Promise<{ value: QuickJSHandle } | { error: QuickJSHandle }> {
    const argv = this.raw._malloc(Math.max(4, args.length * 4));
    try {
      new Uint32Array(this.memory.buffer, argv, args.length).set(args.map((a) => a.value as unknown as number));
      const ptr = await this.#enter(
        this.callAsync,
        (ctx as unknown as ContextInternals).ctx.value,
        fn.value as unknown as number,
        self.value as unknown as number,
        args.length,
        argv,
      );
      return this.#result(ctx, ptr);
    } finally {
      this.raw._free(argv);
    }
  }

  /** `runtime.executePendingJobs()` in slices, for a runtime with this one context. */
  async jobs(runtime: QuickJSRuntime, ctx: QuickJSContext): Promise<{ error?: QuickJSHandle }> {
    const rt = (runtime as unknown as { rt: { value: number } }).rt.value;
    const out = this.raw._malloc(4);
    let ptr: number;
    try {
      new Uint32Array(this.memory.buffer, out, 1)[0] = 0;
      ptr = await this.#enter(this.jobsAsync, rt, -1, out);
    } finally {
      this.raw._free(out);
    }
    // the runtime has this one context, so the job's context (in `out`) is not needed: the answer is the number of
    // jobs run, or the exception that stopped them (an interrupt included)
    const h = (ctx as unknown as ContextInternals).memory.heapValueHandle(ptr);
    if (ctx.typeof(h) === "number") {
      h.dispose();
      return {};
    }
    return { error: h };
  }
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
    const j = onWorkerd ? jspi() : undefined;
    let slices: Slices | undefined;
    let suspending = false;
    const variant = !onWorkerd
      ? releaseVariant
      : !j
        ? newVariant(releaseVariant, { wasmModule: async () => (await import("./quickjs-wasm.ts")).default })
        : newVariant(releaseVariant, {
            emscriptenModule: {
              async instantiateWasm(imports, onSuccess) {
                // the interrupt poll is the one import whose glue calls `shouldInterrupt`; it may now suspend
                for (const ns of Object.values(imports)) {
                  for (const [name, fn] of Object.entries(ns as Record<string, unknown>)) {
                    if (typeof fn !== "function" || !String(fn).includes("shouldInterrupt")) continue;
                    const poll = fn as (rt: number) => number;
                    (ns as Record<string, unknown>)[name] = new j.Suspending((rt: number) => {
                      const stop = poll(rt);
                      const paused = stop ? undefined : slices?.pause();
                      // after the pause, poll again: the deadline may have passed or the run been cancelled meanwhile
                      return paused ? paused.then(() => poll(rt)) : stop;
                    });
                    suspending = true;
                  }
                }
                const instance = await WebAssembly.instantiate((await import("./quickjs-wasm.ts")).default, imports);
                onSuccess(instance);
                return instance.exports;
              },
            },
          });
    const quickjs = await newQuickJSWASMModuleFromVariant(variant);
    const memory = quickjs.getWasmMemory();
    if (j && suspending) {
      const raw = (quickjs as unknown as { module: RawModule }).module;
      try {
        slices = new Slices(raw, memory, j);
      } catch {
        slices = undefined; // not exported WebAssembly functions: run in one piece
      }
    }
    const e: Engine = {
      quickjs,
      baseBytes: memory.buffer.byteLength,
      capBytes: Infinity,
      queue: Promise.resolve(),
      ...(slices ? { slices } : {}),
    };
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
      // one guest at a time owns the module's heap (and, while a sliced guest is suspended, its stack)
      const before = e.queue;
      let release = (): void => undefined;
      e.queue = new Promise<void>((resolve) => (release = resolve));
      await before;
      let outcome: { ok: true; value: { value: unknown; logs: string } } | { ok: false; error: unknown } | undefined;
      try {
        if (limits.signal.aborted) throw limits.signal.reason;
        const pollsPerMs = options.pollsPerMs ?? POLLS_PER_MS_WHEN_FROZEN;
        e.capBytes = e.baseBytes + limits.memoryBytes;
        const runtime = e.quickjs.newRuntime();
        try {
          outcome = { ok: true, value: await runIn(runtime, code, argsJson, limits, now, pollsPerMs, e.slices) };
        } catch (err) {
          outcome = { ok: false, error: err };
        }
        runtime.dispose();
      } catch (err) {
        if (limits.signal.aborted && err === limits.signal.reason) throw err;
        // a trap or an Emscripten abort (the guest's exception is caught above): this instance's state is unknown,
        // so the next call instantiates a new one
        if (loading) loading = undefined;
        outcome ??= {
          ok: false,
          error: sandboxFailure(err),
        };
      } finally {
        e.capBytes = Infinity;
        release();
      }
      if (outcome.ok) return outcome.value;
      const err = outcome.error;
      if (err instanceof WorkflowError || (limits.signal.aborted && err === limits.signal.reason)) throw err;
      if (loading) loading = undefined;
      throw sandboxFailure(err);
    },
  };
}

/**
 * A host-side failure of the sandbox (a trap, the host's own stack or memory running out) as the code node's error.
 * The guest's own exceptions never come here. The host's text (an engine internal) goes to the log; the client gets
 * what the author can act on (issue 13 item 8: "Maximum call stack size exceeded" reached clients verbatim).
 */
function sandboxFailure(err: unknown): WorkflowError {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  console.log(`[sandbox] host failure: ${text.slice(0, 500)}`);
  if (/call stack|stack overflow|too much recursion/i.test(text))
    return WorkflowError.of(Codes.CODE_EXECUTION_ERROR, "the code nested too deeply (the sandbox's stack ran out)");
  if (/memory/i.test(text))
    return WorkflowError.of(Codes.CODE_EXECUTION_ERROR, "the code ran out of the sandbox's memory");
  return WorkflowError.of(Codes.CODE_EXECUTION_ERROR, "the sandbox failed");
}

/** Warms the module (the first load compiles and instantiates the WebAssembly). */
export async function preloadJsSandbox(): Promise<void> {
  await engine();
}

let warming: Promise<void> | undefined;

/**
 * Loads the module and runs one trivial guest through the whole path (runtime, context, driver, console, call), once
 * per isolate. A fresh isolate's first guest cost about 30 ms more than the next one (issue 15): instantiating the
 * WebAssembly, and V8 compiling each QuickJS function the first time it runs. A run object starts this as soon as it
 * receives a plan with a JavaScript code node, so that the work overlaps whatever the run waits for before the node.
 */
export function warmJsSandbox(): Promise<void> {
  warming ??= createJsSandbox()
    .runJs(
      "function main(a) { return a; }",
      { warm: true },
      {
        timeoutMs: 1000,
        memoryBytes: 1 << 20,
        signal: new AbortController().signal,
      },
    )
    .then(
      () => undefined,
      () => {
        warming = undefined; // a failed warm-up leaves the first real call to load the module, as before
      },
    );
  return warming;
}

/** Whether a plan (as the run object receives it, JSON text) has a JavaScript code node, nested ones included. */
export function planRunsJs(planText: string): boolean {
  return JS_CODE_NODE.test(planText);
}
const JS_CODE_NODE = /"codeLanguage":"(javascript|js)"/;

type Outcome = { value: QuickJSHandle; error?: undefined } | { error: QuickJSHandle; value?: undefined };

async function runIn(
  runtime: QuickJSRuntime,
  code: string,
  argsJson: string,
  limits: SandboxLimits,
  now: () => number,
  pollsPerMs: number,
  slices: Slices | undefined,
): Promise<{ value: unknown; logs: string }> {
  const deadline = now() + limits.timeoutMs;
  let timedOut = false;
  // polls since the clock last moved, and how many the time left allows while it stands still
  let lastSeen = now();
  let stillPolls = 0;
  let allowedStill = Math.ceil(limits.timeoutMs * pollsPerMs);
  runtime.setMemoryLimit(limits.memoryBytes);
  runtime.setMaxStackSize(MAX_STACK_BYTES);
  const interrupt = (): boolean => {
    if (limits.signal.aborted) return true;
    const t = now();
    if (t >= deadline) timedOut = true;
    else if (t !== lastSeen) {
      lastSeen = t;
      stillPolls = 0;
      allowedStill = Math.ceil((deadline - t) * pollsPerMs);
    } else if (++stillPolls >= allowedStill) timedOut = true;
    return timedOut;
  };
  // sliced: the poll is a suspending import, which JSPI lets run only under a sliced call, so the handler is on
  // only during those (the host's own calls between them run no guest code)
  if (!slices) runtime.setInterruptHandler(interrupt);
  const ctx = runtime.newContext();
  const handles: QuickJSHandle[] = [];
  const keep = (h: QuickJSHandle): QuickJSHandle => (handles.push(h), h);
  let logs = "";
  let describe: QuickJSHandle | undefined;
  const stop = (): WorkflowError | unknown => {
    if (limits.signal.aborted) return limits.signal.reason;
    return WorkflowError.of(Codes.CODE_EXECUTION_TIMEOUT_ERROR, `the code ran longer than ${limits.timeoutMs} ms`);
  };
  const failure = (): unknown => {
    if (timedOut || limits.signal.aborted) return stop();
    return WorkflowError.of(Codes.CODE_EXECUTION_ERROR, "the sandbox's driver failed");
  };
  const sliced = async <T>(run: () => Promise<T>): Promise<T> => {
    runtime.setInterruptHandler(interrupt);
    try {
      return await run();
    } finally {
      runtime.removeInterruptHandler();
    }
  };
  const raw = {
    evalCode: (source: string, filename: string): Promise<Outcome> | Outcome =>
      slices
        ? sliced(() => slices.evalCode(ctx, source, filename))
        : ctx.evalCode(source, filename, { type: "global" }),
    call: (fn: QuickJSHandle, args: QuickJSHandle[]): Promise<Outcome> | Outcome =>
      slices ? sliced(() => slices.call(ctx, fn, ctx.undefined, args)) : ctx.callFunction(fn, ctx.undefined, ...args),
  };
  // the guest's error as `Name: message`, told by the guest (QuickJS reports out-of-memory and stack overflow as
  // InternalError/RangeError)
  const fail = async (h: QuickJSHandle): Promise<unknown> => {
    if (timedOut || limits.signal.aborted) return stop();
    const r = describe ? await raw.call(describe, [h]) : undefined;
    if (timedOut || limits.signal.aborted) return stop();
    if (r?.error) keep(r.error);
    const text = r?.value ? keep(r.value) : undefined;
    return WorkflowError.of(
      Codes.CODE_EXECUTION_ERROR,
      text && ctx.typeof(text) === "string" ? ctx.getString(text) : "unknown error",
    );
  };
  // every call that runs guest code goes through these: in slices where the platform allows, else in one piece
  const guest = {
    evalCode: async (source: string, filename: string): Promise<QuickJSHandle> => {
      const r = await raw.evalCode(source, filename);
      if (r.error) throw await fail(keep(r.error));
      return keep(r.value);
    },
    call: async (fn: QuickJSHandle, ...args: QuickJSHandle[]): Promise<QuickJSHandle> => {
      const r = await raw.call(fn, args);
      if (r.error) throw await fail(keep(r.error));
      return keep(r.value);
    },
    jobs: async (): Promise<void> => {
      const r = slices ? await sliced(() => slices.jobs(runtime, ctx)) : runtime.executePendingJobs();
      if (r.error) throw await fail(keep(r.error));
    },
  };
  try {
    const driver = keep(evaluate(ctx, DRIVER, failure));
    const call = keep(ctx.getProp(driver, 0));
    const stringify = keep(ctx.getProp(driver, 1));
    const isPromise = keep(ctx.getProp(driver, 2));
    describe = keep(ctx.getProp(driver, 4));
    // `console.log` and friends append the text the guest made of their arguments to the captured logs; nothing
    // reaches the host's console
    const write = keep(
      ctx.newFunction("write", (line) => {
        if (logs.length < MAX_LOG_CHARS) logs += `${ctx.getString(line)}\n`.slice(0, MAX_LOG_CHARS - logs.length);
      }),
    );
    const installed = ctx.callFunction(keep(ctx.getProp(driver, 3)), ctx.undefined, write);
    if (installed.error) throw (keep(installed.error), failure());
    keep(installed.value);

    await guest.evalCode(code, "main.js");
    const kind = ctx.dump(await guest.evalCode("typeof main", "driver.js")) as unknown;
    if (kind !== "function") throw WorkflowError.of(Codes.CODE_BUILD_ERROR, "can not find main function");
    const main = await guest.evalCode("main", "driver.js");

    let result = await guest.call(call, main, keep(ctx.newString(argsJson)));

    // an async main: settle its promise (the guest has no timers or I/O, so pending jobs are all there is)
    if (ctx.dump(await guest.call(isPromise, result)) === true) {
      await guest.jobs();
      const state = ctx.getPromiseState(result);
      if (state.type === "pending") {
        // an interrupt inside an async main also interrupts the rejection of its promise, which stays pending
        if (timedOut || limits.signal.aborted) throw stop();
        throw WorkflowError.of(Codes.CODE_EXECUTION_ERROR, "main returned a promise that never settles");
      }
      if (state.type === "rejected") throw await fail(keep(state.error));
      result = keep(state.value);
    }
    if (ctx.typeof(result) === "undefined") return { value: undefined, logs };
    const json = ctx.dump(await guest.call(stringify, result)) as unknown;
    if (typeof json !== "string")
      throw WorkflowError.of(Codes.CODE_EXECUTION_ERROR, "main returned a value that is not JSON");
    return { value: JSON.parse(json) as unknown, logs };
  } finally {
    for (const h of handles.reverse()) if (h.alive) h.dispose();
    ctx.dispose();
  }
}

function evaluate(
  ctx: QuickJSContext,
  source: string,
  failure: (h: QuickJSHandle) => unknown,
  filename = "driver.js",
): QuickJSHandle {
  const r = ctx.evalCode(source, filename, { type: "global" });
  if (r.error) {
    const e = failure(r.error);
    r.error.dispose();
    throw e;
  }
  return r.value;
}
