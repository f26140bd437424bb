// The bounded map behind the per-isolate memos (parsed plans, bearer-token digests).
import { describe, expect, it } from "vitest";
import { LruMap } from "../../src/engine/lru.ts";

describe("LruMap", () => {
  it("keeps at most its bound, the least recently used going first", () => {
    const m = new LruMap<string, number>(2);
    m.set("a", 1);
    m.set("b", 2);
    expect(m.get("a")).toBe(1); // a is now the most recently used
    m.set("c", 3);
    expect(m.size).toBe(2);
    expect(m.get("b")).toBeUndefined();
    expect(m.get("a")).toBe(1);
    expect(m.get("c")).toBe(3);
  });

  it("replaces a key's value without counting it twice", () => {
    const m = new LruMap<string, number>(2);
    m.set("a", 1);
    m.set("a", 2);
    m.set("b", 3);
    expect(m.size).toBe(2);
    expect(m.get("a")).toBe(2);
  });
});
