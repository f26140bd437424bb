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
  let ticks = 0;
  for (const pid of tree(rootPid)) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, "utf8");
      const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
      ticks += Number(rest[11]) + Number(rest[12]); // utime, stime (fields 14 and 15)
    } catch {} // ended meanwhile
  }
  return ticks * TICK_MS;
}
