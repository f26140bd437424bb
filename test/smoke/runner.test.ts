// Runs on Node (vitest `engine` project) and on Deno (through test/support/deno-vitest-shim.ts): the vitest surface
// the engine suite may use behaves the same on both, so a test that passes on one means the same on the other.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";

const log: string[] = [];

describe("the test runner", () => {
  beforeAll(() => void log.push("beforeAll"));
  beforeEach(() => void log.push("beforeEach"));
  afterEach(() => void log.push("afterEach"));
  afterAll(() => {
    // afterAll of a suite runs once, after its last test
    expect(log.filter((e) => e === "beforeAll")).toHaveLength(1);
  });

  it("runs beforeAll once and beforeEach before every test", () => {
    expect(log).toEqual(["beforeAll", "beforeEach"]);
  });

  it("runs afterEach after every test", () => {
    expect(log).toEqual(["beforeAll", "beforeEach", "afterEach", "beforeEach"]);
  });

  it.each([
    [1, 2, 3],
    [2, 3, 5],
  ])("adds %i and %i into %i", (a, b, sum) => {
    expect(a + b).toBe(sum);
  });

  it("awaits async tests and rejected promises", async () => {
    await expect(Promise.reject(new Error("boom 22500"))).rejects.toThrow(/22500/);
    await expect(Promise.resolve({ code: 0, extra: 1 })).resolves.toMatchObject({ code: 0 });
  });

  it("has the matchers the suites use", () => {
    expect({ a: [1, { b: "x" }] }).toEqual({ a: [1, { b: "x" }] });
    expect([1, 2, 3]).toContain(2);
    expect("hello").toMatch(/ell/);
    expect(0.1 + 0.2).toBeCloseTo(0.3);
    expect(undefined).toBeUndefined();
    expect({ code: 20600, message: "m" }).toMatchObject({ code: 20600 });
    expect({ x: 1 }).toHaveProperty("x", 1);
    expect(() => JSON.parse("{")).toThrow();
    expect(() => JSON.parse("{")).toThrowError(SyntaxError);
    expect("s").toBeTypeOf("string");
    expect(2).toBeOneOf([1, 2]);
    expect(4).toSatisfy((n: number) => n % 2 === 0);
    expect({ id: "n1", at: 5 }).toEqual({ id: "n1", at: expect.any(Number) });
    expect.assertions(13);
  });

  it("mocks functions", () => {
    const f = vi.fn((x: number) => x * 2);
    expect(f(2)).toBe(4);
    expect(f).toHaveBeenCalledOnce();
    expect(f).toHaveBeenCalledWith(2);
    expect(f).toHaveBeenCalledExactlyOnceWith(2);
  });
});
