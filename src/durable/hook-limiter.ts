// Per-hook rate limit (issue 6): one small Durable Object per webhook, named by its id, holding a token bucket in
// memory. One object per hook is the one place every isolate of the deployment agrees on; an eviction refills the
// bucket, which errs on the side of letting requests through.
import { DurableObject } from "cloudflare:workers";

export interface Admission {
  ok: boolean;
  /** seconds until a token is available (when refused) */
  retryAfterS: number;
}

/** A token bucket: `ratePerMinute` tokens a minute, holding at most ten seconds' worth (at least one). */
export class TokenBucket {
  readonly ratePerMinute: number;
  #tokens: number;
  #at: number;
  constructor(ratePerMinute: number, now: number) {
    this.ratePerMinute = ratePerMinute;
    this.#tokens = TokenBucket.capacity(ratePerMinute);
    this.#at = now;
  }

  static capacity(ratePerMinute: number): number {
    return Math.max(1, Math.ceil(ratePerMinute / 6));
  }

  take(now: number): Admission {
    const perMs = this.ratePerMinute / 60_000;
    this.#tokens = Math.min(TokenBucket.capacity(this.ratePerMinute), this.#tokens + (now - this.#at) * perMs);
    this.#at = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return { ok: true, retryAfterS: 0 };
    }
    return { ok: false, retryAfterS: Math.max(1, Math.ceil((1 - this.#tokens) / perMs / 1000)) };
  }
}

export class HookLimiter extends DurableObject {
  #bucket: TokenBucket | undefined;

  async admit(ratePerMinute: number): Promise<Admission> {
    const now = Date.now();
    if (!this.#bucket || this.#bucket.ratePerMinute !== ratePerMinute)
      this.#bucket = new TokenBucket(ratePerMinute, now);
    return this.#bucket.take(now);
  }
}
