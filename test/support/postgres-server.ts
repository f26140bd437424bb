// A real PostgreSQL (Debian package) on a free loopback port for the database node's tests and benchmark. Its own
// temp dir (initdb), password auth (scram) for TCP so the tests can check that the password never leaks, no fsync.
// PostgreSQL refuses to run as root, so under root the server runs as the `postgres` system user (runuser) and the
// temp dir is handed to it. Like redis-server.ts, it runs under a small sh watchdog that holds our stdin: when this
// process ends in any way (even SIGKILL) the pipe closes, the watchdog stops PostgreSQL and removes the dir.
import { spawn } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { probe } from "./redis-server.ts";
import { onFreePort, supervise, whenReady, type Watchdog } from "./supervised.ts";

export interface PostgresHandle {
  /** `postgres://astron:<password>@127.0.0.1:<port>/postgres` */
  url: string;
  port: number;
  user: string;
  password: string;
  /** fast shutdown; resolves when the server has exited and its dir is gone */
  stop(): Promise<void>;
}

const USER = "astron";

// fd 3 keeps our stdin pipe for the watchdog: a background job's own stdin is /dev/null in a non-interactive sh.
// SIGINT is PostgreSQL's "fast" shutdown (it does not wait for clients to disconnect).
const WATCHDOG = `
exec 3<&0
"$PG_BIN/initdb" -D "$PG_DIR/data" -U ${USER} --pwfile="$PG_DIR/pw" -A scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 -N >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log"; rm -rf "$PG_DIR"; exit 1; }
"$PG_BIN/postgres" -D "$PG_DIR/data" -p "$PG_PORT" -k "$PG_DIR" -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50 </dev/null 3<&- &
pid=$!
echo "pid $pid"
{ cat <&3 >/dev/null; kill -INT "$pid" 2>/dev/null; } &
wait "$pid"
status=$?
rm -rf "$PG_DIR"
exit $status
`;

function pgBin(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "postgres")))
    : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest)
    throw new Error(
      "PostgreSQL binaries not found under /usr/lib/postgresql; install them with scripts/setup-system.sh",
    );
  return join(root, newest, "bin");
}

/** True when the port answers a startup-less SSLRequest with 'N' or 'S' (the server accepts connections). */
async function answers(port: number, timeoutMs = 500): Promise<boolean> {
  return probe(
    port,
    Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]),
    (d) => d[0] === 0x4e || d[0] === 0x53,
    timeoutMs,
  );
}

/** The server answers SSLRequest while it is still starting up: ready means a real query succeeds. */
async function ready(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => undefined });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function launch(port: number): Promise<PostgresHandle | { failed: string }> {
  const dir = mkdtempSync(join(tmpdir(), "pg-test-"));
  const password = `pw-${crypto.randomUUID()}`;
  writeFileSync(join(dir, "pw"), `${password}\n`, { mode: 0o600 });
  const asRoot = process.getuid?.() === 0;
  const env = { ...process.env, PG_DIR: dir, PG_BIN: pgBin(), PG_PORT: String(port) };
  let child: Watchdog;
  if (asRoot) {
    const { uid, gid } = await postgresIds();
    chownSync(dir, uid, gid);
    chownSync(join(dir, "pw"), uid, gid);
    child = spawn("runuser", ["-u", "postgres", "--", "sh", "-c", WATCHDOG, "pg-watchdog"], {
      stdio: ["pipe", "pipe", "pipe"],
      env,
      cwd: dir,
    });
  } else {
    child = spawn("sh", ["-c", WATCHDOG, "pg-watchdog"], { stdio: ["pipe", "pipe", "pipe"], env, cwd: dir });
  }
  const sv = supervise(child);
  const stop = async (): Promise<void> => {
    await sv.stop("SIGQUIT", 10_000);
    rmSync(dir, { recursive: true, force: true });
  };
  const r = await whenReady(
    sv,
    async () => {
      if (sv.pid() === undefined || !(await answers(port))) return undefined;
      const url = `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
      return (await ready(url)) ? { url, port, user: USER, password, stop } : undefined;
    },
    600,
    50,
  );
  if ("failed" in r) await stop();
  return r;
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const { execFileSync } = await import("node:child_process");
  const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
  if (!Number.isInteger(uid) || !Number.isInteger(gid))
    throw new Error("no postgres system user to run PostgreSQL as (running as root)");
  return { uid, gid };
}

/** Starts PostgreSQL on 127.0.0.1 (a free port; retried if another process takes the port first). */
export async function startPostgres(): Promise<PostgresHandle> {
  return onFreePort("PostgreSQL", launch, /not found|ENOENT|no postgres system user/i);
}
