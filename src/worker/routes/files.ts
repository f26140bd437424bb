// Uploads into R2 (spec §1.5.13, §8) and the stable public URL that serves them back.
import { Hono } from "hono";
import { Codes, WorkflowError } from "../../engine/index.ts";
import { appId, type Ctx } from "../context.ts";
import type { AppEnv } from "../env.ts";
import { success } from "../envelope.ts";
import { checkUpload, contentTypeFor, fileConfig } from "../files.ts";

export const files = new Hono<AppEnv>();

/** Stores an upload in R2 under a fresh name and returns its stable public URL (also used by webhooks). */
export async function storeFile(c: Ctx, file: File, owner: string): Promise<string> {
  const ext = checkUpload(fileConfig(c.env), file.name, file.size);
  // the name is the file's capability: 122 random bits, so a URL cannot be guessed from another (the public file
  // route is anonymous by design, spec §8.2: providers and services fetch it); the owner is recorded with it
  const name = `${crypto.randomUUID()}.${ext}`;
  try {
    await c.env.FILES.put(name, file.stream(), {
      httpMetadata: { contentType: contentTypeFor(ext, file.type) },
      customMetadata: { app: owner },
    });
  } catch (e) {
    console.log(`upload to R2 failed: ${e instanceof Error ? e.message : String(e)}`);
    throw WorkflowError.of(Codes.FILE_STORAGE_ERROR, "the file could not be stored");
  }
  const base = c.env.PUBLIC_FILES_BASE || new URL(c.req.url).origin;
  return `${base}/workflow/v1/files/${name}`;
}

async function form(c: Ctx): Promise<FormData> {
  try {
    return await c.req.formData();
  } catch {
    throw new WorkflowError(
      Codes.PARAM_ERROR,
      "Parameter: body, Input: null, Error: multipart/form-data expected (missing)",
    );
  }
}

/**
 * A part of a file field as a File. workerd's FormData turns a part whose `filename` is empty (what a browser sends
 * for a file without a name) into text, like a part without one: such a part becomes a File without a name, which
 * `checkUpload` refuses with 23601 "File name cannot be empty" (spec §8.1), as the original does.
 */
function asFile(part: File | string | null): File | null {
  return typeof part === "string" ? new File([part], "") : part;
}

files.post("/upload_file", async (c) => {
  const owner = appId(c);
  const f = asFile((await form(c)).get("file"));
  if (!(f instanceof File))
    throw new WorkflowError(Codes.PARAM_ERROR, "Parameter: body->file, Input: null, Error: Field required (missing)");
  return success(c.get("sid"), { url: await storeFile(c, f, owner) });
});

files.post("/upload_files", async (c) => {
  const owner = appId(c);
  const list = (await form(c)).getAll("files").map((f) => asFile(f) as File);
  if (list.length === 0)
    throw new WorkflowError(Codes.PARAM_ERROR, "Parameter: body->files, Input: null, Error: Field required (missing)");
  // order preserved; the batch stops at the first bad file (spec §8.1)
  for (const f of list) checkUpload(fileConfig(c.env), f.name, f.size);
  const urls: string[] = [];
  for (const f of list) urls.push(await storeFile(c, f, owner));
  return success(c.get("sid"), { urls });
});

files.on(["GET", "HEAD"], "/files/:name", async (c) => {
  const obj = await c.env.FILES.get(c.req.param("name"));
  if (!obj) return c.json({ code: Codes.FILE_INVALID_TYPE_ERROR, message: "file not found" }, 404);
  const headers = new Headers();
  obj.writeHttpMetadata(headers);
  headers.set("content-length", String(obj.size));
  headers.set("etag", obj.httpEtag);
  headers.set("cache-control", "public, max-age=31536000, immutable");
  return new Response(c.req.method === "HEAD" ? null : obj.body, { headers });
});
