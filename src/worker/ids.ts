// Ids: 64-bit snowflake-like decimal strings (JavaScript cannot hold them as numbers, spec §3) and sids (§9.5).
const EPOCH = 1_700_000_000_000n;
let last = 0n;
let seq = 0n;

export function newId(now: number = Date.now()): string {
  let t = BigInt(now) - EPOCH;
  if (t <= last) {
    seq = (seq + 1n) & 0xfffn;
    if (seq === 0n) t = last + 1n;
    else t = last;
  } else {
    seq = BigInt(crypto.getRandomValues(new Uint16Array(1))[0] ?? 0) & 0xffn;
  }
  last = t;
  const worker = BigInt(crypto.getRandomValues(new Uint16Array(1))[0] ?? 0) & 0x3ffn;
  return ((t << 22n) | (worker << 12n) | seq).toString();
}

/** A recognisable, unique trace id (clients treat it as opaque). */
export function newSid(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return `spf${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}@cf${Date.now().toString(16)}`;
}
