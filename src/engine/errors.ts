import { CodeText, Codes } from "./codes.ts";
import { randomHex } from "./random.ts";

/** The plain-data form of an error: what crosses Durable Object RPC and goes into frames and envelopes. */
export interface ErrorData {
  code: number;
  message: string;
}

/**
 * The one error type of the runtime (STYLE §4). `code` is a number of spec §1.6; `message` is the spec's text,
 * or `text(detail)` when the raiser supplied a detail, as the original formats it.
 */
export class WorkflowError extends Error {
  readonly code: number;

  constructor(code: number, message?: string) {
    super(message ?? CodeText[code] ?? `Error ${code}`);
    this.name = "WorkflowError";
    this.code = code;
  }

  /** `WorkflowError.of(22101, "unknown node type: x")` → message `Workflow engine node protocol validation failed(unknown node type: x)`. */
  static of(code: number, detail?: string): WorkflowError {
    const text = CodeText[code] ?? `Error ${code}`;
    return new WorkflowError(code, detail === undefined || detail === "" ? text : `${text}(${detail})`);
  }

  static fromData(data: ErrorData): WorkflowError {
    return new WorkflowError(data.code, data.message);
  }

  toData(): ErrorData {
    return { code: this.code, message: this.message };
  }
}

export function isWorkflowError(e: unknown): e is WorkflowError {
  return e instanceof WorkflowError;
}

/**
 * Turns anything thrown into a WorkflowError. Coded errors keep their text. Anything else (a TypeError, a storage or
 * platform exception) becomes `fallback` with a short reference instead of its text, and the text goes to the log
 * under that reference: spec §6.7 wraps the exception text into 22302, but issue 13 keeps internal text (stack
 * depths, SQLite limits, the platform's own error references) away from frames and clients.
 */
export function toWorkflowError(e: unknown, fallback: number = Codes.NODE_RUN_ERROR): WorkflowError {
  if (e instanceof WorkflowError) return e;
  if (isErrorData(e)) return WorkflowError.fromData(e);
  return WorkflowError.of(fallback, clientText(e));
}

/**
 * The text of anything thrown that may go into a frame or an answer: a coded error's message as it is; anything
 * else (a platform, storage or parser exception) becomes `internal error, reference <ref>`, its own text logged under
 * that reference. Plugins wrap failures with this instead of `e.message`.
 */
export function clientText(e: unknown): string {
  if (e instanceof WorkflowError || isErrorData(e)) return e.message;
  const ref = errorRef();
  const text = e instanceof Error ? `${e.name}: ${e.message}` : typeof e === "string" ? e : "unknown error";
  console.log(`[error ${ref}] ${text.slice(0, 2000)}`);
  return `internal error, reference ${ref}`;
}

/** 8 hex digits that tie a client's message to the log line with the real text. */
function errorRef(): string {
  return randomHex(4);
}

function isErrorData(e: unknown): e is ErrorData {
  return (
    typeof e === "object" &&
    e !== null &&
    typeof (e as { code?: unknown }).code === "number" &&
    typeof (e as { message?: unknown }).message === "string" &&
    !(e instanceof Error)
  );
}
