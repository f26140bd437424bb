// A small closed-loop HTTP load generator on loopback: `concurrency` workers send requests back to back for
// `seconds`; reports requests per second and latency percentiles. Bounded in count and time.
export async function load({ url, body, headers = {}, concurrency, seconds, stream = false, maxRequests = 200_000 }) {
  const latencies = [];
  let errors = 0;
  let sent = 0;
  const deadline = performance.now() + seconds * 1000;
  async function worker() {
    while (performance.now() < deadline && sent < maxRequests) {
      sent++;
      const t = performance.now();
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: { "Content-Type": "application/json", ...headers },
          body,
        });
        const text = await res.text();
        if (!res.ok || (!stream && text.includes('"code":') && !text.includes('"code":0'))) errors++;
      } catch {
        errors++;
      }
      latencies.push(performance.now() - t);
    }
  }
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
  return { requests: latencies.length, errors, rps: latencies.length / elapsed, p50: pct(50), p99: pct(99) };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
