// How a closed loop of requests is served: the time between consecutive completions, the completions and mean
// latency per second, and how many requests finish before one that started earlier on another connection. Shows
// whether a server answers the requests in flight one by one or in rounds (all of them within milliseconds, then
// nothing for a whole round), which decides what its p99 follows.
//
//   HOLD=1 TARGETS=ours,ceiling node bench/peers/run.mjs > /tmp/targets.json &    # wait for the JSON line
//   node bench/peers/waves.mjs "$(cat /tmp/targets.json)" ours 10 50
//
// Arguments: the targets JSON that `HOLD=1` prints, a target name, seconds (10), connections (50). Every response's
// status is checked; a failed one is counted and reported.
import autocannon from "autocannon";

const [json, name, secondsArg = "10", connArg = "50"] = process.argv.slice(2);
if (!json || !name) {
  console.error("usage: node bench/peers/waves.mjs '<targets json from HOLD=1>' <target> [seconds] [connections]");
  process.exit(2);
}
const target = JSON.parse(json)[name];
if (!target) throw new Error(`no target ${name} in the JSON`);
const seconds = Number(secondsArg);
const connections = Number(connArg);

/** one [start, end] per request, ms since the measured window began (end: when the response arrived) */
const spans = [];
let failed = 0;
let recording = false;
let t0 = 0;

function pressure(duration) {
  const run = autocannon({
    url: target.url,
    method: "POST",
    headers: target.headers,
    body: target.body,
    connections,
    duration,
  });
  // autocannon's own per-response event: the connection, the status and the request's latency
  run.on("response", (_client, status, _bytes, latencyMs) => {
    if (!recording) return;
    const end = performance.now() - t0;
    spans.push([end - latencyMs, end]);
    if (status >= 400) failed++;
  });
  return run;
}

await pressure(2);
recording = true;
t0 = performance.now();
await pressure(seconds);

const ends = spans.map((s) => s[1]).sort((a, b) => a - b);
const gaps = ends.slice(1).map((e, i) => e - ends[i]);
const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? 0;
const lat = spans.map((s) => s[1] - s[0]);
const perSecond = new Map();
for (const [start, end] of spans) {
  const bin = Math.floor(end / 1000);
  const e = perSecond.get(bin) ?? { n: 0, sum: 0 };
  e.n++;
  e.sum += end - start;
  perSecond.set(bin, e);
}
// requests that finished before one that started earlier (pairs among neighbours by start time)
const byStart = [...spans].sort((a, b) => a[0] - b[0]);
let pairs = 0;
let overtaken = 0;
for (let i = 0; i < byStart.length; i++) {
  for (let j = i + 1; j < Math.min(byStart.length, i + connections); j++) {
    pairs++;
    if (byStart[j][1] < byStart[i][1]) overtaken++;
  }
}
const f = (x) => x.toFixed(1);
console.log(
  `${name}: ${spans.length} requests in ${seconds} s (${f(spans.length / seconds)}/s), ${failed} failed; latency p50 ${f(q(lat, 0.5))} ms, p99 ${f(q(lat, 0.99))} ms`,
);
console.log(
  `gaps between completions: p50 ${f(q(gaps, 0.5))} ms, p90 ${f(q(gaps, 0.9))} ms, p99 ${f(q(gaps, 0.99))} ms, max ${f(Math.max(...gaps))} ms; ` +
    `time inside gaps over 50 ms: ${f(gaps.filter((g) => g > 50).reduce((a, b) => a + b, 0) / 1000)} s of ${seconds}`,
);
console.log(
  `finished before a request that started earlier: ${f((100 * overtaken) / Math.max(1, pairs))} % of neighbouring pairs`,
);
console.log(
  "per second (completions / mean latency ms): " +
    [...perSecond]
      .sort((a, b) => a[0] - b[0])
      .map(([s, e]) => `${s}s ${e.n}/${Math.round(e.sum / e.n)}`)
      .join("  "),
);
