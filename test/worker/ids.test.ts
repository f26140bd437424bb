// Ids (spec §3: 64-bit decimal strings) and sids (§9.5: unique, recognisable prefix).
import { describe, expect, it } from "vitest";
import { createIdGenerator, idTime, newId, newSid } from "../../src/worker/ids.ts";

describe("ids", () => {
  it("are decimal strings of positive signed 64-bit integers that carry their time", () => {
    const at = Date.parse("2026-11-24T10:00:00Z");
    const id = createIdGenerator({ now: () => at })();
    expect(id).toMatch(/^\d{1,19}$/);
    expect(BigInt(id) > 0n && BigInt(id) < 2n ** 63n).toBe(true);
    expect(idTime(id)).toBe(at);
    expect(newId()).toMatch(/^\d{15,19}$/);
  });

  it("strictly increase within one generator, even in one millisecond or when the clock steps back", () => {
    let t = Date.parse("2026-11-24T10:00:00Z");
    const next = createIdGenerator({ now: () => t, node: 5 });
    const seen: bigint[] = [];
    for (let i = 0; i < 10_000; i++) {
      if (i === 5_000) t -= 1_000; // NTP step back
      if (i % 3000 === 0) t += 1;
      seen.push(BigInt(next()));
    }
    for (let i = 1; i < seen.length; i++) expect(seen[i]! > seen[i - 1]!).toBe(true);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it("differ between generators of different nodes in the same millisecond", () => {
    const now = (): number => 1_800_000_000_000;
    expect(createIdGenerator({ now, node: 1 })()).not.toBe(createIdGenerator({ now, node: 2 })());
  });
});

describe("sids", () => {
  it("start with spf and are unique", () => {
    const sids = new Set(Array.from({ length: 1000 }, () => newSid()));
    expect(sids.size).toBe(1000);
    for (const s of sids) expect(s).toMatch(/^spf[0-9a-f]{16}@cf[0-9a-f]+$/);
  });
});
