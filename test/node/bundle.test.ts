// `wrangler deploy --dry-run` builds the worker, and the bundle stays under 1 MiB gzipped (issue 5).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";

describe("deploy bundle", () => {
  it("builds with wrangler deploy --dry-run and stays under 1 MiB gzipped", () => {
    const out = mkdtempSync(join(tmpdir(), "bundle-"));
    try {
      execFileSync("wrangler", ["deploy", "--dry-run", "--outdir", out], {
        cwd: join(import.meta.dirname, "..", ".."),
        env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
        stdio: "pipe",
      });
      const files = readdirSync(out).filter((f) => f.endsWith(".js"));
      expect(files.length).toBeGreaterThan(0);
      const gz = files.reduce((n, f) => n + gzipSync(readFileSync(join(out, f))).length, 0);
      const raw = files.reduce((n, f) => n + statSync(join(out, f)).size, 0);
      console.log(`bundle: ${(raw / 1024).toFixed(1)} KiB, ${(gz / 1024).toFixed(1)} KiB gzipped`);
      expect(gz).toBeLessThan(1024 * 1024);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);
});
