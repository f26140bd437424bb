// Typechecks the sources (strict, tsconfig.json) and the tests, support code and benchmarks (tsconfig.test.json:
// workers, vitest-plugin and Node types) and the browser console (console/tsconfig.json: DOM types, Preact's JSX).
// All must be clean.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const env = { ...process.env, PATH: `${join(root, "node_modules", ".bin")}:${process.env.PATH ?? ""}` };
let failed = false;
for (const project of ["tsconfig.json", "tsconfig.test.json", "console/tsconfig.json"]) {
  const r = spawnSync("tsc", ["--noEmit", "-p", project], { cwd: root, env, stdio: "inherit" });
  console.log(`typecheck ${project}: ${r.status === 0 ? "clean" : "errors"}`);
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
