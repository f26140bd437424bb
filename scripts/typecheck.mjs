// Typechecks the sources (strict) and the tests, each with its own tsconfig.
import { spawnSync } from "node:child_process";
let failed = false;
for (const project of ["tsconfig.json", "tsconfig.test.json"]) {
  const r = spawnSync("tsc", ["--noEmit", "-p", project], { stdio: "inherit" });
  console.log(`typecheck ${project}: ${r.status === 0 ? "clean" : "errors"}`);
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
