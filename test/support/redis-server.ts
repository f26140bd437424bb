// A real redis-server (Debian package) on a free loopback port, for the Upstash REST front. No persistence, its own
// temp dir. It runs under a small sh watchdog that holds our stdin: when this process ends in any way (even
// SIGKILL), the pipe closes and the watchdog stops redis and removes the dir, so no server outlives a test run.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";

export interface RedisHandle {
  port: number;
  /** clean shutdown; resolves when redis has exited and its dir is gone */
  stop(): Promise<void>;
  /** immediate SIGKILL of redis (simulates a crash; the front then answers with errors) */
  kill(): void;
}

// fd 3 keeps our stdin pipe for the watchdog: a background job's own stdin is /dev/null in a non-interactive sh.
const WATCHDOG = `
exec 3<&0
redis-server "$@" </dev/null 3<&- &
pid=$!
echo "pid $pid"
{ cat <&3 >/dev/null; kill -TERM "$pid" 2>/dev/null; } &
wait "$pid"
status=$?
rm -rf "$REDIS_DIR"
exit $status
`;

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

/** Writes `payload` to a loopback port and resolves with `accept(first bytes)` (false on error or timeout). */
export async function probe(
  port: number,
  payload: string | Uint8Array,
  accept: (first: Buffer) => boolean,
  timeoutMs = 500,
): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = new Socket();
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once("error", () => done(false));
    sock.once("data", (d: Buffer) => done(accept(d)));
    sock.connect(port, "127.0.0.1", () => sock.write(payload));
  });
}

/** True when a RESP PING on the port is answered with +PONG. */
export async function pong(port: number, timeoutMs = 500): Promise<boolean> {
  return probe(port, "*1\r\n$4\r\nPING\r\n", (d) => d.toString().startsWith("+PONG"), timeoutMs);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Watchdog = ChildProcessByStdio<Writable, Readable, Readable>;

async function launch(port: number): Promise<RedisHandle | { failed: string }> {
  const dir = mkdtempSync(join(tmpdir(), "redis-test-"));
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--daemonize",
    "no",
    "--protected-mode",
    "yes",
  ];
  const child: Watchdog = spawn("sh", ["-c", WATCHDOG, "redis-watchdog", ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, REDIS_DIR: dir },
  });
  let output = "";
  let pid: number | undefined;
  const collect = (d: Buffer): void => {
    output = (output + d.toString()).slice(-4000);
    const m = /^pid (\d+)$/m.exec(output);
    if (m && pid === undefined) pid = Number(m[1]);
  };
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

  const kill = (): void => {
    if (pid !== undefined) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    child.stdin.destroy();
  };
  const stop = async (): Promise<void> => {
    child.stdin.end();
    await Promise.race([exited, sleep(5000)]);
    if (child.exitCode === null && child.signalCode === null) {
      kill();
      await exited;
    }
  };

  for (let i = 0; i < 200; i++) {
    if (spawnError) return { failed: spawnError.message };
    if (child.exitCode !== null) return { failed: output.trim() || `exit ${child.exitCode}` };
    if (await pong(port)) return { port, stop, kill };
    await sleep(25);
  }
  await stop();
  return { failed: `no PONG on port ${port} within 5 s: ${output.trim()}` };
}

/** Starts a redis-server on 127.0.0.1 (a free port; retried if another process takes the port first). */
export async function startRedis(): Promise<RedisHandle> {
  let last = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = await launch(await freePort());
    if (!("failed" in r)) return r;
    last = r.failed;
    if (/not found|ENOENT/i.test(last)) break;
  }
  throw new Error(`redis-server did not start (${last}); install it with scripts/setup-system.sh`);
}
