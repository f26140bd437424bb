// The console's biz format → the engine's core format (spec §4.8): what the Astron console backend does on every
// save, build and debug. Used to feed the real Astron node templates (test/fixtures/astron) to the engine.
// Rules 1–5 and 7; the console's credential and knowledge fix-ups (rule 6) need its database and are not done here.
type Obj = Record<string, unknown>;

export interface CoreNode {
  id: string;
  data: {
    nodeMeta: Obj & { nodeType: string; aliasName: string };
    inputs: Obj[];
    outputs: Obj[];
    nodeParam: Obj;
    retryConfig?: Obj;
  };
}

export interface CoreEdge {
  sourceNodeId: string;
  targetNodeId: string;
  sourceHandle?: string;
  targetHandle?: string;
}

export interface CoreGraph {
  nodes: CoreNode[];
  edges: CoreEdge[];
}

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function isEmptyContent(v: unknown): boolean {
  if (v === undefined || v === null || v === "") return true;
  if (Array.isArray(v)) return v.length === 0;
  if (isObj(v)) return Object.keys(v).length === 0;
  return false;
}

/** `properties` as the editor keeps them, a list `[{name, type, required, properties}]`, → a JSON-schema map. */
function propertiesMap(list: unknown[]): Obj {
  const out: Obj = {};
  for (const p of list) {
    if (!isObj(p) || typeof p.name !== "string") continue;
    const rest: Obj = { ...p };
    delete rest.name;
    delete rest.required;
    out[p.name] = convertType(describedByDefault(rest));
  }
  return out;
}

function requiredNames(list: unknown[]): string[] {
  return list
    .filter((p): p is Obj => isObj(p) && p.required === true && typeof p.name === "string")
    .map((p) => p.name as string);
}

/** Rules 2 and 3: "time" → "string"; "array-<t>" → array of <t> (objects get their property map and required list). */
function convertType(schema: Obj): Obj {
  const t = str(schema.type);
  if (t === "time") return { ...schema, type: "string" };
  if (t.startsWith("array-")) {
    const itemType = t.slice("array-".length);
    const items: Obj = { type: itemType === "time" ? "string" : itemType };
    const rest: Obj = { ...schema };
    delete rest.properties;
    if (itemType === "object" && Array.isArray(schema.properties)) {
      items.properties = propertiesMap(schema.properties);
      items.required = requiredNames(schema.properties);
    }
    return { ...rest, type: "array", items };
  }
  if (Array.isArray(schema.properties)) return { ...schema, properties: propertiesMap(schema.properties) };
  return schema;
}

/** Rule 2: an input whose value content is empty (the editor's `{}` placeholder) is dropped. */
function convertInput(input: Obj): Obj | undefined {
  const schema = isObj(input.schema) ? input.schema : {};
  const value = isObj(schema.value) ? schema.value : {};
  if (isEmptyContent(value.content)) return undefined;
  return { ...input, schema: convertType(schema) };
}

/** Rule 3: the editor keeps descriptions in `default` (of outputs and of their properties alike). */
function describedByDefault(schema: Obj): Obj {
  if (schema.description !== undefined || !("default" in schema)) return schema;
  const out: Obj = { ...schema, description: String(schema.default) };
  delete out.default;
  return out;
}

function convertOutput(output: Obj): Obj {
  return { ...output, schema: convertType(describedByDefault(isObj(output.schema) ? output.schema : {})) };
}

/** Rule 7, on every node: `configs` removed, `topN` as a string, `patchId` → `patch_id` list, `dbId` as a number. */
function cleanParam(param: Obj): Obj {
  const p: Obj = { ...param };
  delete p.configs;
  if (typeof p.topN === "number") p.topN = String(p.topN);
  if ("patchId" in p) {
    const id = p.patchId;
    // the console keeps "0" only for domains listed in its PATCH_ID config, which no template uses
    p.patch_id = id === undefined || id === null || id === "" || id === "0" || id === 0 ? [] : [id];
    delete p.patchId;
  }
  if (typeof p.dbId === "string" && p.dbId.trim() !== "" && Number.isFinite(Number(p.dbId))) p.dbId = Number(p.dbId);
  return p;
}

/** Rule 1: `customOutput` arrives as a JSON string from the editor. */
function convertRetry(retry: Obj): Obj {
  const rc: Obj = { ...retry };
  if (typeof rc.customOutput === "string") {
    try {
      const parsed: unknown = JSON.parse(rc.customOutput === "" ? "{}" : rc.customOutput);
      rc.customOutput = isObj(parsed) ? parsed : {};
    } catch {
      rc.customOutput = {};
    }
  }
  return rc;
}

const PLACEHOLDER_SUFFIX = "00000000-0000-4000-8000-000000000000";

/**
 * One biz node → a core node (rule 1). Also takes a node template row `{idType, data}` of the fixtures, whose id is
 * empty: it gets `<idType>::<zero uuid>` so that the node type can be read from the id as usual (spec §4.2).
 */
export function bizNodeToCore(node: unknown): CoreNode {
  const n = isObj(node) ? structuredClone(node) : {};
  const data = isObj(n.data) ? n.data : {};
  const meta = isObj(data.nodeMeta) ? data.nodeMeta : {};
  const id = str(n.id) !== "" ? str(n.id) : `${str(n.idType)}::${PLACEHOLDER_SUFFIX}`;
  const out: CoreNode = {
    id,
    data: {
      nodeMeta: {
        ...meta,
        nodeType: str(meta.nodeType),
        aliasName: typeof data.label === "string" ? data.label : str(meta.aliasName),
      },
      inputs: (Array.isArray(data.inputs) ? data.inputs : [])
        .filter(isObj)
        .map(convertInput)
        .filter((x): x is Obj => x !== undefined),
      outputs: (Array.isArray(data.outputs) ? data.outputs : []).filter(isObj).map(convertOutput),
      nodeParam: cleanParam(isObj(data.nodeParam) ? data.nodeParam : {}),
    },
  };
  if (isObj(data.retryConfig)) out.data.retryConfig = convertRetry(data.retryConfig);
  return out;
}

const PREFIXED = ["intent-one-of", "branch_one_of", "fail_one_of"];
const PREFIX = "intent_chain|";

/** Rule 4: React-Flow edges → core edges; branch, intent and fail handles get the `intent_chain|` prefix. */
export function bizEdgeToCore(edge: unknown): CoreEdge {
  const e = isObj(edge) ? edge : {};
  const out: CoreEdge = { sourceNodeId: str(e.source), targetNodeId: str(e.target) };
  const handle = str(e.sourceHandle);
  if (handle !== "") {
    out.sourceHandle =
      PREFIXED.some((p) => handle.includes(p)) && !handle.startsWith(PREFIX) ? `${PREFIX}${handle}` : handle;
  }
  if (typeof e.targetHandle === "string") out.targetHandle = e.targetHandle;
  return out;
}

/** A biz document `{nodes, edges}` → the core graph (rules 1–4). */
export function bizFlowToCore(doc: unknown): CoreGraph {
  const d = isObj(doc) ? doc : {};
  return {
    nodes: (Array.isArray(d.nodes) ? d.nodes : []).map(bizNodeToCore),
    edges: (Array.isArray(d.edges) ? d.edges : []).map(bizEdgeToCore),
  };
}

/** Rule 5: the core envelope the engine builds from. */
export function bizFlowToDsl(
  doc: unknown,
  flow: { id: string; name?: string; description?: string },
): {
  id: string;
  name: string;
  description: string;
  version: string;
  data: CoreGraph;
} {
  return {
    id: flow.id,
    name: flow.name ?? "",
    description: flow.description ?? "",
    version: "v3.0.0",
    data: bizFlowToCore(doc),
  };
}
