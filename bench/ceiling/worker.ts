// The platform ceiling for the HTTP benchmarks (issue 5 (a), issue 6): a bare Hono worker that creates one Durable
// Object per request and does one storage write in it. The object is addressed by its id without the name, as this
// runtime addresses its run objects (src/worker/owner.ts `runObject`): under `wrangler dev` a named object also has
// its name written into its SQLite by miniflare, work the runtime no longer pays, so the ceiling does not either.
import { DurableObject } from "cloudflare:workers";
import { Hono } from "hono";

export class Ceiling extends DurableObject {
  async write(): Promise<number> {
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT)");
    this.ctx.storage.sql.exec("INSERT INTO t (v) VALUES (?)", "x");
    return 1;
  }
}

interface Env {
  CEIL: DurableObjectNamespace<Ceiling>;
}

const app = new Hono<{ Bindings: Env }>();
app.post("*", async (c) => {
  const stub = c.env.CEIL.get(c.env.CEIL.idFromString(c.env.CEIL.idFromName(crypto.randomUUID()).toString()));
  await stub.write();
  return c.json({ ok: true });
});
export default app;
