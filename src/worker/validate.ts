// The one place the worker validates a DSL (spec §4.10): `/protocol/add`, `/protocol/update`, `/protocol/build` and
// `/v1/publish` all come here, so what "valid" means is decided by the engine's compile and nowhere else.
import { compile } from "../engine/compile.ts";
import { DslShapeError } from "../engine/dsl.ts";
import { WorkflowError } from "../engine/errors.ts";
import { registry } from "../plugins/index.ts";

/**
 * Throws the engine's WorkflowError (22100 bad envelope, 22101 bad node, 22300 bad graph, 20601…) for a bad DSL.
 * With `shapeCode`, JSON that does not match the node/edge shapes answers with that code instead (see `asShapeError`).
 */
export function validateDsl(data: unknown, shapeCode?: number): void {
  try {
    compile(data, registry);
  } catch (e) {
    throw shapeCode === undefined ? e : asShapeError(e, shapeCode);
  }
}

/**
 * spec §4.10: a DSL whose JSON does not match the shapes (no `nodeMeta`, an unknown `value.type` or `schema.type`, an
 * id without its `type::` prefix, a null `sourceHandle`) is not a coded error in the original, so it surfaces as the
 * route's own code — 20102 add, 20104 update, 20101 build, 20100 runs — with the validator's text. Every other
 * error keeps its code (an unknown node type or a bad nodeParam stays 22101).
 */
export function asShapeError(e: unknown, code: number): unknown {
  return e instanceof DslShapeError ? WorkflowError.of(code, e.detail) : e;
}
