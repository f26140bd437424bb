// A real MariaDB (Debian's mariadb-server) on a free loopback port, standing in for the MySQL database of an Astron
// installation (the import script's tests). Its own temp dir (mariadb-install-db), a database `workflow` and a user
// with a password over TCP, created by the server's --init-file at start (no client, no root login needed), no
// binlog and no flush at commit. Like redis-server.ts and postgres-server.ts it runs under a small sh watchdog that
// holds our stdin: when this process ends in any way (even SIGKILL) the pipe closes, the watchdog stops MariaDB and
// removes the dir. Under root mariadbd needs `--user=root` (it refuses to run as root otherwise).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { onFreePort, supervise, whenReady, type Watchdog } from "./supervised.ts";

export interface MariaDbHandle {
  /** `mysql://astron:<password>@127.0.0.1:<port>/workflow` */
  url: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** clean shutdown; resolves when the server has exited and its dir is gone */
  stop(): Promise<void>;
}

const USER = "astron";
const DATABASE = "workflow";
const MARIADBD = "/usr/sbin/mariadbd";

// fd 3 keeps our stdin pipe for the watchdog: a background job's own stdin is /dev/null in a non-interactive sh.
// SIGTERM is mariadbd's normal shutdown.
const WATCHDOG = `
exec 3<&0
mariadb-install-db --no-defaults $MY_USER --datadir="$MY_DIR/data" --auth-root-authentication-method=normal --skip-test-db >"$MY_DIR/install.log" 2>&1 || { cat "$MY_DIR/install.log"; rm -rf "$MY_DIR"; exit 1; }
"${MARIADBD}" --no-defaults $MY_USER --datadir="$MY_DIR/data" --socket="$MY_DIR/sock" --pid-file="$MY_DIR/pid" --port="$MY_PORT" --bind-address=127.0.0.1 --skip-name-resolve --skip-log-bin --innodb-buffer-pool-size=16M --innodb-flush-log-at-trx-commit=0 --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci --init-file="$MY_DIR/init.sql" </dev/null 3<&- &
pid=$!
echo "pid $pid"
{ cat <&3 >/dev/null; kill -TERM "$pid" 2>/dev/null; } &
wait "$pid"
status=$?
rm -rf "$MY_DIR"
exit $status
`;

async function ready(url: string): Promise<boolean> {
  try {
    const c = await mysql.createConnection({ uri: url, connectTimeout: 1000 });
    await c.query("SELECT 1");
    await c.end();
    return true;
  } catch {
    return false;
  }
}

async function launch(port: number): Promise<MariaDbHandle | { failed: string }> {
  if (!existsSync(MARIADBD)) return { failed: `${MARIADBD} not found` };
  const dir = mkdtempSync(join(tmpdir(), "mariadb-test-"));
  const password = `pw-${crypto.randomUUID()}`;
  writeFileSync(
    join(dir, "init.sql"),
    [
      `CREATE DATABASE IF NOT EXISTS ${DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`,
      `CREATE USER IF NOT EXISTS '${USER}'@'127.0.0.1' IDENTIFIED BY '${password}';`,
      `GRANT ALL ON ${DATABASE}.* TO '${USER}'@'127.0.0.1';`,
    ].join("\n") + "\n",
    { mode: 0o600 },
  );
  const asRoot = process.getuid?.() === 0;
  const child: Watchdog = spawn("sh", ["-c", WATCHDOG, "mariadb-watchdog"], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, MY_DIR: dir, MY_PORT: String(port), MY_USER: asRoot ? "--user=root" : "" },
    cwd: dir,
  });
  const sv = supervise(child);
  const stop = async (): Promise<void> => {
    await sv.stop("SIGKILL", 10_000);
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `mysql://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${DATABASE}`;
  const r = await whenReady(
    sv,
    async () =>
      sv.pid() !== undefined && (await ready(url))
        ? { url, port, user: USER, password, database: DATABASE, stop }
        : undefined,
    600,
    50,
  );
  if ("failed" in r) await stop();
  return r;
}

/** Starts MariaDB on 127.0.0.1 (a free port; retried if another process takes the port first). */
export async function startMariaDb(): Promise<MariaDbHandle> {
  return onFreePort("MariaDB", launch, /not found|ENOENT/i, "; install it with scripts/setup-system.sh");
}
