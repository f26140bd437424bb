// The one place the worker validates a DSL (spec §4.10): `/protocol/add`, `/protocol/update`, `/protocol/build` and
// `/v1/publish` all come here, so what "valid" means is decided by the engine's compile and nowhere else.
import { compile } from "../engine/compile.ts";
import { registry } from "../plugins/index.ts";

/** Throws the engine's WorkflowError (22100 bad envelope, 22101 bad node, 22300 bad graph, 20601…) for a bad DSL. */
export function validateDsl(data: unknown): void {
  compile(data, registry);
}
