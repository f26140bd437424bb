// Vitest global setup (Node side): a real redis-server behind the Upstash REST front. The URLs reach workerd
// tests through provide/inject. Other fake servers join the `services` list.
import type { TestProject } from "vitest/node";
import { startRedis } from "./redis-server.ts";
import { startFakeOpenAI } from "./fake-openai.ts";
import { startFakeSpark } from "./fake-spark.ts";
import { startUpstashFront } from "./upstash-front.ts";

declare module "vitest" {
  export interface ProvidedContext {
    upstashUrl: string;
    upstashToken: string;
    openaiUrl: string;
    sparkUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redis = await startRedis();
  const front = await startUpstashFront({ redisPort: redis.port, token: "test-token" });
  project.provide("upstashUrl", front.url);
  project.provide("upstashToken", front.token);
  const openai = await startFakeOpenAI();
  project.provide("openaiUrl", openai.url);
  const spark = await startFakeSpark();
  project.provide("sparkUrl", spark.url);
  return async () => {
    await spark.close();
    await openai.close();
    await front.close();
    await redis.stop();
  };
}
