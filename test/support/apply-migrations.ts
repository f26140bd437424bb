// Applies the D1 migrations before the workers suites (the config reads them in Node and binds them).
import { applyD1Migrations, env } from "cloudflare:test";

interface MigrationEnv {
  DB: D1Database;
  TEST_MIGRATIONS: Parameters<typeof applyD1Migrations>[1];
}

const e = env as unknown as MigrationEnv;
await applyD1Migrations(e.DB, e.TEST_MIGRATIONS);
