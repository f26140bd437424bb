// Two projects, named by where they run (STYLE §19): `engine` on Node, `workers` inside workerd through
// @cloudflare/vitest-plugin (real Durable Objects, D1 and R2 in miniflare, configured from wrangler.toml). The engine
// suite runs in both, and on Deno through scripts/test.mjs. Fake servers start in a Node global setup and reach
// workerd over loopback (miniflare's outbound network allows private addresses; ALLOW_PRIVATE_FETCH lets the
// worker's own outbound guard through). No `retry:` here: a flaky test is a bug to fix, not to hide.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// owned by the fake-server work; the config must also work before (or without) it
const globalSetup = existsSync("test/support/global-setup.ts") ? ["test/support/global-setup.ts"] : [];

const engineSuite = "test/engine/**/*.test.ts";

export default defineConfig(async () => {
  // the console's static files, which wrangler.toml's [assets] serves (wrangler dev in the Node suites, the workers
  // project's config): built before anything reads wrangler.toml, so a fresh clone runs `vitest` directly
  execFileSync(process.execPath, ["scripts/build-console.mjs", "--quiet"], { stdio: "inherit" });
  // git keeps no empty folders: a clone without migrations applies none
  const migrations = existsSync("migrations") ? await readD1Migrations("./migrations") : [];
  return {
    test: {
      // a suite that does not exist yet is not a failure; scripts/test.mjs counts what ran
      passWithNoTests: true,
      projects: [
        {
          test: {
            name: "engine",
            environment: "node",
            include: [
              engineSuite,
              "test/plugins/**/*.test.ts",
              "test/architecture.test.ts",
              "test/node/**/*.test.ts",
              "test/browser/**/*.test.ts",
              "test/support-tests/**/*.test.ts",
              "test/smoke/runner.test.ts",
            ],
            globalSetup,
          },
        },
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: {
                  TEST_MIGRATIONS: migrations,
                  ALLOW_PRIVATE_FETCH: "true",
                  RUNTIME_ENV: "test",
                  // webhook callbacks retry within the test's patience
                  HOOK_CALLBACK_BASE_DELAY_MS: "60",
                  HOOK_CALLBACK_MAX_ATTEMPTS: "4",
                },
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/smoke/**/*.test.ts", "test/worker/**/*.test.ts", "test/durable/**/*.test.ts", engineSuite],
            setupFiles: ["test/support/apply-migrations.ts"],
            globalSetup,
          },
        },
      ],
    },
  };
});
