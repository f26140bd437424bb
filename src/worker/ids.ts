// Ids: 64-bit snowflake-like decimal strings (spec §3: JavaScript cannot hold them as numbers, so they travel and
// are stored as strings) and sids (§9.5).
//
// Layout, high to low: 41 bits of milliseconds since EPOCH (good until 2093), 10 random bits (an isolate picks them
// once: Workers have no stable worker number, so two isolates collide only if they draw the same bits in the same
// millisecond and the same counter value), 12 bits of a per-millisecond counter. Ids of one generator are strictly
// increasing even when the clock stands still or steps back.

import { hex, randomBytes } from "./bytes.ts";

const EPOCH = 1_700_000_000_000n;
const COUNTER_BITS = 12n;
const NODE_BITS = 10n;
const COUNTER_MASK = (1n << COUNTER_BITS) - 1n;
const NODE_MASK = (1n << NODE_BITS) - 1n;

export interface IdGeneratorOptions {
  /** milliseconds since the Unix epoch; injected so tests control time */
  now?: () => number;
  /** the 10 node bits; random by default */
  node?: number;
}

/** A generator of strictly increasing 64-bit decimal-string ids. */
export function createIdGenerator(opts: IdGeneratorOptions = {}): () => string {
  const now = opts.now ?? Date.now;
  // drawn on first use: workerd forbids random values in the global scope, where the default generator is made
  let node: bigint | undefined = opts.node === undefined ? undefined : BigInt(opts.node) & NODE_MASK;
  let last = -1n;
  let counter = 0n;
  return () => {
    if (node === undefined) {
      const b = randomBytes(2);
      node = BigInt(((b[0] ?? 0) << 8) | (b[1] ?? 0)) & NODE_MASK;
    }
    let t = BigInt(Math.floor(now())) - EPOCH;
    if (t < 0n) t = 0n;
    if (t > last) {
      last = t;
      counter = 0n;
    } else {
      // same millisecond, or the clock went back: keep counting on the last timestamp, borrowing the next
      // millisecond when the counter is exhausted
      counter = (counter + 1n) & COUNTER_MASK;
      if (counter === 0n) last += 1n;
    }
    return ((last << (NODE_BITS + COUNTER_BITS)) | (node << COUNTER_BITS) | counter).toString();
  };
}

const defaultGenerator = createIdGenerator();

/** A new flow / event id from the isolate's generator. */
export function newId(): string {
  return defaultGenerator();
}

/** The millisecond timestamp an id was made at (for logs and tests). */
export function idTime(id: string): number {
  return Number((BigInt(id) >> (NODE_BITS + COUNTER_BITS)) + EPOCH);
}

/**
 * A unique trace id with the original's recognisable `spf` prefix (spec §9.5 [new] — a unique string will do; clients treat
 * it as opaque): `spf` + 16 random hex digits + `@cf` + the millisecond time in hex.
 */
export function newSid(now: number = Date.now()): string {
  return `spf${hex(randomBytes(8))}@cf${now.toString(16)}`;
}

/**
 * A run's event id (issue 13): 128 random bits written as 39 decimal digits. Flow ids above are snowflakes because
 * the console orders and stores them as 64-bit numbers, but an event id is a capability: whoever knows it can name the
 * run's Durable Object, so it must not be derivable from another id (a snowflake is: time, per-isolate bits and a
 * counter). Astron clients treat `event_id` as an opaque string of digits, so the shape they see stays digits; the
 * run object also checks the caller's app on every call (owner.ts), so a guessed id alone gains nothing either.
 */
export function newRunId(): string {
  const bytes = randomBytes(16);
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n.toString().padStart(RUN_ID_DIGITS, "0");
}

/** digits of 2^128 − 1 */
export const RUN_ID_DIGITS = 39;
