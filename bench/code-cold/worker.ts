// bench/code-cold-workerd.mjs serves this worker in a fresh workerd process per trial: one request times loading
// the JavaScript sandbox (the QuickJS WebAssembly instantiated, its glue set up), its first guest call (a fresh
// runtime and context, the driver, the guest, as a code node's call) and a second such call. workerd's clock moves
// in whole milliseconds.
import { createJsSandbox, preloadJsSandbox } from "../../src/durable/js-sandbox.ts";

const LIMITS = { timeoutMs: 1000, memoryBytes: 1 << 20 };

export default {
  async fetch(req: Request): Promise<Response> {
    if (new URL(req.url).pathname === "/health") return new Response("ok");
    const sandbox = createJsSandbox();
    const limits = { ...LIMITS, signal: new AbortController().signal };
    const t0 = performance.now();
    await preloadJsSandbox();
    const t1 = performance.now();
    await sandbox.runJs("function main(a) { return a; }", { x: 1 }, limits);
    const t2 = performance.now();
    await sandbox.runJs("function main(a) { return { ...a, y: 2 }; }", { x: 1 }, limits);
    const t3 = performance.now();
    return Response.json({ load_ms: t1 - t0, first_call_ms: t2 - t1, second_call_ms: t3 - t2 });
  },
};
