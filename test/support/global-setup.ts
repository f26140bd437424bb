// Vitest global setup (Node side): a real redis-server behind the Upstash REST front. The URLs reach workerd
// tests through provide/inject. Other fake servers join the `services` list.
import type { TestProject } from "vitest/node";
import { startRedis } from "./redis-server.ts";
import { startUpstashFront } from "./upstash-front.ts";

declare module "vitest" {
  export interface ProvidedContext {
    upstashUrl: string;
    upstashToken: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redis = await startRedis();
  const front = await startUpstashFront({ redisPort: redis.port, token: "test-token" });
  project.provide("upstashUrl", front.url);
  project.provide("upstashToken", front.token);
  return async () => {
    await front.close();
    await redis.stop();
  };
}
