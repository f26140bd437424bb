// Process trees and their CPU time, from /proc (Linux): what the HTTP benchmarks charge to each server.
import { readFileSync, readdirSync } from "node:fs";

export function procTable() {
  const rows = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      rows.push({ pid: Number(d), ppid });
    } catch {} // the process ended meanwhile
  }
  return rows;
}
export function tree(rootPid, table = procTable()) {
  const out = [rootPid];
  for (let i = 0; i < out.length; i++) for (const r of table) if (r.ppid === out[i]) out.push(r.pid);
  return out;
}
/** User + system CPU time of a process tree, in ms (from /proc/<pid>/stat; clock ticks of 10 ms). */
const TICK_MS = 1000 / 100;
export function treeCpuMs(rootPid) {
  return cpuMs(tree(rootPid));
}

/** User + system CPU time of these processes, in ms (ones that ended meanwhile count nothing). */
export function cpuMs(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, "utf8");
      const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
      ticks += Number(rest[11]) + Number(rest[12]); // utime, stime (fields 14 and 15)
    } catch {} // ended meanwhile
  }
  return ticks * TICK_MS;
}

/** The workerd processes under `rootPid` (`wrangler dev` runs two: its proxy's and the one running the worker). */
export function workerdPids(rootPid) {
  return tree(rootPid).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "workerd";
    } catch {
      return false;
    }
  });
}
