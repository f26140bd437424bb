// The PostgreSQL of the database node's workerd tests, as a global-setup Service (test/support/global-setup.ts):
// a real server on loopback whose URL (with its password) reaches workerd as `inject("postgresUrl")`.
import { startPostgres } from "./postgres-server.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** a real PostgreSQL on loopback: `postgres://astron:<password>@127.0.0.1:<port>/postgres` */
    postgresUrl: string;
  }
}

export const postgresService = {
  name: "PostgreSQL (database node)",
  async start(): Promise<{ provide: { postgresUrl: string }; stop(): Promise<void> }> {
    const pg = await startPostgres();
    return { provide: { postgresUrl: pg.url }, stop: () => pg.stop() };
  },
};
