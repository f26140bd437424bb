// The QuickJS WebAssembly module as workerd wants it: precompiled by the bundler (wrangler's CompiledWasm rule
// matches the `.wasm` specifier), never compiled from bytes at run time. Imported lazily, on workerd only.
import wasm from "../../node_modules/@jitl/quickjs-wasmfile-release-sync/dist/emscripten-module.wasm";

export default wasm;
