// `make dev` against plain workerd (#18): the same built Worker under
// wrangler dev (what `make dev` runs) and under workerd alone
// (bench/workerd.capnp), side by side in one run.
//
//   make bench-dev   (or `make bench`, which runs it with the others)
//
// 1. Time: 200 URLs at L=100 ms with C=50, sent as a script must send them
//    to an edge whose MAX_URLS_PER_REQUEST is 50: four chunk requests of 50
//    at once, the concurrency shared (13+13+12+12), each read to its summary.
//    Against the asyncio+aiohttp crawler on the same upstream; wrangler dev,
//    plain workerd and aiohttp interleaved, ROUNDS times, medians.
// 2. CPU per URL: 10 runs of 50 URLs at 20 ms, extraction on, one request
//    each; the user+system CPU time of every process of the edge's session
//    (under wrangler dev: wrangler's Node processes and workerd; plain: the
//    workerd process), from /proc, over those runs, divided by the URLs.
//    The upstream and this driver are other processes.
// Writes the `bench:dev` section of BENCHMARKS.md. Every loop is bounded.
import os from 'node:os';
import { cpuOf, median, runAiohttp, sessionProcesses, startUpstream, writeSection } from './common.mjs';

const DEV = process.env.FANOUT_URL ?? 'http://127.0.0.1:8798';
const PLAIN = process.env.FANOUT_PLAIN_URL ?? 'http://127.0.0.1:8792';
const DEV_SID = Number(process.env.FANOUT_BENCH_SID ?? 0);
const PLAIN_SID = Number(process.env.FANOUT_PLAIN_SID ?? 0);
const PY = process.env.BENCH_PYTHON ?? 'bench/.venv/bin/python';
const ROUNDS = Number(process.env.BENCH_DEV_RUNS ?? 5);

/** One run request, read to its end; the number of URLs done. */
async function run(base, urls, options) {
  const resp = await fetch(`${base}/api/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ urls, ...options }),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await resp.text();
  if (!resp.ok) throw new Error(`${base}: ${resp.status} ${text.slice(0, 200)}`);
  const summary = text.trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.type === 'summary');
  return summary?.done ?? 0;
}

/**
 * 200 URLs as parallel chunk requests sharing C=50: ms. `shares` is each
 * chunk's concurrency; the URLs are split evenly among them.
 */
async function chunked(base, urls, shares = [13, 13, 12, 12]) {
  const size = urls.length / shares.length;
  const t0 = performance.now();
  const done = await Promise.all(shares.map((c, k) => run(base, urls.slice(k * size, k * size + size), {
    concurrency: c, per_host: c, timeout_ms: 10_000, retry: { max_attempts: 3 }, extract: false, save: false,
  })));
  const ms = performance.now() - t0;
  const n = done.reduce((a, b) => a + b, 0);
  if (n !== urls.length) throw new Error(`${base}: ${n} of ${urls.length} done`);
  return ms;
}

const slow = await startUpstream(100);
const fast = await startUpstream(20);
try {
  // 1. Time.
  const urls = Array.from({ length: 200 }, (_, i) => `${slow.origin}/p/${i}`);
  await chunked(DEV, urls); await chunked(PLAIN, urls); await runAiohttp(PY, urls, 50); // warm-up
  const t = { dev: [], plain: [], aio: [] };
  for (let r = 0; r < ROUNDS; r += 1) {
    t.dev.push(await chunked(DEV, urls));
    t.plain.push(await chunked(PLAIN, urls));
    t.aio.push(await runAiohttp(PY, urls, 50));
  }
  // The same, split so that every chunk needs the same number of waves:
  // five requests of 40 at 10 each (four of 50 at 13+13+12+12 need
  // ceil(50/12) = 5 waves in the two chunks at 12).
  const five = [10, 10, 10, 10, 10];
  await chunked(DEV, urls, five);
  for (let r = 0; r < ROUNDS; r += 1) {
    (t.dev5 ??= []).push(await chunked(DEV, urls, five));
    (t.plain5 ??= []).push(await chunked(PLAIN, urls, five));
    (t.aio5 ??= []).push(await runAiohttp(PY, urls, 50));
  }
  const m = {
    dev: median(t.dev), plain: median(t.plain), aio: median(t.aio),
    dev5: median(t.dev5), plain5: median(t.plain5), aio5: median(t.aio5),
  };

  // 2. CPU per URL.
  const cpuPerUrl = async (base, sid) => {
    const procs = sessionProcesses(sid);
    const list = Array.from({ length: 50 }, (_, i) => `${fast.origin}/p/${i}`);
    const opts = { concurrency: 50, per_host: 50, timeout_ms: 10_000, extract: true, save: false };
    await run(base, list, opts); // warm-up
    const before = cpuOf(procs);
    for (let k = 0; k < 10; k += 1) {
      const done = await run(base, list, opts);
      if (done !== 50) throw new Error(`${base}: ${done} of 50 done`);
    }
    const after = cpuOf(procs);
    const by = Object.fromEntries(Object.entries(after.by).map(([k, v]) => [k, (v - (before.by[k] ?? 0)) / 500]));
    return { all: (after.all - before.all) / 500, by };
  };
  const cDev = await cpuPerUrl(DEV, DEV_SID);
  const cPlain = await cpuPerUrl(PLAIN, PLAIN_SID);
  const parts = Object.entries(cDev.by).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');

  const day = new Date().toISOString().slice(0, 10);
  const r2 = (x) => x.toFixed(2);
  const goal = (v, g) => (v <= g ? 'met' : 'missed');
  let md = '<!-- bench:dev:start -->\n## `make dev` against plain workerd\n\n';
  md += `Reproduce: \`make bench-dev\` (${day}; ${os.cpus().length} cores; loopback upstreams). The same built Worker under wrangler dev (as \`make dev\` runs it: its inspector proxy off, see scripts/wrangler-dev.sh) and under workerd alone (bench/workerd.capnp), side by side.\n\n`;
  md += '| figure | wrangler dev | plain workerd | aiohttp | goal |\n|---|---|---|---|---|\n';
  md += `| 200 URLs at 100 ms, C=50, as four parallel chunk requests of 50 (13+13+12+12), median of ${ROUNDS}, interleaved | ${Math.round(m.dev)} ms (${r2(m.dev / m.aio)}× aiohttp) | ${Math.round(m.plain)} ms (${r2(m.plain / m.aio)}× aiohttp) | ${Math.round(m.aio)} ms | wrangler dev ≤ 1.2× aiohttp: ${goal(m.dev / m.aio, 1.2)} |\n`;
  md += `| the same as five chunk requests of 40 at C=10 each (every chunk 4 waves; ideal 400 ms), median of ${ROUNDS}, interleaved | ${Math.round(m.dev5)} ms (${r2(m.dev5 / m.aio5)}× aiohttp) | ${Math.round(m.plain5)} ms (${r2(m.plain5 / m.aio5)}× aiohttp) | ${Math.round(m.aio5)} ms | wrangler dev ≤ 1.2× aiohttp: ${goal(m.dev5 / m.aio5, 1.2)} |\n`;
  md += `| CPU per fetched URL, every process of the edge (10 runs of 50 URLs at 20 ms, extraction on) | ${r2(cDev.all)} ms (${parts}) | ${r2(cPlain.all)} ms | — | wrangler dev ≤ 1.5× plain: ${r2(cDev.all / cPlain.all)}×, ${goal(cDev.all / cPlain.all, 1.5)} |\n\n`;
  md += 'Before (2026-12-01, wrangler dev with its inspector proxy): 914 ms against aiohttp\'s 494 ms (1.84×), and 5.9 ms of CPU per URL for wrangler and workerd together against plain workerd\'s 1.26 ms. The inspector proxy turned on the runtime\'s Network domain and sent every inspector event to wrangler\'s Node process, about four requests per subrequest on connections never closed; `scripts/wrangler-dev.sh` switches it off (`FANOUT_INSPECTOR=1` keeps it for DevTools). The CPU here is the processes\' own time, not the isolate\'s alone: it includes workerd\'s own HTTP work and, under wrangler dev, its proxy worker; bench/isolate.mjs measures the isolate alone. Four chunks of 50 at 13+13+12+12 cannot reach the ideal 400 ms: the two chunks at 12 need five waves of 100 ms, so their own floor is 500 ms; split into chunks that need equal waves (the second row), the floor is the ideal again.\n<!-- bench:dev:end -->\n';
  writeSection('dev', md);
  console.log(JSON.stringify({ ms: m, cpu: { dev: cDev, plain: cPlain } }));
} finally {
  slow.server.closeAllConnections(); slow.server.close();
  fast.server.closeAllConnections(); fast.server.close();
}
