// Counts the characters that string searches (`String.prototype.indexOf`, `RegExp.prototype.exec`) examine while
// `fn` runs: a reader that searches a growing buffer from its start again for every chunk shows up as work that
// grows with the square of its input, whatever the machine's speed.
export async function searchWork<T>(fn: () => T | Promise<T>): Promise<{ result: T; chars: number }> {
  const indexOf = String.prototype.indexOf;
  const exec = RegExp.prototype.exec;
  let chars = 0;
  String.prototype.indexOf = function (this: string, search: string, from?: number): number {
    const start = Math.min(this.length, Math.max(0, from ?? 0));
    const r = indexOf.call(this, search, from);
    chars += (r >= 0 ? r + search.length : this.length) - start;
    return r;
  };
  RegExp.prototype.exec = function (this: RegExp, s: string): RegExpExecArray | null {
    const start = this.global || this.sticky ? this.lastIndex : 0;
    const m = exec.call(this, s);
    chars += (m ? m.index + m[0].length : s.length) - start;
    return m;
  };
  try {
    const result = await fn();
    return { result, chars };
  } finally {
    String.prototype.indexOf = indexOf;
    RegExp.prototype.exec = exec;
  }
}
