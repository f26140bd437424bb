// STYLE §18: the import layering of ARCHITECTURE.md, and the house rules on eval and `any`, checked on the tree.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** Every module specifier: `import … from`, `export … from`, side-effect `import "x"`, `import("x")`, `require("x")`. */
export function imports(source: string): string[] {
  const pattern =
    /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|\b(?:import|require)\(\s*['"]([^'"]+)['"]\s*\)/g;
  return [...source.matchAll(pattern)].map((m) => (m[1] ?? m[2] ?? m[3]) as string);
}

/** The layer rules: which specifiers a file of each folder may import. Returns the violations. */
export function violations(file: string, source: string): string[] {
  const rel = relative(root, file).replaceAll("\\", "/");
  const out: string[] = [];
  const layer = rel.split("/")[1];
  for (const spec of imports(source)) {
    const target = spec.startsWith(".") ? relative(root, join(file, "..", spec)).replaceAll("\\", "/") : spec;
    let flagged = false; // one violation per import, however many rules it breaks
    const bad = (why: string): void => {
      if (!flagged) out.push(`${rel} imports ${spec}: ${why}`);
      flagged = true;
    };
    const zod = spec === "zod" || spec.startsWith("zod/");
    if (layer === "engine") {
      // ipaddr.js: pure JS, the guarded fetch's address parser (it runs on workerd, Node and Deno alike)
      if (spec.startsWith(".") ? !target.startsWith("src/engine/") : !(zod || spec === "ipaddr.js"))
        bad("the engine imports only zod, ipaddr.js and its own files");
    } else if (layer === "plugins") {
      // re2js: the linear-time engine for authors' regexes (pure JavaScript, runs wherever the engine runs)
      if (
        spec.startsWith(".")
          ? !(target.startsWith("src/engine/") || target.startsWith("src/plugins/"))
          : !(zod || spec === "re2js")
      )
        bad("plugins import only zod, re2js, the engine and plugin files");
    } else if (layer === "durable") {
      if (target.startsWith("src/worker/")) bad("durable objects never import the worker");
    }
    if (layer !== "worker" && (spec === "hono" || spec.startsWith("hono/"))) bad("only the worker imports hono");
  }
  // the code rules look at code, not at comments that happen to say "any"
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
  if (/\beval\s*\(|new Function\s*\(/.test(code)) out.push(`${rel}: eval or new Function`);
  if (/:\s*any\b|as any\b|<any>/.test(code)) out.push(`${rel}: uses any`);
  return out;
}

describe("architecture", () => {
  it("keeps the import layering and the house rules across src/", () => {
    const found = files(join(root, "src")).flatMap((f) => violations(f, readFileSync(f, "utf8")));
    expect(found).toEqual([]);
  });

  it("catches a violation when one is introduced", () => {
    const engineFile = join(root, "src/engine/x.ts");
    expect(violations(engineFile, `import { DurableObject } from "cloudflare:workers";`)).toHaveLength(1);
    expect(violations(engineFile, `import { readFileSync } from "node:fs";`)).toHaveLength(1);
    expect(violations(engineFile, `import { x } from "../plugins/index.ts";`)).toHaveLength(1);
    expect(violations(join(root, "src/plugins/p.ts"), `import { Hono } from "hono";`)).toHaveLength(1);
    expect(violations(join(root, "src/durable/d.ts"), `import { app } from "../worker/index.ts";`)).toHaveLength(1);
    expect(violations(join(root, "src/durable/d.ts"), `import { cors } from "hono/cors";`)).toHaveLength(1);
    expect(
      violations(join(root, "src/plugins/p.ts"), `import { DurableObject } from "cloudflare:workers";`),
    ).toHaveLength(1);
    expect(violations(join(root, "src/plugins/p.ts"), `import { env } from "../durable/run-object.ts";`)).toHaveLength(
      1,
    );
    expect(violations(engineFile, `import "node:process";`)).toHaveLength(1);
    expect(violations(engineFile, `export * from "../worker/app.ts";`)).toHaveLength(1);
    expect(violations(engineFile, `const m = await import("cloudflare:sockets");`)).toHaveLength(1);
    expect(violations(engineFile, `const x = eval("1");`)).toHaveLength(1);
    expect(violations(engineFile, `const v = input as any;`)).toHaveLength(1);
    expect(
      violations(
        join(root, "src/plugins/p.ts"),
        `import { z } from "zod";\nimport { x } from "../engine/types.ts";\nimport { y } from "./providers/openai.ts";`,
      ),
    ).toEqual([]);
    expect(
      violations(
        join(root, "src/worker/app.ts"),
        `import { Hono } from "hono";\nimport { RunObject } from "../durable/run-object.ts";`,
      ),
    ).toEqual([]);
    expect(violations(engineFile, `const f = new Function("return 1");`)).toHaveLength(1);
    expect(violations(engineFile, `let v: any = 1;`)).toHaveLength(1);
    expect(violations(engineFile, `import { z } from "zod";\nimport { a } from "./a.ts";`)).toEqual([]);
    expect(violations(engineFile, `// spec: any node may fail\nconst x = 1;`)).toEqual([]);
  });
});
