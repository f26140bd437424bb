// A small builder for core-format DSLs in tests (spec §4): nodes get real `<type>::<id>` ids.

export type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

export interface InputDef {
  name: string;
  type?: string;
  /** `"node-id.output.path"` style ref, or a literal */
  ref?: { node: string; name: string };
  literal?: Json;
  id?: string;
}

export interface OutputDef {
  name: string;
  type?: string;
  required?: boolean;
  default?: Json;
  schema?: Record<string, Json>;
}

export interface NodeDef {
  inputs?: InputDef[];
  outputs?: OutputDef[];
  params?: Record<string, Json>;
  retry?: Record<string, Json>;
  alias?: string;
}

export class FlowBuilder {
  readonly nodes: Record<string, Json>[] = [];
  readonly edges: Record<string, Json>[] = [];

  node(id: string, def: NodeDef = {}): this {
    const type = id.split(":")[0] as string;
    const data: Record<string, Json> = {
      nodeMeta: { nodeType: "test", aliasName: def.alias ?? id.split("::")[1] ?? id },
      inputs: (def.inputs ?? []).map((i) => ({
        ...(i.id ? { id: i.id } : {}),
        name: i.name,
        schema: {
          type: i.type ?? "string",
          value: i.ref
            ? { type: "ref", content: { nodeId: i.ref.node, name: i.ref.name } }
            : { type: "literal", content: i.literal ?? "" },
        },
      })),
      outputs: (def.outputs ?? []).map((o) => ({
        name: o.name,
        required: o.required ?? false,
        schema: {
          type: o.type ?? "string",
          ...(o.default !== undefined ? { default: o.default } : {}),
          ...(o.schema ?? {}),
        },
      })),
      nodeParam: def.params ?? {},
    };
    if (def.retry) data.retryConfig = def.retry;
    void type;
    this.nodes.push({ id, data });
    return this;
  }

  edge(from: string, to: string, handle?: string): this {
    this.edges.push({
      sourceNodeId: from,
      targetNodeId: to,
      ...(handle !== undefined ? { sourceHandle: handle } : {}),
    });
    return this;
  }

  /**
   * `iteration::it` over the start node's `items` (strings), whose body turns each item into "x-<item>"
   * (`iteration-node-start::is` → `text-joiner::tj` → `iteration-node-end::ie`): the nodes and the body's two edges,
   * not the iteration's own edges. `aliases` names the four nodes (the console's picture).
   */
  prefixIteration(aliases: { it?: string; is?: string; tj?: string; ie?: string } = {}): this {
    const a = (alias: string | undefined): { alias?: string } => (alias === undefined ? {} : { alias });
    return this.node("iteration::it", {
      ...a(aliases.it),
      params: { IterationStartNodeId: "iteration-node-start::is" },
      inputs: [{ name: "input", type: "array", ref: { node: START, name: "items" } }],
      outputs: [{ name: "output", type: "array", schema: { items: { type: "string" } } }],
    })
      .node("iteration-node-start::is", { ...a(aliases.is), outputs: [{ name: "input" }] })
      .node("text-joiner::tj", {
        ...a(aliases.tj),
        params: { prompt: "x-{{item}}" },
        inputs: [{ name: "item", ref: { node: "iteration-node-start::is", name: "input" } }],
        outputs: [{ name: "output" }],
      })
      .node("iteration-node-end::ie", {
        ...a(aliases.ie),
        params: { outputMode: 0 },
        inputs: [{ name: "output", ref: { node: "text-joiner::tj", name: "output" } }],
      })
      .edge("iteration-node-start::is", "text-joiner::tj")
      .edge("text-joiner::tj", "iteration-node-end::ie");
  }

  build(): { data: { nodes: Json[]; edges: Json[] } } {
    return { data: { nodes: this.nodes, edges: this.edges } };
  }
}

export const START = "node-start::s";
export const END = "node-end::e";

/** start (AGENT_USER_INPUT) … end; `end` renders `template` in prompt mode or variable mode when template is undefined */
export function flow(): FlowBuilder {
  return new FlowBuilder();
}

export const QUESTION = "question-answer::q";

/** start → a direct question ("Ship?", answer timeout 1 min, reply needed) → end (variable mode, `answer`) */
export function questionFlow(): { data: { nodes: Json[]; edges: Json[] } } {
  return flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
    .node(QUESTION, {
      params: {
        question: "Ship?",
        answerType: "direct",
        timeout: 1,
        needReply: true,
        directAnswer: { handleResponse: false, maxRetryCounts: 2 },
      },
      outputs: [{ name: "query" }, { name: "content" }],
    })
    .node(END, { params: { outputMode: 0 }, inputs: [{ name: "answer", ref: { node: QUESTION, name: "content" } }] })
    .edge(START, QUESTION)
    .edge(QUESTION, END)
    .build();
}

/** An option question ("Ship it?": A "yes" on `option-one-of::a`, the default "later" on `option-one-of::d`). */
export const OPTION_QUESTION: NodeDef = {
  alias: "Ask",
  params: {
    question: "Ship it?",
    answerType: "option",
    timeout: 5,
    needReply: true,
    directAnswer: { handleResponse: false, maxRetryCounts: 2 },
    optionAnswer: [
      { id: "option-one-of::a", name: "A", type: 2, content: "yes", content_type: "text" },
      { id: "option-one-of::d", name: "default", type: 1, content: "later", content_type: "text" },
    ],
  },
  outputs: [{ name: "query" }, { name: "content" }, { name: "id" }],
};

/** start → an option question (`OPTION_QUESTION`, reply needed) → end (`answer`) */
export function optionQuestionFlow(): { data: { nodes: Json[]; edges: Json[] } } {
  return flow()
    .node(START, { outputs: [{ name: "AGENT_USER_INPUT" }] })
    .node(QUESTION, OPTION_QUESTION)
    .node(END, { params: { outputMode: 0 }, inputs: [{ name: "answer", ref: { node: QUESTION, name: "content" } }] })
    .edge(START, QUESTION)
    .edge(QUESTION, END, "option-one-of::a")
    .edge(QUESTION, END, "option-one-of::d")
    .build();
}
