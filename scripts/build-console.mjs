// Builds the browser console (issue 16): bundles console/src with esbuild into console/dist, the folder that
// wrangler.toml's [assets] serves, and checks the size budget (everything served, gzipped, at most 150 KiB).
// console/dist/index.html is the single-page application's fallback (wrangler.toml: not_found_handling), the
// script and stylesheet live under console/dist/console/ so that they are served at /console/…
// Fast (well under a second), so `npm start`, `npm test`, `npm run deploy` and the vitest config run it every time.
import { build } from "esbuild";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "console", "src");
const out = join(root, "console", "dist");
export const BUDGET_BYTES = 150 * 1024;

// a clean folder, keeping the committed .assetsignore (it lets wrangler start before the first build)
for (const name of readdirSync(out, { withFileTypes: true }))
  if (name.name !== ".assetsignore") rmSync(join(out, name.name), { recursive: true, force: true });
mkdirSync(join(out, "console"), { recursive: true });

const built = await build({
  metafile: true,
  entryPoints: { app: join(src, "main.tsx") },
  outdir: join(out, "console"),
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "none",
  logLevel: "warning",
  define: { "process.env.NODE_ENV": '"production"' },
});
writeFileSync(join(out, "index.html"), readFileSync(join(src, "index.html")));

// the console's layer rule: its own files, Preact and dagre — never the runtime's sources (it talks to them over HTTP)
const allowed = [/^console\/src\//, /(^|\/)node_modules\/(preact|@dagrejs\/(dagre|graphlib))\//];
const strays = Object.keys(built.metafile.inputs).filter((f) => !allowed.some((a) => a.test(f)));
if (strays.length) {
  console.error(`console: imports outside console/src, preact and @dagrejs: ${strays.join(", ")}`);
  process.exit(1);
}

function files(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : n === ".assetsignore" ? [] : [p];
  });
}
let total = 0;
const lines = [];
for (const f of files(out)) {
  const gz = gzipSync(readFileSync(f), { level: 9 }).length;
  total += gz;
  lines.push(`${relative(out, f)} ${(gz / 1024).toFixed(1)} KiB`);
}
const summary = `console: ${lines.join(", ")}; ${(total / 1024).toFixed(1)} KiB gzipped of ${BUDGET_BYTES / 1024} KiB`;
if (total > BUDGET_BYTES) {
  console.error(`${summary} — over the budget`);
  process.exit(1);
}
if (!process.argv.includes("--quiet")) console.log(summary);
