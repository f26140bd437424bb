// Variable storage (spec §5.19): a hash per (flow, uid, app, chat) under the original's key; JSON values; 22900.
import { describe, expect, it } from "vitest";
import { WorkflowError } from "../../src/engine/errors.ts";
import type { KeyValuePort } from "../../src/engine/plugin.ts";
import { bizNodeToCore } from "../../src/plugins/biz.ts";
import nodeVariable, { variableKey } from "../../src/plugins/node-variable.ts";
import { loadFixture } from "../support/fixtures.ts";
import { MemoryKv, runPlugin, runPluginError } from "../support/node-context.ts";

describe("node-variable params", () => {
  it("rejects the template as it comes: flowId is filled in when the node is placed in a flow", () => {
    const param = bizNodeToCore(loadFixture("node-variable.json")).data.nodeParam;
    expect(param).toEqual({ method: "set" });
    expect(nodeVariable.params.safeParse(param).success).toBe(false);
    expect(nodeVariable.params.parse({ ...param, flowId: "7283", extra: 1 })).toEqual({
      method: "set",
      flowId: "7283",
    });
  });

  it("rejects garbage", () => {
    for (const garbage of [
      "garbage",
      [1, 2, 3],
      {},
      { method: "put", flowId: "f" },
      { method: "get" },
      { method: "get", flowId: 7 },
    ]) {
      expect(nodeVariable.params.safeParse(garbage).success).toBe(false);
    }
  });
});

describe("node-variable storage (spec §5.19)", () => {
  it("uses the original key layout, with a trailing ':' when the chat id is empty", () => {
    expect(variableKey("f9", { uid: "u1", appId: "app1", chatId: "" })).toBe("sparkflowV2:variable_pool:f9:u1:app1:");
    expect(variableKey("f9", { uid: "u1", appId: "app1", chatId: "c3" })).toBe(
      "sparkflowV2:variable_pool:f9:u1:app1:c3",
    );
  });

  it("set stores every input under its name and outputs nothing", async () => {
    const kv = new MemoryKv();
    const { result } = await runPlugin(
      nodeVariable,
      { method: "set", flowId: "f9" },
      { kv, inputs: { color: "blue", size: 3, tags: ["a"], meta: { k: true } } },
    );
    expect(result.outputs).toEqual({});
    expect([...kv.hashes.keys()]).toEqual(["sparkflowV2:variable_pool:f9:u1:app1:"]);
    expect(kv.hashes.get("sparkflowV2:variable_pool:f9:u1:app1:")).toEqual({
      color: "blue",
      size: 3,
      tags: ["a"],
      meta: { k: true },
    });
  });

  it("set adds to what is stored and overwrites the same names", async () => {
    const kv = new MemoryKv();
    await runPlugin(nodeVariable, { method: "set", flowId: "f" }, { kv, inputs: { a: 1, b: 2 } });
    await runPlugin(nodeVariable, { method: "set", flowId: "f" }, { kv, inputs: { b: 20, c: 30 } });
    expect(kv.hashes.get(variableKey("f", { uid: "u1", appId: "app1", chatId: "" }))).toEqual({ a: 1, b: 20, c: 30 });
  });

  it("get reads each declared output: the stored value, else the output's default", async () => {
    const kv = new MemoryKv();
    await runPlugin(
      nodeVariable,
      { method: "set", flowId: "f9" },
      { kv, inputs: { color: "blue", meta: { k: [1, 2] } } },
    );
    const { result } = await runPlugin(
      nodeVariable,
      { method: "get", flowId: "f9" },
      {
        kv,
        outputs: [
          "color",
          { name: "meta", type: "object" },
          { name: "size", type: "integer", default: 3 },
          { name: "list", type: "array" },
        ],
      },
    );
    expect(result.outputs).toEqual({ color: "blue", meta: { k: [1, 2] }, size: 3, list: [] });
  });

  it("keeps flows, users, apps and chats apart", async () => {
    const kv = new MemoryKv();
    await runPlugin(
      nodeVariable,
      { method: "set", flowId: "f9" },
      { kv, inputs: { color: "blue" }, run: { chatId: "c1" } },
    );
    for (const run of [{ chatId: "c2" }, { chatId: "c1", uid: "u2" }, { chatId: "c1", appId: "app2" }]) {
      const { result } = await runPlugin(
        nodeVariable,
        { method: "get", flowId: "f9" },
        { kv, run, outputs: ["color"] },
      );
      expect(result.outputs).toEqual({ color: "" });
    }
    const other = await runPlugin(
      nodeVariable,
      { method: "get", flowId: "f8" },
      { kv, run: { chatId: "c1" }, outputs: ["color"] },
    );
    expect(other.result.outputs).toEqual({ color: "" });
    const same = await runPlugin(
      nodeVariable,
      { method: "get", flowId: "f9" },
      { kv, run: { chatId: "c1" }, outputs: ["color"] },
    );
    expect(same.result.outputs).toEqual({ color: "blue" });
  });

  it("fails with 22900 when the storage fails, whatever it raised, without the storage's text", async () => {
    const broken = (err: unknown): KeyValuePort => ({
      hgetall: async () => {
        throw err;
      },
      hset: async () => {
        throw err;
      },
    });
    for (const err of [new Error("connection refused"), new WorkflowError(22302, "adapter"), "text"]) {
      const set = await runPluginError(
        nodeVariable,
        { method: "set", flowId: "f" },
        { kv: broken(err), inputs: { a: 1 } },
      );
      expect(set.code).toBe(22900);
      const get = await runPluginError(
        nodeVariable,
        { method: "get", flowId: "f" },
        { kv: broken(err), outputs: ["a"] },
      );
      expect(get.code).toBe(22900);
    }
    const e = await runPluginError(
      nodeVariable,
      { method: "get", flowId: "f" },
      { kv: broken(new Error("connection refused")), outputs: ["a"] },
    );
    expect(e.message).toContain("variable storage failed");
    expect(e.message).not.toContain("connection refused");
  });
});
