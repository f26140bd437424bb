import { Hono } from "hono";

export { RunObject } from "../durable/run-object.ts";

const app = new Hono();
app.get("/health", (c) => c.json({ ok: true }));

export default app;
