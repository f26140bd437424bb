// Random bytes for ids (run ids, sids, trace and span ids, error references, hook secrets), drawn from the
// platform's CSPRNG in blocks.
//
// Why blocks (issue 15): every `crypto.getRandomValues` is a call into the platform, and a webhook run made two in
// the worker alone (sid, run id) where the ceiling it is measured against makes one. A block of 4 KiB drawn once
// serves about 170 run ids, so most requests draw none. (The per-call saving is below what the benchmarks can
// resolve; BENCHMARKS.md says so.) Served bytes are zeroed in the block, so nothing handed out stays behind in it.
// Same source, same unpredictability: the block is module-private and never leaves this file.

const BLOCK = 4096;

let block: Uint8Array | undefined;
let at = BLOCK;

/** `n` bytes from the CSPRNG (a fresh array each call, never shared with another caller). */
export function randomBytes(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`randomBytes: bad length ${n}`);
  // a large draw goes straight to the source (at most 65,536 bytes per call, its own limit)
  if (n > BLOCK / 4) return crypto.getRandomValues(new Uint8Array(n));
  // drawn on first use, never at module scope (workerd refuses random values outside a request)
  if (!block || at + n > BLOCK) {
    block = crypto.getRandomValues(new Uint8Array(BLOCK));
    at = 0;
  }
  const out = block.slice(at, at + n);
  block.fill(0, at, at + n);
  at += n;
  return out;
}

/** `bytes` random bytes as lower-case hex, never all zeros (W3C trace ids and span ids may not be). */
export function randomHex(bytes: number): string {
  for (;;) {
    const buf = randomBytes(bytes);
    let hex = "";
    let zero = true;
    for (const b of buf) {
      if (b !== 0) zero = false;
      hex += (b < 16 ? "0" : "") + b.toString(16);
    }
    if (!zero) return hex;
  }
}
