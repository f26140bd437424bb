// The explicit plugin registry (STYLE §13): one line per node type; a duplicate type throws at startup.
import type { Plugin } from "../engine/plugin.ts";
import { Registry } from "../engine/registry.ts";
import message from "./message.ts";
import nodeEnd from "./node-end.ts";

/** Every node type this runtime executes. */
export const plugins: readonly Plugin<never>[] = [nodeEnd, message] as unknown as readonly Plugin<never>[];

export const registry = new Registry(plugins);
