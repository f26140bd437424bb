// Vitest global setup (Node side, STYLE §19): the fake servers the suites talk to. workerd tests cannot start
// servers, so each one starts here and hands its address to the tests through provide/inject.
//
// To add a server: declare its keys in ProvidedContext below and append a Service to `services`, e.g.
//   { name: "agent", async start() { const s = await startFakeAgent(); return { provide: { agentUrl: s.url }, stop: s.close }; } }
// Tests then read `inject("agentUrl")`. Services start concurrently; a failed start stops the others and fails the run.
import type { ProvidedContext } from "vitest";
import type { TestProject } from "vitest/node";
import { startFakeOpenAI } from "./fake-openai.ts";
import { startFakeReceiver } from "./fake-receiver.ts";
import { postgresService } from "./postgres-service.ts";
import { startFakeSpark } from "./fake-spark.ts";
import { startRedis } from "./redis-server.ts";
import { startUpstashFront } from "./upstash-front.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** the Upstash REST front over a real redis-server (UPSTASH_REDIS_REST_URL for tests) */
    upstashUrl: string;
    upstashToken: string;
    /** fake OpenAI-compatible provider */
    openaiUrl: string;
    /** fake Spark WebSocket server */
    sparkUrl: string;
    /** webhook callback receiver (records deliveries, can fail the first N) */
    receiverUrl: string;
  }
}

export interface StartedService {
  provide: Partial<ProvidedContext>;
  stop(): Promise<void>;
}

export interface Service {
  name: string;
  start(): Promise<StartedService>;
}

export const UPSTASH_TEST_TOKEN = "upstash-test-token";

export const services: Service[] = [
  {
    name: "upstash (redis-server + REST front)",
    async start() {
      const redis = await startRedis();
      try {
        const front = await startUpstashFront({ redisPort: redis.port, token: UPSTASH_TEST_TOKEN });
        return {
          provide: { upstashUrl: front.url, upstashToken: front.token },
          stop: async () => {
            await front.close();
            await redis.stop();
          },
        };
      } catch (e) {
        await redis.stop();
        throw e;
      }
    },
  },
  {
    name: "fake OpenAI provider",
    async start() {
      const s = await startFakeOpenAI();
      return { provide: { openaiUrl: s.url }, stop: () => s.close() };
    },
  },
  {
    name: "fake Spark provider",
    async start() {
      const s = await startFakeSpark();
      return { provide: { sparkUrl: s.url }, stop: () => s.close() };
    },
  },
  postgresService,
  {
    name: "webhook callback receiver",
    async start() {
      const s = await startFakeReceiver();
      return { provide: { receiverUrl: s.url }, stop: () => s.close() };
    },
  },
];

async function stopAll(started: readonly StartedService[]): Promise<void> {
  const results = await Promise.allSettled([...started].reverse().map((s) => s.stop()));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed.length)
    throw new AggregateError(
      failed.map((f) => f.reason),
      "stopping test services failed",
    );
}

export default async function setup({ provide }: Pick<TestProject, "provide">): Promise<() => Promise<void>> {
  const results = await Promise.allSettled(services.map((s) => s.start()));
  const started = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failures = results.flatMap((r, i) =>
    r.status === "rejected"
      ? [`${services[i]?.name}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`]
      : [],
  );
  if (failures.length) {
    await stopAll(started);
    throw new Error(`test services did not start:\n${failures.join("\n")}`);
  }
  const give = <K extends keyof ProvidedContext>(key: K, value: ProvidedContext[K] | undefined): void => {
    if (value !== undefined) provide(key, value);
  };
  for (const s of started)
    for (const key of Object.keys(s.provide) as (keyof ProvidedContext)[]) give(key, s.provide[key]);
  return () => stopAll(started);
}
