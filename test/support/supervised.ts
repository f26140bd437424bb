// What the server launchers of the test support share (redis-server.ts, postgres-server.ts, mariadb-server.ts):
// each server runs under a small sh watchdog that holds our stdin and prints `pid <n>` of the server; when this
// process ends in any way (even SIGKILL) the pipe closes and the watchdog stops the server and removes its dir.
import type { ChildProcessByStdio } from "node:child_process";
import { createServer } from "node:net";
import type { Readable, Writable } from "node:stream";

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export type Watchdog = ChildProcessByStdio<Writable, Readable, Readable>;

export interface Supervision {
  /** the last 4,000 characters the watchdog and the server printed */
  output(): string;
  /** why the server can no longer come up (the watchdog failed to spawn or exited), else undefined */
  failure(): string | undefined;
  /** the server's pid, once the watchdog printed it */
  pid(): number | undefined;
  /** SIGKILL to the server at once (a crash) */
  kill(): void;
  /** closes the watchdog's stdin (it stops the server); after `graceMs` sends `signal` to the server itself */
  stop(signal: NodeJS.Signals, graceMs: number): Promise<void>;
}

export function supervise(child: Watchdog): Supervision {
  let output = "";
  const collect = (d: Buffer): void => void (output = (output + d.toString()).slice(-4000));
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  // an EPIPE on our side of the pipe must not crash the test process
  child.stdin.on("error", () => undefined);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  let spawnError: Error | undefined;
  child.once("error", (e) => (spawnError = e));
  const pid = (): number | undefined => {
    const m = /^pid (\d+)$/m.exec(output);
    return m ? Number(m[1]) : undefined;
  };
  const signal = (s: NodeJS.Signals): void => {
    const p = pid();
    if (p === undefined) return;
    try {
      process.kill(p, s);
    } catch {
      // already gone
    }
  };
  return {
    output: () => output,
    failure: () =>
      spawnError ? spawnError.message : child.exitCode !== null ? output.trim() || `exit ${child.exitCode}` : undefined,
    pid,
    kill() {
      signal("SIGKILL");
      child.stdin.destroy();
    },
    async stop(s, graceMs) {
      child.stdin.end();
      await Promise.race([exited, sleep(graceMs)]);
      if (child.exitCode === null && child.signalCode === null) {
        signal(s);
        child.stdin.destroy();
        await exited;
      }
    },
  };
}

/**
 * Polls `ready` until it answers true (the server's handle then), the server can no longer start, or `attempts` run
 * out; `{failed}` in the last two cases.
 */
export async function whenReady<T>(
  s: Supervision,
  ready: () => Promise<T | undefined>,
  attempts: number,
  intervalMs: number,
): Promise<T | { failed: string }> {
  for (let i = 0; i < attempts; i++) {
    const failure = s.failure();
    if (failure !== undefined) return { failed: failure };
    const handle = await ready();
    if (handle !== undefined) return handle;
    await sleep(intervalMs);
  }
  return { failed: `not ready after ${(attempts * intervalMs) / 1000} s: ${s.output().trim()}` };
}

/** Launches on a free port, again on another one if it fails (a process may take the port first); `fatal` stops. */
export async function onFreePort<T extends object>(
  name: string,
  launch: (port: number) => Promise<T | { failed: string }>,
  fatal: RegExp,
  hint = "",
): Promise<T> {
  let last = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = await launch(await freePort());
    if (!("failed" in r)) return r;
    last = r.failed;
    if (fatal.test(last)) break;
  }
  throw new Error(`${name} did not start (${last})${hint}`);
}
