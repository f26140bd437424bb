import { DurableObject } from "cloudflare:workers";

/** One Durable Object per run (ARCHITECTURE decision 2). Filled in by the service issue. */
export class RunObject extends DurableObject {
  async ping(): Promise<string> {
    return "pong";
  }
}
