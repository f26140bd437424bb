// Templates and placeholders (spec §4.7): exactly `{{seg(.seg)*}}` with `seg = [A-Za-z0-9_-]+(\[-?\d+\])*`;
// substituted only when the first segment names one of the node's inputs; everything else stays verbatim.
import { Codes } from "./codes.ts";
import { WorkflowError } from "./errors.ts";

export type PathStep = { key: string } | { index: number };

export type TemplateUnit =
  { kind: "text"; text: string } | { kind: "var"; raw: string; name: string; path: PathStep[] };

export type ReadResult = { found: true; value: unknown } | { found: false };

// Module constants: compiled once. `matchAll` copies the global regex, so concurrent parses do not share lastIndex.
const PLACEHOLDER = /\{\{([A-Za-z0-9_-]+(?:\[-?\d+\])*(?:\.[A-Za-z0-9_-]+(?:\[-?\d+\])*)*)\}\}/g;
const SEGMENT = /^([A-Za-z0-9_-]+)((?:\[-?\d+\])*)$/;
const INDEX = /\[(-?\d+)\]/g;

/** `a[1].b[-1][0]` → name "a", path [{index:1},{key:"b"},{index:-1},{index:0}]. `raw` already matched PLACEHOLDER. */
function parsePath(raw: string): { name: string; path: PathStep[] } {
  const path: PathStep[] = [];
  let name = "";
  const segments = raw.split(".");
  for (let i = 0; i < segments.length; i++) {
    const m = SEGMENT.exec(segments[i] as string);
    if (!m) continue;
    const key = m[1] as string;
    if (i === 0) name = key;
    else path.push(Object.freeze({ key }));
    for (const idx of (m[2] ?? "").matchAll(INDEX)) path.push(Object.freeze({ index: Number(idx[1]) }));
  }
  return { name, path: Object.freeze(path) as PathStep[] };
}

// Output nodes parse their template on every run: parses are cached (bounded, oldest entry evicted first). Cached
// units are frozen because every caller shares them.
const cache = new Map<string, TemplateUnit[]>();
const CACHE_LIMIT = 2000;

function cacheKey(template: string, inputNames: ReadonlySet<string>): string {
  let key = "";
  for (const n of inputNames) key += `${n}\u0000`;
  return `${key}\u0001${template}`;
}

/**
 * Splits a template at the placeholders whose first segment is an input name (spec §4.7). Every other text,
 * including placeholders of non-inputs, stays inside text units. The units alternate text/var and always start
 * and end with a (possibly empty) text unit: "{{output}}" → ["", output, ""].
 */
export function parseTemplate(template: string, inputNames: ReadonlySet<string>): TemplateUnit[] {
  const key = cacheKey(template, inputNames);
  const hit = cache.get(key);
  if (hit) return hit;
  const units: TemplateUnit[] = [];
  let last = 0;
  if (template.includes("{{")) {
    for (const m of template.matchAll(PLACEHOLDER)) {
      const raw = m[1] as string;
      const { name, path } = parsePath(raw);
      if (!inputNames.has(name)) continue;
      units.push(Object.freeze({ kind: "text", text: template.slice(last, m.index) }));
      units.push(Object.freeze({ kind: "var", raw, name, path }));
      last = m.index + m[0].length;
    }
  }
  units.push(Object.freeze({ kind: "text", text: template.slice(last) }));
  const frozen = Object.freeze(units) as TemplateUnit[];
  if (cache.size >= CACHE_LIMIT) {
    const oldest = cache.keys().next();
    if (!oldest.done) cache.delete(oldest.value);
  }
  cache.set(key, frozen);
  return frozen;
}

/**
 * Walks `.key` and `[i]` steps (spec §4.7). A missing object key yields null; a negative index counts from the end;
 * an index out of range fails with 20602 naming the placeholder; `.key` on a non-object or `[i]` on a non-array
 * cannot be read (found: false), and the placeholder is then rendered as its own inner text.
 */
export function readPath(value: unknown, path: readonly PathStep[], raw: string): ReadResult {
  let current = value;
  for (const step of path) {
    if ("key" in step) {
      if (current === null || typeof current !== "object" || Array.isArray(current)) return { found: false };
      const obj = current as Record<string, unknown>;
      // own keys only: "constructor" or "__proto__" are data keys here, as in a Python dict
      const v = Object.hasOwn(obj, step.key) ? obj[step.key] : undefined;
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

/** JSON text as Python `json.dumps(v, ensure_ascii=False)` writes it: ", " between items, ": " after keys. */
export function pythonJson(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "bigint") return value.toString();
  if (typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ", ";
      out += pythonJson(value[i]);
    }
    return `${out}]`;
  }
  let out = "{";
  let first = true;
  const obj = value as Record<string, unknown>;
  for (const k in obj) {
    if (!Object.hasOwn(obj, k)) continue;
    const v = obj[k];
    // JSON has no undefined: such keys are dropped, as JSON.stringify drops them
    if (v === undefined || typeof v === "function") continue;
    if (!first) out += ", ";
    first = false;
    out += `${JSON.stringify(k)}: ${pythonJson(v)}`;
  }
  return `${out}}`;
}

function isEmpty(v: unknown): boolean {
  if (v === null || v === undefined || v === "") return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === "object") {
    for (const k in v) if (Object.hasOwn(v, k)) return false;
    return true;
  }
  return false;
}

/**
 * A placeholder's value as text (spec §4.7): strings as they are, everything else as Python-spaced JSON. In "prompt"
 * mode (LLM prompts) an empty value — "", null, [] or {} — renders as a single space ([new]).
 */
export function renderValue(value: unknown, mode: "json" | "prompt"): string {
  if (mode === "prompt" && isEmpty(value)) return " ";
  return typeof value === "string" ? value : pythonJson(value);
}

/** Renders a template against a node's inputs: placeholders whose first segment is an input key are substituted. */
export function renderTemplate(
  template: string,
  inputs: Record<string, unknown>,
  mode: "json" | "prompt" = "json",
): string {
  if (!template.includes("{{")) return template;
  const names = new Set<string>();
  for (const k in inputs) if (Object.hasOwn(inputs, k)) names.add(k);
  const units = parseTemplate(template, names);
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
