// Two projects, named by where they run (STYLE §19): `engine` on Node, `workers` inside workerd through
// @cloudflare/vitest-plugin (real Durable Objects, D1 and R2 in miniflare). The engine suite runs in both, and on
// Deno through scripts/test.mjs. Fake servers start in a Node global setup and reach workerd over loopback.
import { existsSync } from "node:fs";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

const globalSetup = existsSync("test/support/global-setup.ts") ? ["test/support/global-setup.ts"] : [];

export default defineConfig(async () => {
  const migrations = await readD1Migrations("./migrations");
  return {
    test: {
      projects: [
        {
          test: {
            name: "engine",
            environment: "node",
            include: ["test/engine/**/*.test.ts", "test/plugins/**/*.test.ts", "test/architecture.test.ts", "test/node/**/*.test.ts"],
            globalSetup,
          },
        },
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: { TEST_MIGRATIONS: migrations, ALLOW_PRIVATE_FETCH: "true", RUNTIME_ENV: "test" },
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/worker/**/*.test.ts", "test/durable/**/*.test.ts", "test/engine/**/*.test.ts"],
            setupFiles: ["test/support/apply-migrations.ts"],
            globalSetup,
          },
        },
      ],
    },
  };
});
