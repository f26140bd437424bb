// Lets the engine suite, written for vitest, run unchanged under `deno test` (deno.json maps the bare "vitest" here).
// Every `it` becomes one flat Deno.test named "suite > sub-suite > test", so Deno's summary counts tests the way
// vitest does. `expect` is Jest's `expect` package (the matcher semantics vitest follows) plus the few matchers
// vitest adds; `vi.fn`/`vi.spyOn` are jest-mock's. Anything else vitest offers fails loudly instead of pretending.
import { expect as jestExpect } from "expect";
import { ModuleMocker, type Mock } from "jest-mock";

declare const Deno: {
  test(def: {
    name: string;
    fn: () => Promise<void>;
    ignore?: boolean;
    only?: boolean;
    sanitizeOps?: boolean;
    sanitizeResources?: boolean;
  }): void;
};

type Hook = () => unknown;
type TestFn = (context: TestContext) => unknown;
interface TestContext {
  expect: typeof expect;
  signal: AbortSignal;
  task: { name: string };
}
interface TestOptions {
  timeout?: number;
  skip?: boolean;
  only?: boolean;
  todo?: boolean;
}
interface Mode {
  skip?: boolean;
  only?: boolean;
  todo?: boolean;
}

interface Suite {
  name: string;
  parent: Suite | undefined;
  skip: boolean;
  beforeAll: Hook[];
  afterAll: Hook[];
  beforeEach: Hook[];
  afterEach: Hook[];
  /** tests still to run under this suite (nested included); afterAll runs when it reaches 0 */
  remaining: number;
  started: boolean;
}

function newSuite(name: string, parent: Suite | undefined, skip = false): Suite {
  return {
    name,
    parent,
    skip,
    beforeAll: [],
    afterAll: [],
    beforeEach: [],
    afterEach: [],
    remaining: 0,
    started: false,
  };
}

// Deno loads every test module into one isolate, so top-level hooks are scoped to the module that declares them:
// each module gets its own root suite, found from the caller's URL on the stack.
const roots = new Map<string, Suite>();
let current: Suite | undefined;

function callerModule(): string {
  const stack = new Error().stack ?? "";
  const self = import.meta.url;
  for (const line of stack.split("\n").slice(1)) {
    const m = /((?:file|https?):\/\/[^\s)]+?):\d+:\d+/.exec(line);
    if (m?.[1] && m[1] !== self) return m[1];
  }
  return "<unknown>";
}

function scope(): Suite {
  if (current) return current;
  const file = callerModule();
  let root = roots.get(file);
  if (!root) roots.set(file, (root = newSuite("", undefined)));
  return root;
}

function chain(suite: Suite): Suite[] {
  const out: Suite[] = [];
  for (let s: Suite | undefined = suite; s; s = s.parent) out.unshift(s);
  return out;
}

const DEFAULT_TIMEOUT_MS = 60_000;

async function withTimeout(work: Promise<unknown>, ms: number, name: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`test timed out after ${ms} ms: ${name}`)), ms);
  });
  try {
    await Promise.race([work, limit]);
  } finally {
    clearTimeout(timer);
  }
}

function register(name: string, fn: TestFn | undefined, options: TestOptions, mode: Mode): void {
  const suite = scope();
  const suites = chain(suite);
  const fullName = [...suites.map((s) => s.name).filter(Boolean), name].join(" > ");
  const ignore = Boolean(mode.skip || mode.todo || options.skip || options.todo || !fn || suites.some((s) => s.skip));
  if (!ignore) for (const s of suites) s.remaining++;
  const timeout = options.timeout ?? DEFAULT_TIMEOUT_MS;
  Deno.test({
    name: mode.todo || options.todo ? `${fullName} (todo)` : fullName,
    ignore,
    only: Boolean(mode.only || options.only),
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const controller = new AbortController();
      let failure: unknown;
      try {
        for (const s of suites) {
          if (s.started) continue;
          s.started = true;
          for (const h of s.beforeAll) await h();
        }
        for (const s of suites) for (const h of s.beforeEach) await h();
        jestExpect.setState({
          assertionCalls: 0,
          expectedAssertionsNumber: null,
          isExpectingAssertions: false,
          currentTestName: fullName,
        });
        await withTimeout(
          Promise.resolve((fn as TestFn)({ expect, signal: controller.signal, task: { name } })),
          timeout,
          fullName,
        );
        const [assertionError] = jestExpect.extractExpectedAssertionsErrors();
        if (assertionError) throw assertionError.error;
      } catch (e) {
        failure = e;
      } finally {
        controller.abort();
        for (const s of [...suites].reverse()) {
          for (const h of [...s.afterEach].reverse()) {
            try {
              await h();
            } catch (e) {
              failure ??= e;
            }
          }
        }
        for (const s of [...suites].reverse()) {
          if (--s.remaining > 0) continue;
          for (const h of [...s.afterAll].reverse()) {
            try {
              await h();
            } catch (e) {
              failure ??= e;
            }
          }
        }
      }
      if (failure !== undefined) throw failure;
    },
  });
}

// ── test / it ──────────────────────────────────────────────────────────────────────────────────────────────────────

type TestArgs =
  | [name: string, fn?: TestFn, timeoutOrOptions?: number | TestOptions]
  | [name: string, options: TestOptions, fn?: TestFn];

function parseArgs(args: TestArgs): { name: string; fn: TestFn | undefined; options: TestOptions } {
  const [name, a, b] = args;
  if (typeof a === "object" && a !== null) return { name, fn: b as TestFn | undefined, options: a };
  const options: TestOptions = typeof b === "number" ? { timeout: b } : ((b as TestOptions | undefined) ?? {});
  return { name, fn: a, options };
}

/** vitest's title formatting for .each: printf-style %s %d %i %f %j %o %O %%, %# for the index, $name for keys. */
function formatTitle(title: string, row: unknown, index: number): string {
  const values = Array.isArray(row) ? [...row] : [row];
  let out = title.replace(/%[sdifjoO#%]/g, (token) => {
    if (token === "%%") return "%";
    if (token === "%#") return String(index);
    const v = values.shift();
    if (token === "%d" || token === "%i") return String(token === "%i" ? Math.trunc(Number(v)) : Number(v));
    if (token === "%f") return String(Number(v));
    if (token === "%j" || token === "%o" || token === "%O") return JSON.stringify(v);
    return typeof v === "string" ? v : typeof v === "object" ? JSON.stringify(v) : String(v);
  });
  if (row !== null && typeof row === "object" && !Array.isArray(row)) {
    out = out.replace(/\$([A-Za-z_][\w.]*)/g, (whole, path: string) => {
      let v: unknown = row;
      for (const key of path.split("."))
        v = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[key] : undefined;
      return v === undefined ? whole : typeof v === "string" ? v : JSON.stringify(v);
    });
  }
  return out;
}

function spread(row: unknown): unknown[] {
  return Array.isArray(row) ? row : [row];
}

interface TestApi {
  (...args: TestArgs): void;
  skip: (...args: TestArgs) => void;
  only: (...args: TestArgs) => void;
  todo: (name: string) => void;
  skipIf: (condition: unknown) => (...args: TestArgs) => void;
  runIf: (condition: unknown) => (...args: TestArgs) => void;
  each: <T>(
    table: readonly T[],
  ) => (name: string, fn: (...args: never[]) => unknown, timeoutOrOptions?: number | TestOptions) => void;
  for: <T>(table: readonly T[]) => (name: string, fn: (row: T, context: TestContext) => unknown) => void;
}

function makeTest(mode: Mode): TestApi {
  const api = ((...args: TestArgs) => {
    const { name, fn, options } = parseArgs(args);
    register(name, fn, options, mode);
  }) as TestApi;
  api.skip = (...args) => {
    const { name, fn, options } = parseArgs(args);
    register(name, fn, options, { ...mode, skip: true });
  };
  api.only = (...args) => {
    const { name, fn, options } = parseArgs(args);
    register(name, fn, options, { ...mode, only: true });
  };
  api.todo = (name) => register(name, undefined, {}, { todo: true });
  api.skipIf = (condition) => (condition ? api.skip : api);
  api.runIf = (condition) => (condition ? api : api.skip);
  api.each = (table) => (name, fn, timeoutOrOptions) => {
    table.forEach((row, i) => {
      const run = fn as (...args: unknown[]) => unknown;
      api(formatTitle(name, row, i), () => run(...spread(row)), timeoutOrOptions);
    });
  };
  api.for = (table) => (name, fn) => {
    table.forEach((row, i) => register(formatTitle(name, row, i), (ctx) => fn(row, ctx), {}, mode));
  };
  return api;
}

export const it: TestApi = makeTest({});
export const test: TestApi = it;

// ── describe ───────────────────────────────────────────────────────────────────────────────────────────────────────

interface DescribeApi {
  (name: string, fn: () => void): void;
  skip: (name: string, fn: () => void) => void;
  only: (name: string, fn: () => void) => void;
  todo: (name: string) => void;
  skipIf: (condition: unknown) => (name: string, fn: () => void) => void;
  runIf: (condition: unknown) => (name: string, fn: () => void) => void;
  each: <T>(table: readonly T[]) => (name: string, fn: (...args: never[]) => void) => void;
}

function collect(name: string, fn: () => void, skip: boolean): void {
  const parent = scope();
  const suite = newSuite(name, parent, skip || parent.skip);
  const saved = current;
  current = suite;
  try {
    const result: unknown = fn();
    if (result instanceof Promise) throw new Error(`describe("${name}") must be synchronous under the Deno shim`);
  } finally {
    current = saved;
  }
}

export const describe: DescribeApi = Object.assign((name: string, fn: () => void) => collect(name, fn, false), {
  skip: (name: string, fn: () => void) => collect(name, fn, true),
  only: (name: string, fn: () => void) => collect(name, fn, false),
  todo: (name: string) => register(name, undefined, {}, { todo: true }),
  skipIf: (condition: unknown) => (name: string, fn: () => void) => collect(name, fn, Boolean(condition)),
  runIf: (condition: unknown) => (name: string, fn: () => void) => collect(name, fn, !condition),
  each:
    <T>(table: readonly T[]) =>
    (name: string, fn: (...args: never[]) => void) =>
      table.forEach((row, i) =>
        collect(formatTitle(name, row, i), () => (fn as (...args: unknown[]) => void)(...spread(row)), false),
      ),
});
export const suite: DescribeApi = describe;

// ── hooks ──────────────────────────────────────────────────────────────────────────────────────────────────────────

export function beforeAll(fn: Hook): void {
  scope().beforeAll.push(fn);
}
export function afterAll(fn: Hook): void {
  scope().afterAll.push(fn);
}
export function beforeEach(fn: Hook): void {
  scope().beforeEach.push(fn);
}
export function afterEach(fn: Hook): void {
  scope().afterEach.push(fn);
}

// ── expect: Jest's, plus what vitest adds ─────────────────────────────────────────────────────────────────────────

interface MatcherState {
  isNot?: boolean;
}
type MatcherResult = { pass: boolean; message: () => string };

/** Runs a Jest matcher under another name (vitest keeps aliases Jest 30 dropped), honouring `.not`. */
function alias(jestName: string) {
  return function (this: MatcherState, received: unknown, ...args: unknown[]): MatcherResult {
    const target = (this.isNot ? jestExpect(received).not : jestExpect(received)) as unknown as Record<
      string,
      (...a: unknown[]) => void
    >;
    try {
      target[jestName]?.(...args);
      // the inner call counted as an assertion; the outer one counts already (expect.assertions stays exact)
      jestExpect.setState({ assertionCalls: jestExpect.getState().assertionCalls - 1 });
      return { pass: !this.isNot, message: () => "" };
    } catch (e) {
      return { pass: Boolean(this.isNot), message: () => (e instanceof Error ? e.message : String(e)) };
    }
  };
}

const mocker = new ModuleMocker(globalThis);

function callCount(received: unknown): number {
  if (!mocker.isMockFunction(received)) throw new Error("expected a mock function (vi.fn or vi.spyOn)");
  return received.mock.calls.length;
}

jestExpect.extend({
  toThrowError: alias("toThrow"),
  toBeTypeOf(received: unknown, type: string): MatcherResult {
    const actual = received === null ? "object" : typeof received;
    return { pass: actual === type, message: () => `expected typeof ${actual} to be ${type}` };
  },
  toBeOneOf(received: unknown, options: readonly unknown[]): MatcherResult {
    const pass = options.some((o) => this.equals(received, o));
    return {
      pass,
      message: () => `expected ${this.utils.printReceived(received)} to be one of ${this.utils.printExpected(options)}`,
    };
  },
  toSatisfy(received: unknown, predicate: (v: unknown) => boolean, message?: string): MatcherResult {
    return {
      pass: predicate(received),
      message: () => message ?? `expected ${this.utils.printReceived(received)} to satisfy the predicate`,
    };
  },
  toHaveBeenCalledOnce(received: unknown): MatcherResult {
    const n = callCount(received);
    return { pass: n === 1, message: () => `expected one call, got ${n}` };
  },
  toHaveBeenCalledExactlyOnceWith(received: unknown, ...args: unknown[]): MatcherResult {
    const n = callCount(received);
    const calls = (received as Mock).mock.calls;
    const pass = n === 1 && this.equals(calls[0], args);
    return {
      pass,
      message: () =>
        `expected exactly one call with ${this.utils.printExpected(args)}, got ${this.utils.printReceived(calls)}`,
    };
  },
});

export const expect = jestExpect;

// ── vi: mocks from jest-mock; timers and module mocking are not emulated ──────────────────────────────────────────

function unsupported(name: string): () => never {
  return () => {
    throw new Error(`vi.${name} is not available under the Deno vitest shim (test/support/deno-vitest-shim.ts)`);
  };
}

export const vi = {
  fn: mocker.fn.bind(mocker),
  spyOn: mocker.spyOn.bind(mocker),
  isMockFunction: mocker.isMockFunction.bind(mocker),
  mocked: <T>(value: T): T => value,
  clearAllMocks: () => mocker.clearAllMocks(),
  resetAllMocks: () => mocker.resetAllMocks(),
  restoreAllMocks: () => mocker.restoreAllMocks(),
  async waitFor<T>(
    check: () => T | Promise<T>,
    options: number | { timeout?: number; interval?: number } = {},
  ): Promise<T> {
    const { timeout = 1000, interval = 50 } = typeof options === "number" ? { timeout: options } : options;
    const deadline = Date.now() + timeout;
    for (;;) {
      try {
        return await check();
      } catch (e) {
        if (Date.now() >= deadline) throw e;
        await new Promise((r) => setTimeout(r, interval));
      }
    }
  },
  useFakeTimers: unsupported("useFakeTimers"),
  useRealTimers: () => undefined,
  mock: unsupported("mock"),
  stubGlobal: unsupported("stubGlobal"),
};
