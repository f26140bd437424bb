// Where the first JavaScript code node's cold start goes (issue 15), step by step in a fresh Node process: compiling
// the QuickJS WebAssembly module, instantiating it, the first runtime and context, and the first evaluation.
// V8 compiles WebAssembly functions lazily, on their first call; compare with eager compilation:
//
//   node bench/code-cold.mjs                               # lazy (the default, as on workerd)
//   node --no-wasm-lazy-compilation bench/code-cold.mjs    # every function compiled up front
//
// Prints one JSON line (ms per step). workerd compiles the module when the worker starts, so there the first call
// pays the steps after `compile`.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import releaseVariant from "@jitl/quickjs-wasmfile-release-sync";
import { newQuickJSWASMModuleFromVariant, newVariant } from "quickjs-emscripten-core";

// the file the worker bundles (src/durable/quickjs-wasm.ts); the package does not export it
const wasmPath = join(
  import.meta.dirname,
  "..",
  "node_modules",
  "@jitl",
  "quickjs-wasmfile-release-sync",
  "dist",
  "emscripten-module.wasm",
);
const steps = {};
let t = performance.now();
const step = (name) => {
  const now = performance.now();
  steps[name] = Math.round((now - t) * 100) / 100;
  t = now;
};
const wasmModule = await WebAssembly.compile(readFileSync(wasmPath));
step("compile");
const quickjs = await newQuickJSWASMModuleFromVariant(newVariant(releaseVariant, { wasmModule }));
step("instantiate");
const runtime = quickjs.newRuntime();
step("first_runtime");
const context = runtime.newContext();
step("first_context");
const result = context.unwrapResult(context.evalCode("function main(a) { return a; } JSON.stringify(main({ x: 1 }))"));
step("first_eval");
if (context.dump(result) !== '{"x":1}') throw new Error("unexpected result");
result.dispose();
context.dispose();
runtime.dispose();
const again = quickjs.newRuntime();
const ctx2 = again.newContext();
ctx2.unwrapResult(ctx2.evalCode("function main(a) { return a; } JSON.stringify(main({ x: 1 }))")).dispose();
step("second_runtime_context_eval");
ctx2.dispose();
again.dispose();
console.log(
  JSON.stringify({
    figure: "code node cold start, step by step (Node)",
    lazy_wasm_compilation: !process.execArgv.includes("--no-wasm-lazy-compilation"),
    ms: steps,
    after_compile_ms:
      Math.round((steps.instantiate + steps.first_runtime + steps.first_context + steps.first_eval) * 100) / 100,
  }),
);
