// How the peer benchmark (and bench/profile.mjs) calls this runtime: the peers' webhook flow behind its `sync`
// webhook, with the peers' request body.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { publishFlow } from "../dev.mjs";

export const INPUT = { name: "ada", n: 42 }; // n > 10: the "big" branch

/**
 * The one place that says how our runtime is called: the flow's `sync` webhook (issue 6), created once in
 * `prepareOurs` through the authenticated hooks API, called with the peers' body. Bearer auth (n8n's and Node-RED's
 * webhooks here have no auth at all; a signed hook would need a fresh signature per request, which autocannon cannot
 * make) and no per-hook rate limit (the peers have none).
 */
export function oursRequest(base, prepared) {
  return {
    url: `${base}/hooks/${prepared.hookId}`,
    headers: { "content-type": "application/json", authorization: `Bearer ${prepared.token}` },
    body: JSON.stringify(INPUT),
    // the end node's outputs as JSON: {"code":0,…,"outputs":{"name":"ada","n":42,"big":"big","small":""}}
    ok: (status, text) => status === 200 && text.includes('"code":0') && text.includes('"big":"big"'),
  };
}

export async function prepareOurs(base) {
  const flow = JSON.parse(readFileSync(join(import.meta.dirname, "astron-flow.json"), "utf8"));
  const flowId = await publishFlow(base, flow);
  const res = await fetch(`${base}/hooks`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-consumer-username": "d1590f30" },
    body: JSON.stringify({
      flow_id: flowId,
      mode: "sync",
      auth: "bearer",
      rate_per_minute: 0,
      mapping: { AGENT_USER_INPUT: "body.name", name: "body.name", n: "body.n" },
    }),
  });
  if (res.status !== 201) throw new Error(`creating the bench webhook failed: ${res.status} ${await res.text()}`);
  const hook = await res.json();
  return { flowId, hookId: hook.hook_id, token: hook.token };
}
