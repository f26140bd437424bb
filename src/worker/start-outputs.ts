// The start node's declared outputs of a flow DSL: the parameters a run takes (the MCP-style schema of
// `protocol/get_inputs`, and the file-typed ones a run checks).

export interface StartOutput {
  name: string;
  required?: boolean;
  schema?: { type?: string; description?: string };
  allowedFileType?: string[];
  fileType?: string;
}

/** The start node's outputs of a flow envelope (or graph). */
export function startOutputs(dsl: unknown): StartOutput[] {
  const graph =
    (dsl as { data?: { nodes?: unknown } } | null)?.data?.nodes ?? (dsl as { nodes?: unknown } | null)?.nodes;
  if (!Array.isArray(graph)) return [];
  const start = graph.find(
    (n: unknown) => typeof (n as { id?: unknown }).id === "string" && (n as { id: string }).id.startsWith("node-start"),
  );
  const outputs = (start as { data?: { outputs?: unknown } } | undefined)?.data?.outputs;
  return Array.isArray(outputs) ? (outputs as StartOutput[]) : [];
}
