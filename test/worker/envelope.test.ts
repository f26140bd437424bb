// Envelopes of spec §1.3: success with `data` omitted when falsy, errors, the chat variant, 460 lines.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { chatValidationFailure, failure, success, validationMessage } from "../../src/worker/envelope.ts";

describe("envelopes", () => {
  it("omit data when falsy, like the original's response_success", async () => {
    for (const falsy of [undefined, null, "", 0, false, [], {}]) {
      expect(await success("spf1", falsy).json()).toEqual({ code: 0, message: "success", sid: "spf1" });
    }
    expect(await success("spf1", { flow_id: "1" }).json()).toEqual({
      code: 0,
      message: "success",
      data: { flow_id: "1" },
      sid: "spf1",
    });
    expect(await success("spf1", [0]).json()).toMatchObject({ data: [0] });
  });

  it("omit an empty sid and answer HTTP 200 with JSON", async () => {
    const res = failure("", 20201, "Flow ID not found");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(await res.json()).toEqual({ code: 20201, message: "Flow ID not found" });
  });

  it("has a chat/resume variant with id and created in milliseconds", async () => {
    expect(await chatValidationFailure("spf9", "m", 1_700_000_000_123).json()).toEqual({
      code: 460,
      message: "m",
      id: "spf9",
      created: 1_700_000_000_123,
    });
  });
});

describe("460 lines", () => {
  const schema = z.object({
    flow_id: z.string().min(1),
    uid: z.string().max(3).default(""),
    stream: z.boolean().default(true),
    parameters: z.record(z.string(), z.unknown()),
    history: z.array(z.unknown()).default([]),
    version: z
      .string()
      .regex(/^v3(\.\d+)*$/)
      .optional(),
    plat: z.union([z.literal(0), z.literal(1)]).default(0),
    id: z.union([z.string(), z.number()]).optional(),
  });
  const lines = (input: unknown): string[] => {
    const r = schema.safeParse(input);
    if (r.success) return [];
    return validationMessage("body", r.error, input).split("\n");
  };

  it("reports a missing field with the object it is missing from", () => {
    expect(lines({ parameters: {} })).toEqual([
      'Parameter: body->flow_id, Input: {"parameters":{}}, Error: Field required (missing)',
    ]);
  });

  it("words type, length, pattern and literal failures like pydantic, with the offending value", () => {
    expect(
      lines({
        flow_id: "",
        uid: "toolong",
        stream: "yes",
        parameters: [],
        history: {},
        version: "v2",
        plat: 5,
        id: true,
      }),
    ).toEqual([
      'Parameter: body->flow_id, Input: "", Error: String should have at least 1 character (string_too_short)',
      'Parameter: body->uid, Input: "toolong", Error: String should have at most 3 characters (string_too_long)',
      'Parameter: body->stream, Input: "yes", Error: Input should be a valid boolean (bool_type)',
      "Parameter: body->parameters, Input: [], Error: Input should be a valid dictionary (dict_type)",
      "Parameter: body->history, Input: {}, Error: Input should be a valid list (list_type)",
      `Parameter: body->version, Input: "v2", Error: String should match pattern '^v3(\\.\\d+)*$' (string_pattern_mismatch)`,
      "Parameter: body->plat, Input: 5, Error: Input should be 0 or 1 (literal_error)",
      "Parameter: body->id, Input: true, Error: Input should be a valid string (string_type)",
    ]);
  });

  it("names nested paths with arrows and reports a whole non-object body as missing fields of null", () => {
    const nested = z.object({ data: z.object({ nodes: z.array(z.object({ id: z.string() })) }) });
    const input = { data: { nodes: [{ id: 1 }] } };
    const r = nested.safeParse(input);
    expect(r.success).toBe(false);
    if (!r.success)
      expect(validationMessage("body", r.error, input)).toBe(
        "Parameter: body->data->nodes->0->id, Input: 1, Error: Input should be a valid string (string_type)",
      );
    expect(lines(null)[0]).toMatch(
      /^Parameter: body, Input: null, Error: Input should be a valid dictionary \(dict_type\)$/,
    );
  });
});

// issue 13 item 8: a message names the bad value by a short prefix, never by the whole value
describe("460 lines quote bad values by a short prefix", () => {
  const MB3 = 3 * 1024 * 1024;

  it("cuts a 3 MB string to 100 characters and its size", () => {
    const schema = z.object({ flow_id: z.string().max(64) });
    const input = { flow_id: "x".repeat(MB3) };
    const r = schema.safeParse(input);
    expect(r.success).toBe(false);
    if (r.success) return;
    const message = validationMessage("body", r.error, input);
    expect(message).toBe(
      `Parameter: body->flow_id, Input: "${"x".repeat(100)}…(${MB3} bytes), Error: String should have at most 64 characters (string_too_long)`,
    );
  });

  it("cuts the object a missing field is reported with, and counts bytes, not characters", () => {
    const schema = z.object({ flow_id: z.string() });
    const input = { note: "é".repeat(MB3) };
    const r = schema.safeParse(input);
    if (r.success) throw new Error("expected a failure");
    const message = validationMessage("body", r.error, input);
    expect(message.length).toBeLessThan(300);
    // the JSON text {"note":"éé…"} is 11 bytes of syntax plus two bytes per é
    expect(message).toContain(`…(${11 + 2 * MB3} bytes), Error: Field required (missing)`);
  });

  it("cuts a huge key in the path and never splits a surrogate pair", () => {
    const schema = z.object({ parameters: z.record(z.string(), z.number()) });
    const key = "😀".repeat(200);
    const input = { parameters: { [key]: "not a number" } };
    const r = schema.safeParse(input);
    if (r.success) throw new Error("expected a failure");
    const message = validationMessage("body", r.error, input);
    expect(message).toContain(`body->parameters->${"😀".repeat(100)}…(800 bytes), Input: "not a number"`);
  });

  it("lists at most 20 failures and says how many more there were", () => {
    const schema = z.object({ items: z.array(z.number()) });
    const input = { items: Array.from({ length: 100_000 }, () => "x") };
    const r = schema.safeParse(input);
    if (r.success) throw new Error("expected a failure");
    const lines = validationMessage("body", r.error, input).split("\n");
    expect(lines).toHaveLength(21);
    expect(lines[0]).toBe('Parameter: body->items->0, Input: "x", Error: Input should be a valid number (float_type)');
    expect(lines[20]).toBe("… and 99980 more errors");
  });
});
