// The console's biz format → the engine's core format (spec §4.8): what the Astron console backend does on every
// save, build and debug. Used to feed the real Astron node templates (../shared/fixtures/astron) to the engine.
type Json = unknown;
type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isEmptyContent(v: unknown): boolean {
  if (v === undefined || v === null || v === "") return true;
  if (Array.isArray(v)) return v.length === 0;
  if (isObj(v)) return Object.keys(v).length === 0;
  return false;
}

/** "array-<t>" → {type:"array", items:{type:t}}; "time" → "string" (rule 2/3). */
function convertType(schema: Obj): Obj {
  const t = typeof schema.type === "string" ? schema.type : "";
  if (t === "time") return { ...schema, type: "string" };
  if (t.startsWith("array-")) {
    const item = t.slice("array-".length);
    const items: Obj = { type: item };
    if (item === "object" && Array.isArray(schema.properties)) {
      items.properties = propertiesMap(schema.properties);
      items.required = (schema.properties as Obj[]).filter((p) => p.required === true).map((p) => String(p.name));
    }
    const { properties: _drop, ...rest } = schema;
    void _drop;
    return { ...rest, type: "array", items };
  }
  if (Array.isArray(schema.properties)) return { ...schema, properties: propertiesMap(schema.properties) };
  return schema;
}

function propertiesMap(list: unknown[]): Obj {
  const out: Obj = {};
  for (const p of list) {
    if (!isObj(p) || typeof p.name !== "string") continue;
    const { name, required: _r, ...rest } = p;
    void _r;
    out[name] = convertType(rest);
  }
  return out;
}

function convertInput(input: Obj): Obj | undefined {
  const schema = isObj(input.schema) ? input.schema : {};
  const value = isObj(schema.value) ? schema.value : {};
  if (isEmptyContent(value.content)) return undefined;
  return { ...input, schema: convertType(schema) };
}

function convertOutput(output: Obj): Obj {
  const schema = isObj(output.schema) ? { ...output.schema } : {};
  // the editor keeps descriptions in `default` (rule 3)
  if (schema.description === undefined && "default" in schema) {
    schema.description = String(schema.default);
    delete schema.default;
  }
  return { ...output, schema: convertType(schema) };
}

/** Generic clean-up of rule 7: configs removed, topN as string, patchId → patch_id, dbId as number. */
function cleanParam(param: Obj): Obj {
  const p: Obj = { ...param };
  delete p.configs;
  if (typeof p.topN === "number") p.topN = String(p.topN);
  if ("patchId" in p) {
    const id = p.patchId;
    p.patch_id = id === undefined || id === null || id === "0" || id === "" ? [] : [id];
    delete p.patchId;
  }
  if (typeof p.dbId === "string" && p.dbId.trim() !== "" && Number.isFinite(Number(p.dbId))) p.dbId = Number(p.dbId);
  return p;
}

/** One biz node (or a template row `{idType, data}`) → a core node `{id, data:{nodeMeta, inputs, outputs, nodeParam, retryConfig?}}`. */
export function bizNodeToCore(node: Json): Obj {
  const n = isObj(node) ? node : {};
  const data = isObj(n.data) ? n.data : {};
  const meta = isObj(data.nodeMeta) ? data.nodeMeta : {};
  const label = typeof data.label === "string" ? data.label : typeof meta.aliasName === "string" ? meta.aliasName : "";
  const idType = typeof n.idType === "string" ? n.idType : "";
  const id = typeof n.id === "string" && n.id !== "" ? n.id : `${idType}::00000000-0000-4000-8000-000000000000`;
  const out: Obj = {
    id,
    data: {
      nodeMeta: { nodeType: typeof meta.nodeType === "string" ? meta.nodeType : "", aliasName: label },
      inputs: (Array.isArray(data.inputs) ? data.inputs : []).filter(isObj).map(convertInput).filter((x): x is Obj => x !== undefined),
      outputs: (Array.isArray(data.outputs) ? data.outputs : []).filter(isObj).map(convertOutput),
      nodeParam: cleanParam(isObj(data.nodeParam) ? data.nodeParam : {}),
    },
  };
  if (isObj(data.retryConfig)) {
    const rc: Obj = { ...data.retryConfig };
    if (typeof rc.customOutput === "string") {
      try {
        rc.customOutput = JSON.parse(rc.customOutput);
      } catch {
        rc.customOutput = {};
      }
    }
    (out.data as Obj).retryConfig = rc;
  }
  return out;
}

const PREFIXED = ["intent-one-of", "branch_one_of", "fail_one_of"];

/** A biz document `{nodes, edges}` → the core graph (rules 1, 4). */
export function bizFlowToCore(doc: Json): { nodes: Obj[]; edges: Obj[] } {
  const d = isObj(doc) ? doc : {};
  const nodes = (Array.isArray(d.nodes) ? d.nodes : []).map(bizNodeToCore);
  const edges = (Array.isArray(d.edges) ? d.edges : []).filter(isObj).map((e) => {
    const handle = typeof e.sourceHandle === "string" ? e.sourceHandle : "";
    const edge: Obj = { sourceNodeId: e.source, targetNodeId: e.target };
    if (handle) edge.sourceHandle = PREFIXED.some((p) => handle.includes(p)) && !handle.startsWith("intent_chain|") ? `intent_chain|${handle}` : handle;
    if (typeof e.targetHandle === "string") edge.targetHandle = e.targetHandle;
    return edge;
  });
  return { nodes, edges };
}
