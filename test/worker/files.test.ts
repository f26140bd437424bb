// Files (spec §8; §12.3 items 29, 30): the upload rules and routes over real R2, and the validation of file-typed
// start parameters before a run, with a fake HEAD.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { codeOfAsync as codeOf } from "../support/errors.ts";
import { testEnv } from "../support/seed.ts";
import {
  checkUpload,
  contentTypeFor,
  DEFAULT_FILE_CONFIG,
  fileConfig,
  validateFileParameters,
  type StartFileOutput,
} from "../../src/worker/files.ts";

const APP = { "X-Consumer-Username": "d1590f30" };

/** A fake HEAD: every URL answers with `length` bytes unless listed otherwise; records what it was asked. */
function fakeHead(
  special: Record<string, Response | Error> = {},
  length = 1024,
): { head: (url: string) => Promise<Response>; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    head: async (url) => {
      asked.push(url);
      const s = special[url];
      if (s instanceof Error) throw s;
      return s ?? new Response(null, { headers: { "content-length": String(length) } });
    },
  };
}

const image: StartFileOutput = {
  name: "photo",
  required: true,
  schema: { type: "string" },
  fileType: "file",
  allowedFileType: ["image"],
};
const docs: StartFileOutput = {
  name: "docs",
  required: false,
  schema: { type: "array" },
  fileType: "file",
  allowedFileType: ["pdf"],
};

describe("file parameters before a run (spec §8.3, item 30)", () => {
  it("accepts good links after a HEAD of each", async () => {
    const { head, asked } = fakeHead();
    await validateFileParameters(
      [image, docs],
      { photo: "https://cdn.example/a/b.PNG", docs: ["https://cdn.example/x.pdf", "https://cdn.example/y.pdf?sig=1"] },
      head,
    );
    expect(asked).toEqual([
      "https://cdn.example/a/b.PNG",
      "https://cdn.example/x.pdf",
      "https://cdn.example/y.pdf?sig=1",
    ]);
  });

  it("refuses an image parameter whose URL is a .pdf with 23601, before any HEAD", async () => {
    const { head, asked } = fakeHead();
    expect(await codeOf(validateFileParameters([image], { photo: "https://cdn.example/report.pdf" }, head))).toBe(
      23601,
    );
    expect(asked).toEqual([]);
  });

  it("refuses a link without a known file name with 23601", async () => {
    expect(
      await codeOf(validateFileParameters([image], { photo: "https://cdn.example/download?id=3" }, fakeHead().head)),
    ).toBe(23601);
  });

  it("23602 for a missing required file, a wrong fileType or a schema that is neither string nor array", async () => {
    const { head } = fakeHead();
    expect(await codeOf(validateFileParameters([image], {}, head))).toBe(23602);
    expect(
      await codeOf(validateFileParameters([{ ...image, fileType: "image" }], { photo: "https://c/a.png" }, head)),
    ).toBe(23602);
    expect(
      await codeOf(
        validateFileParameters([{ ...image, schema: { type: "object" } }], { photo: "https://c/a.png" }, head),
      ),
    ).toBe(23602);
    expect(await codeOf(validateFileParameters([docs], { docs: "https://c/a.pdf" }, head))).toBe(23602); // array declared, string given
  });

  it("skips optional files that are absent or empty, and outputs that are no files", async () => {
    const { head, asked } = fakeHead();
    await validateFileParameters([docs, { name: "text", schema: { type: "string" } }], { text: "not a url" }, head);
    await validateFileParameters([docs], { docs: [] }, head);
    await validateFileParameters([{ ...image, required: false }], { photo: "" }, head);
    expect(asked).toEqual([]);
  });

  it("23603 when the HEAD fails, is not OK, or has no Content-Length; 23601 when the file is too large", async () => {
    const url = "https://cdn.example/a.png";
    expect(
      await codeOf(
        validateFileParameters([image], { photo: url }, fakeHead({ [url]: new Error("connect refused") }).head),
      ),
    ).toBe(23603);
    expect(
      await codeOf(
        validateFileParameters(
          [image],
          { photo: url },
          fakeHead({ [url]: new Response(null, { status: 404, headers: { "content-length": "1" } }) }).head,
        ),
      ),
    ).toBe(23603);
    expect(
      await codeOf(validateFileParameters([image], { photo: url }, fakeHead({ [url]: new Response(null) }).head)),
    ).toBe(23603);
    expect(
      await codeOf(
        validateFileParameters([image], { photo: url }, fakeHead({}, DEFAULT_FILE_CONFIG.sizeLimit + 1).head),
      ),
    ).toBe(23601);
    const small = { ...DEFAULT_FILE_CONFIG, sizeLimit: 10 };
    expect(await codeOf(validateFileParameters([image], { photo: url }, fakeHead({}, 11).head, small))).toBe(23601);
  });

  it("takes the categories from ALLOWED_FILE_TYPE when it is valid JSON, else the defaults", async () => {
    const custom = fileConfig({ SUPPORT_FILE_TYPE: "", FILE_SIZE_LIMIT: "", ALLOWED_FILE_TYPE: '{"image":["PDF"]}' });
    expect(custom.categories).toEqual({ image: ["pdf"] });
    await validateFileParameters([image], { photo: "https://c/a.pdf" }, fakeHead().head, custom);
    expect(fileConfig({ SUPPORT_FILE_TYPE: "", FILE_SIZE_LIMIT: "", ALLOWED_FILE_TYPE: "{oops" }).categories).toEqual(
      DEFAULT_FILE_CONFIG.categories,
    );
    expect(
      fileConfig({ SUPPORT_FILE_TYPE: "", FILE_SIZE_LIMIT: "", ALLOWED_FILE_TYPE: '{"image":"png"}' }).categories,
    ).toEqual(DEFAULT_FILE_CONFIG.categories);
  });
});

describe("upload rules (spec §8.1)", () => {
  it("reads the whitelist and the size limit from the vars, with the spec's defaults", () => {
    const d = fileConfig({ SUPPORT_FILE_TYPE: "", FILE_SIZE_LIMIT: "", ALLOWED_FILE_TYPE: "" });
    expect(d.sizeLimit).toBe(52428800);
    expect([...d.types].sort()).toEqual([...DEFAULT_FILE_CONFIG.types].sort());
    const c = fileConfig({ SUPPORT_FILE_TYPE: " PDF , png ", FILE_SIZE_LIMIT: "100", ALLOWED_FILE_TYPE: "" });
    expect([...c.types]).toEqual(["pdf", "png"]);
    expect(c.sizeLimit).toBe(100);
  });

  it("checks name, extension (after the last dot, case-insensitive) and size with 23601", async () => {
    const cfg = { ...DEFAULT_FILE_CONFIG, sizeLimit: 10 };
    expect(checkUpload(cfg, "my.report.PDF", 10)).toBe("pdf");
    expect(await codeOf(() => checkUpload(cfg, "", 1))).toBe(23601);
    expect(await codeOf(() => checkUpload(cfg, "tool.exe", 1))).toBe(23601);
    expect(await codeOf(() => checkUpload(cfg, "README", 1))).toBe(23601);
    expect(await codeOf(() => checkUpload(cfg, "a.pdf", 11))).toBe(23601);
  });

  it("serves files with the uploader's type, or the one the extension implies", () => {
    expect(contentTypeFor("png", "")).toBe("image/png");
    expect(contentTypeFor("pdf", "application/octet-stream")).toBe("application/pdf");
    expect(contentTypeFor("txt", "text/markdown")).toBe("text/markdown");
  });
});

describe("upload routes over R2 (item 29)", () => {
  async function upload(
    files: File[],
    field = "file",
    path = "/workflow/v1/upload_file",
  ): Promise<{ code: number; message: string; data?: { url?: string; urls?: string[] } }> {
    const form = new FormData();
    for (const f of files) form.append(field, f);
    const res = await SELF.fetch(`http://astron.test${path}`, { method: "POST", body: form, headers: APP });
    expect(res.status).toBe(200);
    return (await res.json()) as { code: number; message: string };
  }

  it("stores <uuid>.<ext> and serves it publicly with its content type, length and a long cache life", async () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    const r = await upload([new File([png], "Photo.PNG", { type: "application/octet-stream" })]);
    expect(r.code).toBe(0);
    const url = r.data?.url ?? "";
    expect(url).toMatch(
      /^http:\/\/astron\.test\/workflow\/v1\/files\/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.png$/,
    );
    const got = await SELF.fetch(url); // no credentials: the URL is public
    expect(got.status).toBe(200);
    expect(got.headers.get("content-type")).toBe("image/png");
    expect(got.headers.get("content-length")).toBe(String(png.length));
    expect(got.headers.get("cache-control")).toContain("immutable");
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(png);
  });

  it("refuses an unsupported type or a missing file with the envelope", async () => {
    expect((await upload([new File([new Uint8Array([1])], "run.exe")])).code).toBe(23601);
    expect((await upload([], "file")).code).toBe(460);
    expect((await upload([], "files", "/workflow/v1/upload_files")).code).toBe(460);
    const notMultipart = await SELF.fetch("http://astron.test/workflow/v1/upload_file", {
      method: "POST",
      body: "{}",
      headers: { ...APP, "Content-Type": "application/json" },
    });
    expect(((await notMultipart.json()) as { code: number }).code).toBe(460);
  });

  it("aborts a batch on the first bad file and stores none of it", async () => {
    const before = (await testEnv.FILES.list()).objects.length;
    const r = await upload(
      [new File(["a"], "a.txt"), new File(["b"], "b.exe"), new File(["c"], "c.csv")],
      "files",
      "/workflow/v1/upload_files",
    );
    expect(r.code).toBe(23601);
    expect(r.message).toContain("exe");
    const after = (await testEnv.FILES.list()).objects.length;
    expect(after).toBe(before);
  });

  it("answers an unknown file name with a JSON 404", async () => {
    const res = await SELF.fetch("http://astron.test/workflow/v1/files/00000000-0000-4000-8000-000000000000.pdf");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toContain("application/json");
  });
});
