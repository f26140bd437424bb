// The docs/ folder documents the API in the project's own words (issue 14). These checks keep it from drifting: a new
// error code, node type or route without its entry fails here, and so does a link that leaves the repository or
// points at a heading that does not exist.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { Codes } from "../../src/engine/codes.ts";
import { compile } from "../../src/engine/compile.ts";
import { plugins, registry } from "../../src/plugins/index.ts";

const root = join(import.meta.dirname, "..", "..");
const docsDir = join(root, "docs");
const read = (path: string): string => readFileSync(join(root, path), "utf8");
const docFiles = readdirSync(docsDir)
  .filter((f) => f.endsWith(".md"))
  .map((f) => `docs/${f}`);

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const m of markdown.matchAll(/^#{1,6}\s+(.+)$/gm)) out.add(slug(m[1] as string));
  return out;
}

/** Markdown links `[text](target)` outside code spans and fenced blocks. */
function links(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "");
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] as string);
}

/** Every route path the worker's Hono routers declare, with `:param` written `{param}` as the docs write it. */
function declaredRoutes(): string[] {
  const sources = [
    "src/worker/app.ts",
    ...readdirSync(join(root, "src/worker/routes")).map((f) => `src/worker/routes/${f}`),
  ];
  const paths = new Set<string>();
  for (const file of sources) {
    const text = read(file);
    const pattern = /\.(?:get|post|put|patch|delete|on)\(\s*(?:\[[^\]]*\],\s*)?"(\/[^"]*)"/g;
    for (const m of text.matchAll(pattern)) paths.add((m[1] as string).replace(/:(\w+)/g, "{$1}"));
  }
  return [...paths].sort();
}

describe("docs/", () => {
  it("lists every error code of src/engine/codes.ts with its constant", () => {
    const table = read("docs/codes.md");
    const missing = Object.entries(Codes).filter(([name, code]) => {
      const row = new RegExp(`^\\|\\s*${code}\\s*\\|\\s*\`${name}\`\\s*\\|`, "m");
      return !row.test(table);
    });
    expect(missing).toEqual([]);
  });

  it("has a section for every node type registered in src/plugins/index.ts", () => {
    const nodes = read("docs/nodes.md");
    const types = plugins.map((p) => p.type);
    expect(types.length).toBeGreaterThan(15);
    const missing = types.filter((t) => !new RegExp(`^#{2,3} \`${t}\`$`, "m").test(nodes));
    expect(missing).toEqual([]);
  });

  it("documents every route the worker declares", () => {
    const api = read("docs/api.md");
    const routes = declaredRoutes();
    // the pattern must keep finding the routers' declarations, or this test would pass on nothing
    expect(routes.length).toBeGreaterThan(25);
    const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const missing = routes.filter((r) => !new RegExp(`${escape(r)}(?=[\`\\s?,)])`).test(api));
    expect(missing).toEqual([]);
  });

  it("compiles the complete flow of docs/dsl.md", () => {
    const dsl = read("docs/dsl.md");
    const section = dsl.slice(dsl.indexOf("## A complete flow"));
    const block = /```json\n([\s\S]*?)```/.exec(section);
    expect(block).not.toBeNull();
    const plan = compile(JSON.parse((block as RegExpExecArray)[1] as string), registry);
    expect(plan.nodes.map((n) => n.type)).toEqual(["node-start", "spark-llm", "node-end"]);
  });

  it("links only to files and headings inside the repository", () => {
    const bad: string[] = [];
    for (const file of [...docFiles, "README.md"]) {
      const text = read(file);
      if (/\.\.\/shared|\/work\/shared/.test(text)) bad.push(`${file}: refers to the shared folder`);
      for (const target of links(text)) {
        if (/^(https?:|mailto:)/.test(target)) continue;
        const [path = "", anchor] = target.split("#");
        const resolved = path ? resolve(dirname(join(root, file)), path) : join(root, file);
        if (relative(root, resolved).startsWith("..")) bad.push(`${file}: ${target} leaves the repository`);
        else if (!existsSync(resolved)) bad.push(`${file}: ${target} does not exist`);
        else if (anchor && resolved.endsWith(".md") && !anchors(readFileSync(resolved, "utf8")).has(anchor))
          bad.push(`${file}: ${target} names no heading`);
      }
    }
    expect(bad).toEqual([]);
  });
});
