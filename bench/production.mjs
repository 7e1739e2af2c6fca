// Under production's limits (#25): every invocation keeps six connections
// waiting for headers, and a run reaches the concurrency it asks for by
// fanning out over shards. Against the benchmark's own wrangler dev, which
// keeps the limit as `make dev` does (CONNECTIONS_PER_INVOCATION = 6).
//
//   make bench-production   (or `make bench`)
//
// Figures, each the median of RUNS interleaved runs against a loopback
// upstream of ~10 KB pages (bench/common.mjs):
//   - 200 URLs at 100 ms, C=50, one run request: against the ideal
//     ceil(N/C)·L and against asyncio+aiohttp at C=50, interleaved;
//   - 1,000 URLs at 100 ms, C=200: against the ideal (and aiohttp at C=200);
//   - the same 200 URLs with the fan-out off (one invocation, six at a time);
//   - 50 URLs at 2 s, timeout 10 s, one attempt, C=50, with and without the
//     fan-out: how many time out.
// Extraction is off, as the aiohttp crawler only downloads. Writes the
// `bench:production` section of BENCHMARKS.md. Every loop is bounded.
import os from 'node:os';
import { median, postRun, runAiohttp, startUpstream, writeSection } from './common.mjs';

const BASE = process.env.FANOUT_URL ?? 'http://127.0.0.1:8798';
const PY = process.env.BENCH_PYTHON ?? 'bench/.venv/bin/python';
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const L = 100;

/** One run request; its wall time as the client sees it, and its summary and final events. */
async function fanout(urls, c, opts = {}) {
  const t0 = performance.now();
  const kinds = {};
  const summary = await postRun(
    BASE,
    { urls, concurrency: c, per_host: c, timeout_ms: 10_000, retry: { max_attempts: 3 }, extract: false, save: false, ...opts },
    180_000,
    (line) => {
      if (line.includes('"type":"failed"')) {
        const k = JSON.parse(line).error.kind;
        kinds[k] = (kinds[k] ?? 0) + 1;
      }
    },
  );
  return { ms: performance.now() - t0, summary, kinds };
}

const up = await startUpstream(L);
const aiohttp = (urls, c) => runAiohttp(PY, urls, c);
const list = (n, ms = L, tag = '') => Array.from({ length: n }, (_, i) => `${up.origin}/p/${i + 1}?ms=${ms}${tag}`);
const ok = (r, n) => {
  if (r.summary?.done !== n) throw new Error(`fanout: ${r.summary?.done} of ${n} done ${JSON.stringify(r.kinds)}`);
  return r.ms;
};

try {
  const u200 = list(200);
  const u1000 = list(1000);
  // Warm-up: JIT, connection pools, the shards' Durable Object class.
  await fanout(u200.slice(0, 50), 50);
  await aiohttp(u200.slice(0, 20), 20);

  const f50 = [], a50 = [], f200 = [], a200 = [], one = [], inv50 = [], inv200 = [];
  for (let r = 0; r < RUNS; r++) {
    let x = await fanout(u200, 50);
    f50.push(ok(x, 200));
    inv50.push(x.summary.invocations);
    a50.push(await aiohttp(u200, 50));
    x = await fanout(u1000, 200);
    f200.push(ok(x, 1000));
    inv200.push(x.summary.invocations);
    a200.push(await aiohttp(u1000, 200));
    console.log(`round ${r + 1}: 200@50 ${f50.at(-1).toFixed(0)} ms (aiohttp ${a50.at(-1).toFixed(0)}), 1000@200 ${f200.at(-1).toFixed(0)} ms (aiohttp ${a200.at(-1).toFixed(0)})`);
  }
  // One invocation, six at a time: 34 waves of 100 ms. Three runs suffice.
  for (let r = 0; r < Math.min(RUNS, 3); r++) one.push(ok(await fanout(u200, 50, { fan_out: false }), 200));
  console.log(`one invocation: ${one.map((v) => v.toFixed(0)).join(', ')} ms`);
  // A 2 s upstream at a 10 s budget, one attempt.
  const slow = list(50, 2000, '&slow=1');
  const timeoutsOf = async (fan) => {
    const r = await fanout(slow, 50, { retry: { max_attempts: 1 }, fan_out: fan });
    return { ms: r.ms, timeouts: r.kinds.timeout ?? 0, done: r.summary?.done ?? 0 };
  };
  const slowFan = await timeoutsOf(true);
  const slowOne = await timeoutsOf(false);
  console.log(`2 s upstream: fanned out ${JSON.stringify(slowFan)}, one invocation ${JSON.stringify(slowOne)}`);

  const m = (xs) => median(xs);
  const ideal50 = Math.ceil(200 / 50) * L, ideal200 = Math.ceil(1000 / 200) * L, idealOne = Math.ceil(200 / 6) * L;
  const r50 = m(f50) / ideal50, ra50 = m(f50) / m(a50), r200 = m(f200) / ideal200;
  const verdict = (v, goal) => (v <= goal ? 'met' : `missed (${v.toFixed(2)} > ${goal})`);
  const date = new Date().toISOString().slice(0, 10);
  let md = '<!-- bench:production:start -->\n## Under production\'s limits: six connections per invocation, and the fan-out\n\n';
  md += `Reproduce: \`make bench-production\` (${date}; ${os.cpus().length} cores; the benchmark's wrangler dev keeping production's six connections per invocation, as \`make dev\` does; a loopback upstream of ~10 KB pages at a fixed latency; extraction off, like the aiohttp crawler; medians of ${RUNS} runs, Fanout and asyncio+aiohttp interleaved). One run request each; its time is from the client's POST to the summary.\n\n`;
  md += '| figure | Fanout | reference | ratio | goal |\n|---|---|---|---|---|\n';
  md += `| 200 URLs at ${L} ms, C=50, one request, fanned out over ${m(inv50)} shards | ${m(f50).toFixed(0)} ms | ideal ${ideal50} ms; aiohttp ${m(a50).toFixed(0)} ms | ${r50.toFixed(3)}× ideal; ${ra50.toFixed(3)}× aiohttp | ≤ 1.1× ideal: ${verdict(r50, 1.1)}; ≤ 1.05× aiohttp: ${verdict(ra50, 1.05)} |\n`;
  md += `| 1,000 URLs at ${L} ms, C=200, one request, over ${m(inv200)} shards | ${m(f200).toFixed(0)} ms | ideal ${ideal200} ms; aiohttp at C=200 ${m(a200).toFixed(0)} ms | ${r200.toFixed(3)}× ideal; ${(m(f200) / m(a200)).toFixed(3)}× aiohttp | ≤ 1.1× ideal: ${verdict(r200, 1.1)} |\n`;
  md += `| the same 200 URLs, C=50, fan-out off (one invocation: six waiting for headers at a time) | ${m(one).toFixed(0)} ms | ideal at six, ceil(200/6)·${L} = ${idealOne} ms; fanned out ${m(f50).toFixed(0)} ms | ${(m(one) / idealOne).toFixed(3)}× its ideal; ${(m(one) / m(f50)).toFixed(1)}× the fanned-out run | what the limit costs one invocation |\n`;
  md += `| 50 URLs at 2 s, timeout 10 s, one attempt, C=50 | fanned out: ${slowFan.timeouts} timeouts, ${slowFan.done} done in ${(slowFan.ms / 1000).toFixed(1)} s; one invocation: ${slowOne.timeouts} timeouts, ${slowOne.done} done in ${(slowOne.ms / 1000).toFixed(1)} s | before #25, deployed: 26 of 50 timed out (attempts timed from when they were asked for) | — | 0 timeouts: ${slowFan.timeouts + slowOne.timeouts === 0 ? 'met' : 'missed'} |\n`;
  md += `\nRuns one by one (ms): 200 URLs at C=50 ${f50.map((v) => v.toFixed(0)).join(', ')} (aiohttp ${a50.map((v) => v.toFixed(0)).join(', ')}); 1,000 URLs at C=200 ${f200.map((v) => v.toFixed(0)).join(', ')} (aiohttp ${a200.map((v) => v.toFixed(0)).join(', ')}).\n`;
  md += '<!-- bench:production:end -->\n';
  writeSection('production', md);
  console.log('wrote the production section of BENCHMARKS.md');
} finally {
  up.server.closeAllConnections();
  up.server.close();
}
