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
const URL_PATTERN = /\/([^/]+)\.(pdf|png|jpg|jpeg|bmp|doc|docx|ppt|pptx|xls|xlsx|csv|txt|wav|mp3|flac|m4a|aac|ogg|wma|midi)/i;

export interface FileConfig {
  types: Set<string>;
  sizeLimit: number;
  categories: Record<string, string[]>;
}

export function fileConfig(env: Env): FileConfig {
  let categories = DEFAULT_CATEGORIES;
  if (env.ALLOWED_FILE_TYPE) {
    try {
      categories = JSON.parse(env.ALLOWED_FILE_TYPE) as Record<string, string[]>;
    } catch {
      categories = DEFAULT_CATEGORIES;
    }
  }
  return {
    types: new Set((env.SUPPORT_FILE_TYPE ?? DEFAULT_TYPES).split(",").map((t) => t.trim().toLowerCase())),
    sizeLimit: Number(env.FILE_SIZE_LIMIT ?? 52428800),
    categories,
  };
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

/** spec §8.3: every file variable of the start node, checked before the run (HEAD through `head`). */
export async function validateFileParameters(
  outputs: readonly StartFileOutput[],
  parameters: Record<string, unknown>,
  head: (url: string) => Promise<Response>,
  cfg: FileConfig,
): Promise<void> {
  for (const o of outputs) {
    if (o.fileType === undefined || o.fileType === null) continue;
    if (o.fileType !== "file") throw WorkflowError.of(Codes.FILE_VARIABLE_PROTOCOL_ERROR, "Error: fileType field is incorrect");
    const value = parameters[o.name];
    const empty = value === undefined || value === null || value === "" || (Array.isArray(value) && value.length === 0);
    if (value === undefined && o.required) throw WorkflowError.of(Codes.FILE_VARIABLE_PROTOCOL_ERROR, `Error: ${o.name} is a required parameter`);
    if (empty) continue;
    const category = o.allowedFileType?.[0] ?? "";
    const urls = o.schema?.type === "string" ? [value] : o.schema?.type === "array" ? value : undefined;
    if (!Array.isArray(urls)) throw WorkflowError.of(Codes.FILE_VARIABLE_PROTOCOL_ERROR, `Error: ${o.name} must be a URL or a list of URLs`);
    for (const url of urls) await checkFileUrl(String(url), category, head, cfg);
  }
}

async function checkFileUrl(url: string, category: string, head: (url: string) => Promise<Response>, cfg: FileConfig): Promise<void> {
  const m = URL_PATTERN.exec(url);
  if (!m) throw WorkflowError.of(Codes.FILE_INVALID_ERROR, "Error: Unsupported file link");
  const ext = (m[2] ?? "").toLowerCase();
  const allowed = cfg.categories[category];
  if (allowed && !allowed.includes(ext)) throw WorkflowError.of(Codes.FILE_INVALID_ERROR, "Error: Unsupported file extension");
  let res: Response;
  try {
    res = await head(url);
  } catch {
    throw WorkflowError.of(Codes.FILE_INVALID_TYPE_ERROR, url);
  }
  const length = res.headers.get("content-length");
  if (!res.ok || length === null) throw WorkflowError.of(Codes.FILE_INVALID_TYPE_ERROR, url);
  if (Number(length) > cfg.sizeLimit) throw WorkflowError.of(Codes.FILE_INVALID_ERROR, "Error: File size exceeds limit");
}
