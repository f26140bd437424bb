// Templates and placeholders (spec §4.7): exactly `{{seg(.seg)*}}` with `seg = [A-Za-z0-9_-]+(\[-?\d+\])*`;
// substituted only when the first segment names one of the node's inputs; everything else stays verbatim.
import { Codes } from "./codes.ts";
import { WorkflowError } from "./errors.ts";

export type PathStep = { key: string } | { index: number };

export type TemplateUnit = { kind: "text"; text: string } | { kind: "var"; raw: string; name: string; path: PathStep[] };

const PLACEHOLDER = /\{\{([A-Za-z0-9_-]+(?:\[-?\d+\])*(?:\.[A-Za-z0-9_-]+(?:\[-?\d+\])*)*)\}\}/g;
const SEGMENT = /^([A-Za-z0-9_-]+)((?:\[-?\d+\])*)$/;
const INDEX = /\[(-?\d+)\]/g;

function parsePath(raw: string): { name: string; path: PathStep[] } {
  const path: PathStep[] = [];
  let name = "";
  raw.split(".").forEach((seg, i) => {
    const m = SEGMENT.exec(seg);
    if (!m) return;
    if (i === 0) name = m[1] as string;
    else path.push({ key: m[1] as string });
    for (const idx of (m[2] ?? "").matchAll(INDEX)) path.push({ index: Number(idx[1]) });
  });
  return { name, path };
}

const cache = new Map<string, TemplateUnit[]>();
const CACHE_LIMIT = 2000;

/** Splits a template at the placeholders whose first segment is an input name; starts and ends with a text unit. */
export function parseTemplate(template: string, inputNames: ReadonlySet<string>): TemplateUnit[] {
  const key = `${[...inputNames].join("\u0000")}\u0001${template}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const units: TemplateUnit[] = [];
  let text = "";
  let last = 0;
  for (const m of template.matchAll(PLACEHOLDER)) {
    const raw = m[1] as string;
    const { name, path } = parsePath(raw);
    if (!inputNames.has(name)) continue;
    text += template.slice(last, m.index);
    units.push({ kind: "text", text });
    units.push({ kind: "var", raw, name, path });
    text = "";
    last = (m.index ?? 0) + m[0].length;
  }
  units.push({ kind: "text", text: text + template.slice(last) });
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, units);
  return units;
}

/** Walks `.key` and `[i]` steps; an unreadable step means the placeholder renders as its own inner text. */
export function readPath(value: unknown, path: readonly PathStep[], raw: string): { found: true; value: unknown } | { found: false } {
  let current = value;
  for (const step of path) {
    if ("key" in step) {
      if (current === null || typeof current !== "object" || Array.isArray(current)) return { found: false };
      const v = (current as Record<string, unknown>)[step.key];
      current = v === undefined ? null : v;
    } else {
      if (!Array.isArray(current)) return { found: false };
      const i = step.index < 0 ? current.length + step.index : step.index;
      if (i < 0 || i >= current.length) throw WorkflowError.of(Codes.VARIABLE_PARSE_ERROR, raw);
      current = current[i];
    }
  }
  return { found: true, value: current };
}

/** Python json.dumps spacing (", " and ": "), non-ASCII kept raw. */
export function pythonJson(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(", ")}]`;
  if (typeof value === "object") {
    return `{${Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${JSON.stringify(k)}: ${pythonJson(v)}`)
      .join(", ")}}`;
  }
  return JSON.stringify(String(value));
}

function isEmpty(v: unknown): boolean {
  if (v === null || v === undefined || v === "") return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === "object") return Object.keys(v).length === 0;
  return false;
}

/** Strings as-is, everything else as JSON; in prompt mode an empty value renders as one space (spec §4.7 [new]). */
export function renderValue(value: unknown, mode: "json" | "prompt"): string {
  if (mode === "prompt" && isEmpty(value)) return " ";
  return typeof value === "string" ? value : pythonJson(value);
}

export function renderTemplate(template: string, inputs: Record<string, unknown>, mode: "json" | "prompt" = "json"): string {
  if (!template.includes("{{")) return template;
  const units = parseTemplate(template, new Set(Object.keys(inputs)));
  let out = "";
  for (const u of units) {
    if (u.kind === "text") {
      out += u.text;
      continue;
    }
    const r = readPath(inputs[u.name], u.path, u.raw);
    out += r.found ? renderValue(r.value, mode) : u.raw;
  }
  return out;
}

/** Compact JSON, non-ASCII raw (the end node's variable-mode answer, e.g. {"joined":""}). */
export function compactJson(value: unknown): string {
  return JSON.stringify(value) ?? "null";
}
