// The worker's one DSL check (spec §4.10), as add, update, build and publish see it: the engine's compile decides.
import { describe, expect, it } from "vitest";
import { WorkflowError } from "../../src/engine/errors.ts";
import { validateDsl } from "../../src/worker/validate.ts";
import { loadFixture } from "../support/fixtures.ts";

function codeOf(dsl: unknown): number | undefined {
  try {
    validateDsl(dsl);
  } catch (e) {
    return e instanceof WorkflowError ? e.code : -1;
  }
  return undefined;
}

type Envelope = { data: { nodes: { id: string }[]; edges: { sourceNodeId: string; targetNodeId: string }[] } };
const fixture = (): Envelope => loadFixture("example-core-if-else-branch.json") as Envelope;

describe("validateDsl", () => {
  it("accepts both real example flows", () => {
    expect(codeOf(loadFixture("example-core-if-else-branch.json"))).toBeUndefined();
    expect(codeOf(loadFixture("example-core-start-llm-end.json"))).toBeUndefined();
  });

  it("answers 22100 for a document without nodes", () => {
    expect(codeOf(null)).toBe(22100);
    expect(codeOf({ data: { edges: [] } })).toBe(22100);
  });

  it("answers 22101 for an unknown node type", () => {
    const f = fixture();
    f.data.nodes.push({
      id: "teleport::00000000-0000-4000-8000-000000000000",
      data: { nodeMeta: { nodeType: "x", aliasName: "R" } },
    } as never);
    expect(codeOf(f)).toBe(22101);
  });

  it("answers 22300 for an edge to a node that does not exist", () => {
    const f = fixture();
    f.data.edges.push({ sourceNodeId: f.data.nodes[0]?.id ?? "", targetNodeId: "message::nowhere" });
    expect(codeOf(f)).toBe(22300);
  });
});
