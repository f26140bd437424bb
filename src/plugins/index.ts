// The explicit plugin registry (STYLE §13): one line per node type; a duplicate type throws at startup.
import type { Plugin } from "../engine/plugin.ts";
import { Registry } from "../engine/registry.ts";
import agent from "./agent.ts";
import database from "./database.ts";
import decisionMaking from "./decision-making.ts";
import extractorParameter from "./extractor-parameter.ts";
import subflow from "./flow.ts";
import ifElse from "./if-else.ts";
import iflyCode from "./ifly-code.ts";
import { iteration, iterationEnd, iterationStart } from "./iteration.ts";
import knowledgeBase from "./knowledge-base.ts";
import knowledgePro from "./knowledge-pro-base.ts";
import message from "./message.ts";
import nodeEnd from "./node-end.ts";
import nodeStart from "./node-start.ts";
import nodeVariable from "./node-variable.ts";
import pluginTool from "./plugin-tool.ts";
import questionAnswer from "./question-answer.ts";
import rpa from "./rpa.ts";
import sparkLlm from "./spark-llm.ts";
import textJoiner from "./text-joiner.ts";

const all = [
  nodeStart,
  nodeEnd,
  message,
  textJoiner,
  ifElse,
  nodeVariable,
  iteration,
  iterationStart,
  iterationEnd,
  sparkLlm,
  questionAnswer,
  decisionMaking,
  extractorParameter,
  agent,
  subflow,
  knowledgeBase,
  knowledgePro,
  pluginTool,
  rpa,
  database,
  iflyCode,
];

/** Every node type this runtime executes. */
export const plugins: readonly Plugin<never>[] = all as unknown as readonly Plugin<never>[];

export const registry = new Registry(plugins);
