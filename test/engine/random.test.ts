// Random bytes for ids drawn from the CSPRNG in blocks (issue 15): every caller gets its own fresh bytes, never
// bytes another caller got, of the length it asked for; the source is called once per block, not once per id.
import { afterEach, describe, expect, it, vi } from "vitest";
import { randomBytes, randomHex } from "../../src/engine/random.ts";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("randomBytes", () => {
  it("gives the length asked for, across block boundaries and for large draws", () => {
    for (const n of [0, 1, 7, 16, 1000, 1024, 1025, 3000, 5000, 65_536]) expect(randomBytes(n)).toHaveLength(n);
  });

  it("never hands out the same bytes twice", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++)
      seen.add(Array.from(randomBytes(16), (b) => b.toString(16).padStart(2, "0")).join(""));
    expect(seen.size).toBe(20_000);
  });

  it("returns arrays of its caller's own: changing one changes no later draw", () => {
    const a = randomBytes(32);
    a.fill(0);
    const b = randomBytes(32);
    expect(b.some((x) => x !== 0)).toBe(true);
    expect(a.buffer).not.toBe(b.buffer);
  });

  it("draws from the source once per 4 KiB block, not once per id", () => {
    randomBytes(4096 / 4); // the next small draws start a fresh block or continue one
    const source = vi.spyOn(crypto, "getRandomValues");
    for (let i = 0; i < 256; i++) randomBytes(16); // 4 KiB of ids
    expect(source.mock.calls.length).toBeGreaterThanOrEqual(1);
    expect(source.mock.calls.length).toBeLessThanOrEqual(2);
  });

  it("refuses a length that is not a count", () => {
    expect(() => randomBytes(-1)).toThrow(RangeError);
    expect(() => randomBytes(1.5)).toThrow(RangeError);
  });
});

describe("randomHex", () => {
  it("is lower-case hex of the size asked for and never all zeros (trace and span ids may not be)", () => {
    // one byte is zero once in 256 draws: 5,000 draws would hold about 20 zeros if they were not drawn again
    const ids = Array.from({ length: 5000 }, () => randomHex(1));
    expect(ids.every((h) => /^[0-9a-f]{2}$/.test(h))).toBe(true);
    expect(ids).not.toContain("00");
    expect(randomHex(16)).toMatch(/^[0-9a-f]{32}$/);
  });
});
