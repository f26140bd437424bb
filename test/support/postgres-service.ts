// The PostgreSQL of the database node's workerd tests, as a global-setup Service (test/support/global-setup.ts):
// a real server on loopback whose URL (with its password) reaches workerd as `inject("postgresUrl")`.
import { startPostgres } from "./postgres-server.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** a real PostgreSQL on loopback: `postgres://astron:<password>@127.0.0.1:<port>/postgres` */
    postgresUrl: string;
    /** runs of the workerd pool test (test/worker/database.test.ts): DATABASE_POOL_RUNS, default 200 */
    databasePoolRuns: number;
  }
}

export const postgresService = {
  name: "PostgreSQL (database node)",
  async start(): Promise<{ provide: { postgresUrl: string; databasePoolRuns: number }; stop(): Promise<void> }> {
    const pg = await startPostgres();
    // the suite runs 200; bench/database-pool.bench.mjs asks for 1000 (workerd tests see no process.env)
    const runs = Number(process.env.DATABASE_POOL_RUNS);
    const databasePoolRuns = Number.isInteger(runs) && runs > 0 ? Math.min(runs, 5000) : 200;
    return { provide: { postgresUrl: pg.url, databasePoolRuns }, stop: () => pg.stop() };
  },
};
