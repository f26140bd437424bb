// The engine's public surface: everything the plugins, the Durable Object and the worker use.
export * from "./codes.ts";
export * from "./errors.ts";
export * from "./types.ts";
export * from "./plugin.ts";
export { Registry } from "./registry.ts";
export { compile, PLAN_VERSION, type Plan, type PlanNode, type PlanEdge, type PlanInput } from "./compile.ts";
export { parseDsl, nodeTypeOf } from "./dsl.ts";
export { Run, type RunOptions, type RunOutcome, type RunState } from "./run.ts";
export { systemClock } from "./clock.ts";
export { createGuardedFetch, createSocketOpener, isPrivateHost, type FetchGuardOptions } from "./net.ts";
export { debugNode, type NodeDebugResult } from "./debug.ts";
export * from "./trace.ts";
