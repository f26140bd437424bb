// Files (spec §8): upload rules and the validation of file-typed start parameters before a run.
import { Codes, WorkflowError } from "../engine/index.ts";
import type { Env } from "./env.ts";

const DEFAULT_TYPES = "pdf,png,jpg,jpeg,bmp,doc,docx,ppt,pptx,xls,xlsx,csv,txt,wav,mp3,flac,m4a,aac,ogg,wma,midi";
const DEFAULT_CATEGORIES: Record<string, string[]> = {
  image: ["jpg", "jpeg", "png", "bmp"],
  pdf: ["pdf"],
  doc: ["docx", "doc"],
  ppt: ["ppt", "pptx"],
  excel: ["xls", "xlsx", "csv"],
  txt: ["txt"],
  audio: ["wav", "mp3", "flac", "m4a", "aac", "ogg", "wma", "midi"],
};
const URL_PATTERN =
  /\/([^/]+)\.(pdf|png|jpg|jpeg|bmp|doc|docx|ppt|pptx|xls|xlsx|csv|txt|wav|mp3|flac|m4a|aac|ogg|wma|midi)/i;

export interface FileConfig {
  /** SUPPORT_FILE_TYPE: the upload whitelist, lower-case extensions */
  types: Set<string>;
  /** FILE_SIZE_LIMIT in bytes */
  sizeLimit: number;
  /** ALLOWED_FILE_TYPE: category → extensions, for file-typed start parameters */
  categories: Record<string, string[]>;
}

/** The spec §8.3 defaults, for callers without an Env (tests, tools). */
export const DEFAULT_FILE_CONFIG: FileConfig = {
  types: new Set(DEFAULT_TYPES.split(",")),
  sizeLimit: 52428800,
  categories: DEFAULT_CATEGORIES,
};

export function fileConfig(env: Pick<Env, "SUPPORT_FILE_TYPE" | "FILE_SIZE_LIMIT" | "ALLOWED_FILE_TYPE">): FileConfig {
  const limit = Number(env.FILE_SIZE_LIMIT);
  return {
    types: new Set(
      (env.SUPPORT_FILE_TYPE || DEFAULT_TYPES)
        .split(",")
        .map((t) => t.trim().toLowerCase())
        .filter(Boolean),
    ),
    sizeLimit: env.FILE_SIZE_LIMIT && Number.isFinite(limit) && limit > 0 ? limit : DEFAULT_FILE_CONFIG.sizeLimit,
    categories: parseCategories(env.ALLOWED_FILE_TYPE) ?? DEFAULT_CATEGORIES,
  };
}

/** ALLOWED_FILE_TYPE as JSON `{category: [ext, …]}`; anything else falls back to the defaults. */
function parseCategories(text: string | undefined): Record<string, string[]> | undefined {
  if (!text) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const out: Record<string, string[]> = {};
  for (const [category, exts] of Object.entries(value)) {
    if (!Array.isArray(exts)) return undefined;
    out[category] = exts.map((e) => String(e).toLowerCase());
  }
  return out;
}

const MIME: Record<string, string> = {
  pdf: "application/pdf",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  bmp: "image/bmp",
  doc: "application/msword",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  ppt: "application/vnd.ms-powerpoint",
  pptx: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  xls: "application/vnd.ms-excel",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  csv: "text/csv",
  txt: "text/plain; charset=utf-8",
  wav: "audio/wav",
  mp3: "audio/mpeg",
  flac: "audio/flac",
  m4a: "audio/mp4",
  aac: "audio/aac",
  ogg: "audio/ogg",
  wma: "audio/x-ms-wma",
  midi: "audio/midi",
};

/**
 * The content type a stored file is served with: the uploader's, unless it is missing or generic (browsers and
 * OkHttp often send application/octet-stream), then the one the extension implies.
 */
export function contentTypeFor(ext: string, declared: string): string {
  if (declared && declared !== "application/octet-stream") return declared;
  return MIME[ext] ?? "application/octet-stream";
}

/** spec §8.1: checks one upload; returns its lower-cased extension. */
export function checkUpload(cfg: FileConfig, name: string, size: number): string {
  if (!name) throw WorkflowError.of(Codes.FILE_INVALID_ERROR, "File name cannot be empty");
  const dot = name.lastIndexOf(".");
  const ext = dot < 0 ? "" : name.slice(dot + 1).toLowerCase();
  if (!cfg.types.has(ext)) throw WorkflowError.of(Codes.FILE_INVALID_ERROR, `Unsupported file type: ${ext}`);
  if (size > cfg.sizeLimit) throw WorkflowError.of(Codes.FILE_INVALID_ERROR, "File size exceeds limit");
  return ext;
}

export interface StartFileOutput {
  name: string;
  required?: boolean;
  schema?: { type?: string };
  fileType?: string | null;
  allowedFileType?: string[] | null;
}

/**
 * spec §8.3: every file variable of the start node, checked before the run (debug and open). `head` performs the
 * HEAD request (the caller passes its guarded fetch). Decision: the cheap checks on the URL itself (the file-name
 * pattern and the category's extensions, 23601) come before the HEAD (23603 / size 23601), so an obviously wrong
 * link costs no network round trip; the original HEADs first, which differs only when a link is both unreachable and
 * of the wrong kind.
 */
export async function validateFileParameters(
  outputs: readonly StartFileOutput[],
  parameters: Record<string, unknown>,
  head: (url: string) => Promise<Response>,
  cfg: FileConfig = DEFAULT_FILE_CONFIG,
): Promise<void> {
  for (const o of outputs) {
    if (o.fileType === undefined || o.fileType === null) continue;
    if (o.fileType !== "file")
      throw WorkflowError.of(Codes.FILE_VARIABLE_PROTOCOL_ERROR, "Error: fileType field is incorrect");
    const value = parameters[o.name];
    const empty = value === undefined || value === null || value === "" || (Array.isArray(value) && value.length === 0);
    if (value === undefined && o.required)
      throw WorkflowError.of(Codes.FILE_VARIABLE_PROTOCOL_ERROR, `Error: ${o.name} is a required parameter`);
    if (empty) continue;
    const category = o.allowedFileType?.[0] ?? "";
    const urls = o.schema?.type === "string" ? [value] : o.schema?.type === "array" ? value : undefined;
    if (!Array.isArray(urls))
      throw WorkflowError.of(Codes.FILE_VARIABLE_PROTOCOL_ERROR, `Error: ${o.name} must be a URL or a list of URLs`);
    for (const url of urls) await checkFileUrl(String(url), category, head, cfg);
  }
}

async function checkFileUrl(
  url: string,
  category: string,
  head: (url: string) => Promise<Response>,
  cfg: FileConfig,
): Promise<void> {
  const m = URL_PATTERN.exec(url);
  if (!m) throw WorkflowError.of(Codes.FILE_INVALID_ERROR, "Error: Unsupported file link");
  const ext = (m[2] ?? "").toLowerCase();
  const allowed = cfg.categories[category];
  if (allowed && !allowed.includes(ext))
    throw WorkflowError.of(Codes.FILE_INVALID_ERROR, "Error: Unsupported file extension");
  let res: Response;
  try {
    res = await head(url);
  } catch {
    throw WorkflowError.of(Codes.FILE_INVALID_TYPE_ERROR, url);
  }
  const length = res.headers.get("content-length");
  if (!res.ok || length === null) throw WorkflowError.of(Codes.FILE_INVALID_TYPE_ERROR, url);
  if (Number(length) > cfg.sizeLimit)
    throw WorkflowError.of(Codes.FILE_INVALID_ERROR, "Error: File size exceeds limit");
}
