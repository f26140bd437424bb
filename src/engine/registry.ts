import { Codes } from "./codes.ts";
import { WorkflowError } from "./errors.ts";
import type { Plugin } from "./plugin.ts";

/** The explicit plugin registry (STYLE §13): a duplicate type throws at startup. */
export class Registry {
  readonly #plugins = new Map<string, Plugin<unknown>>();

  constructor(plugins: readonly Plugin<never>[] = []) {
    for (const p of plugins) this.register(p);
  }

  register<P>(plugin: Plugin<P>): this {
    if (this.#plugins.has(plugin.type)) throw new Error(`duplicate plugin type: ${plugin.type}`);
    // Plugins are stored type-erased; the compiler parses params with the plugin's own schema before any call.
    this.#plugins.set(plugin.type, plugin as unknown as Plugin<unknown>);
    return this;
  }

  has(type: string): boolean {
    return this.#plugins.has(type);
  }

  /** spec §4.10: a type not in the registry is 22101 "Current workflow does not support node type: X" */
  get(type: string): Plugin<unknown> {
    const p = this.#plugins.get(type);
    if (!p)
      throw new WorkflowError(
        Codes.ENG_NODE_PROTOCOL_VALIDATE_ERROR,
        `Current workflow does not support node type: ${type}`,
      );
    return p;
  }

  types(): string[] {
    return [...this.#plugins.keys()];
  }
}
