// Temporary Node-only fixture loader (the cross-runtime one replaces it).
import { readFileSync } from "node:fs";
export function loadFixture(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`../../../shared/fixtures/astron/${name}`, import.meta.url), "utf8"));
}
