// Short quotes of caller-supplied values for error messages (issue 13 item 8): a message names what was wrong
// without echoing the whole value back (a 3 MB string must not become a 3 MB message, log line or frame).

/** Characters of a value a message shows before it cuts. */
export const PREVIEW_CHARS = 100;

/** UTF-8 length of `text` without encoding it (a lone surrogate counts as the 3 bytes of U+FFFD). */
function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** The first `max` code points of `text`, so a cut never leaves half a surrogate pair. */
function head(text: string, max: number): string {
  let end = 0;
  for (let count = 0; count < max && end < text.length; count++) {
    const c = text.charCodeAt(end);
    end += c >= 0xd800 && c <= 0xdbff && (text.charCodeAt(end + 1) & 0xfc00) === 0xdc00 ? 2 : 1;
  }
  return text.slice(0, end);
}

/** `text` itself when short, else its first PREVIEW_CHARS characters and `…(N bytes)`. */
export function clipText(text: string): string {
  if (text.length <= PREVIEW_CHARS) return text;
  const shown = head(text, PREVIEW_CHARS);
  return shown.length === text.length ? text : `${shown}…(${utf8Length(text)} bytes)`;
}

/** The JSON text of `value` clipped as `clipText` does (N counts the value's bytes); `null` for what JSON cannot show. */
export function previewJson(value: unknown): string {
  if (typeof value === "string") {
    // cut before encoding, so a huge string is never copied whole into a second one
    const shown = head(value, PREVIEW_CHARS);
    if (shown.length === value.length) return JSON.stringify(value);
    return `${JSON.stringify(shown).slice(0, -1)}…(${utf8Length(value)} bytes)`;
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    // a BigInt or a cycle: nothing a parsed JSON body holds, but a message must never throw
    text = String(value);
  }
  return text === undefined ? "null" : clipText(text);
}
