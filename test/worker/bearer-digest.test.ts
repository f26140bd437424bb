// A webhook's bearer token is digested once per isolate (issue 15: one Web Crypto call less per webhook request);
// the digest is right, bounded in count and length, and never stands in for the comparison with the hook's current
// hash (hooks.test.ts: a rotated token is refused at once).
import { afterEach, describe, expect, it, vi } from "vitest";
import { bearerDigest, sha256Hex } from "../../src/worker/store/hooks.ts";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("bearerDigest", () => {
  it("is the token's SHA-256, computed once for a token presented again", async () => {
    const token = `wht_${"a".repeat(43)}`;
    const digest = vi.spyOn(crypto.subtle, "digest");
    expect(await bearerDigest(token)).toBe(await sha256Hex(token));
    const after = digest.mock.calls.length;
    expect(await bearerDigest(token)).toBe(await sha256Hex(token));
    expect(digest.mock.calls.length).toBe(after + 1); // only sha256Hex's own call
  });

  it("does not remember an overlong token", async () => {
    const token = `wht_${"b".repeat(200)}`;
    await bearerDigest(token);
    const digest = vi.spyOn(crypto.subtle, "digest");
    expect(await bearerDigest(token)).toBe(await sha256Hex(token));
    expect(digest.mock.calls.length).toBe(2);
  });

  it("remembers at most 1,024 tokens, forgetting the oldest first", async () => {
    const first = "wht_first";
    await bearerDigest(first);
    for (let i = 0; i < 1024; i++) await bearerDigest(`wht_fill_${i}`);
    const digest = vi.spyOn(crypto.subtle, "digest");
    await bearerDigest("wht_fill_1023"); // still remembered
    expect(digest.mock.calls.length).toBe(0);
    await bearerDigest(first); // pushed out by the 1,024 after it
    expect(digest.mock.calls.length).toBe(1);
  });
});
