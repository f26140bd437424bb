// A real redis-server (Debian package) on a free loopback port, for the Upstash REST front. No persistence, its own
// temp dir. It runs under a small sh watchdog that holds our stdin: when this process ends in any way (even
// SIGKILL), the pipe closes and the watchdog stops redis and removes the dir, so no server outlives a test run.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onFreePort, supervise, whenReady, type Watchdog } from "./supervised.ts";

export { freePort, sleep } from "./supervised.ts";

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
  const s = supervise(child);
  const stop = (): Promise<void> => s.stop("SIGKILL", 5000);
  const r = await whenReady(s, async () => ((await pong(port)) ? { port, stop, kill: s.kill } : undefined), 200, 25);
  if ("failed" in r) await stop();
  return r;
}

export async function startRedis(): Promise<RedisHandle> {
  return onFreePort("redis-server", launch, /not found|ENOENT/i, "; install it with scripts/setup-system.sh");
}
