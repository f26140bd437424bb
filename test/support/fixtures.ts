// Real Astron fixtures (examples/ and test/fixtures/astron/, vendored: see NOTICE), loadable on Node, Deno and
// workerd alike.
import { fixtures } from "./fixtures.generated.ts";

export function loadFixture(name: string): unknown {
  const f = fixtures[name];
  if (f === undefined) throw new Error(`no fixture ${name} (run scripts/gen-fixtures.mjs)`);
  return structuredClone(f);
}
