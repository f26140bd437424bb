// Types of bench/dev.mjs for the TypeScript benchmarks.
export declare const root: string;
export declare const env: Record<string, string | undefined>;
export declare function assetsBlock(): string;
export declare function freePort(): Promise<number>;
export declare function startDev(options?: {
  cwd?: string;
  seed?: boolean;
  vars?: Record<string, string>;
  probe?: "GET" | "POST";
  /** more `wrangler dev` arguments */
  args?: string[];
}): Promise<{ base: string; stop: () => Promise<void>; pid: number; persist: string }>;
export declare function publishFlow(base: string, data: unknown): Promise<string>;
