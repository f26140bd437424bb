// Issue 13 item 8: a code node whose result is nested deeper than the host's own stack once answered with the
// engine's "Maximum call stack size exceeded". The host's text now stays in the log; the author gets a coded message
// that says what to change. (Its own file: the first guest of a fresh isolate reproduces the overflow reliably.)
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";

async function run(code: string): Promise<{ code: number; message: string }> {
  const res = await SELF.fetch("http://astron.test/workflow/v1/code/run", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Consumer-Username": "d1590f30" },
    body: JSON.stringify({ code, variables: [], app_id: "d1590f30", uid: "u", codeLanguage: "javascript" }),
  });
  return (await res.json()) as { code: number; message: string };
}

describe("host failures of the code sandbox", () => {
  it("answers a result nested past the host's stack with 21600 and a message for the author, not the engine's text", async () => {
    for (const depth of [20_000, 100_000]) {
      const r = await run(`function main(){ let a=[]; for(let i=0;i<${depth};i++) a=[a]; return {a}; }`);
      expect(r.code, String(depth)).toBe(21600);
      expect(r.message).toContain("nested too deeply");
      expect(r.message).not.toMatch(/Maximum call stack|RangeError/);
    }
  });
});
