// Per-run output limits (issue 13). Every frame of a run is stored as one row of the run object's SQLite storage,
// and Durable Object SQLite refuses a string or row over 2 MB (SQLITE_TOOBIG); a frame carries a node's inputs and
// outputs (an end node's answer up to three times: inputs, outputs, content). The run object checks each frame
// against these limits before storing it and fails the run with a code that says which limit was passed and by
// how much, instead of letting storage fail with its own text.
import { Codes, WorkflowError, type ErrorData } from "../engine/index.ts";

export const DEFAULT_MAX_FRAME_BYTES = 1 << 20;
export const DEFAULT_MAX_RUN_OUTPUT_BYTES = 8 << 20;
/** the highest MAX_FRAME_BYTES that still fits a frame row (2 MB) with its other columns */
export const FRAME_BYTES_CEILING = 2_000_000 - 16_384;
/** the highest MAX_RUN_OUTPUT_BYTES: a run's frames are replayed and aggregated in memory (128 MB per isolate) */
export const RUN_OUTPUT_BYTES_CEILING = 64 << 20;

export interface OutputLimits {
  /** the UTF-8 size of one frame's JSON */
  frameBytes: number;
  /** the UTF-8 size of all of a run's frames together */
  runBytes: number;
}

export interface OutputLimitVars {
  MAX_FRAME_BYTES?: string;
  MAX_RUN_OUTPUT_BYTES?: string;
}

function setting(value: string | undefined, fallback: number, ceiling: number): number {
  const n = value === undefined || value.trim() === "" ? NaN : Number(value);
  if (!Number.isFinite(n) || n < 1) return fallback;
  return Math.min(Math.floor(n), ceiling);
}

export function outputLimits(env: OutputLimitVars): OutputLimits {
  return {
    frameBytes: setting(env.MAX_FRAME_BYTES, DEFAULT_MAX_FRAME_BYTES, FRAME_BYTES_CEILING),
    runBytes: setting(env.MAX_RUN_OUTPUT_BYTES, DEFAULT_MAX_RUN_OUTPUT_BYTES, RUN_OUTPUT_BYTES_CEILING),
  };
}

/** The UTF-8 length of a string without encoding it (JSON text has no lone surrogates). */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff) {
      // a surrogate pair: two UTF-16 units, four bytes
      n += 2;
      i++;
    } else n += 2;
  }
  return n;
}

/**
 * Checks one frame (its JSON text) against the limits, given the bytes the run's frames already take. Returns its
 * size when it fits, else the error that ends the run.
 */
export function checkFrame(
  json: string,
  nodeId: string | undefined,
  runBytesSoFar: number,
  limits: OutputLimits,
): { bytes: number } | { error: ErrorData } {
  const bytes = utf8Length(json);
  const what = nodeId ? `a frame of ${nodeId}` : "a frame";
  if (bytes > limits.frameBytes) {
    return {
      error: WorkflowError.of(
        Codes.RUN_OUTPUT_TOO_LARGE_ERROR,
        `${what} is ${bytes} bytes, over MAX_FRAME_BYTES ${limits.frameBytes}`,
      ).toData(),
    };
  }
  if (runBytesSoFar + bytes > limits.runBytes) {
    return {
      error: WorkflowError.of(
        Codes.RUN_OUTPUT_TOO_LARGE_ERROR,
        `the run's frames reach ${runBytesSoFar + bytes} bytes with ${what}, over MAX_RUN_OUTPUT_BYTES ${limits.runBytes}`,
      ).toData(),
    };
  }
  return { bytes };
}
