// How tests look at what code throws: the WorkflowError, its code or message, sync or async.
import { WorkflowError } from "../../src/engine/errors.ts";

/** The WorkflowError `fn` throws, undefined when it returns; any other exception propagates. */
export function caught(fn: () => unknown): WorkflowError | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof WorkflowError) return e;
    throw e;
  }
  return undefined;
}

/** The code of the WorkflowError `fn` throws; undefined when it returns, -1 for any other exception. */
export function codeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof WorkflowError ? e.code : -1;
  }
  return undefined;
}

/** The message of whatever `fn` throws, "" when it returns. */
export function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  return "";
}

/** The code of the WorkflowError a promise (or an async function) rejects with; as `codeOf`. */
export async function codeOfAsync(p: Promise<unknown> | (() => unknown)): Promise<number | undefined> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    return e instanceof WorkflowError ? e.code : -1;
  }
  return undefined;
}
