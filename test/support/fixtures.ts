// Real Astron fixtures (../shared/fixtures/astron), loadable on Node, Deno and workerd alike.
import { fixtures } from "./fixtures.generated.ts";

export function loadFixture(name: string): unknown {
  const f = fixtures[name];
  if (f === undefined) throw new Error(`no fixture ${name} (run scripts/gen-fixtures.mjs)`);
  return structuredClone(f);
}
