// `make dev` against plain workerd (#18): the same built Worker under
// wrangler dev (what `make dev` runs) and under workerd alone
// (bench/workerd.capnp), side by side in one run.
//
//   make bench-dev   (or `make bench`, which runs it with the others)
//
// 1. Time: 200 URLs at L=100 ms with C=50 in one run request (the edge fans
//    it out over shards, six connections each), read to its summary; and
//    the same with the fan-out off (one invocation, six at a time). Against
//    the asyncio+aiohttp crawler on the same upstream; wrangler dev, plain
//    workerd and aiohttp interleaved, ROUNDS times, medians.
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

/** 200 URLs in one run request at C=50 (`fanOut` or not): ms. */
async function one(base, urls, fanOut = true) {
  const t0 = performance.now();
  const n = await run(base, urls, {
    concurrency: 50, per_host: 50, timeout_ms: 10_000, retry: { max_attempts: 3 }, extract: false, save: false, fan_out: fanOut,
  });
  const ms = performance.now() - t0;
  if (n !== urls.length) throw new Error(`${base}: ${n} of ${urls.length} done`);
  return ms;
}

const slow = await startUpstream(100);
const fast = await startUpstream(20);
try {
  // 1. Time.
  const urls = Array.from({ length: 200 }, (_, i) => `${slow.origin}/p/${i}`);
  await one(DEV, urls); await one(PLAIN, urls); await runAiohttp(PY, urls, 50); // warm-up
  const t = { dev: [], plain: [], aio: [], dev1: [], plain1: [] };
  for (let r = 0; r < ROUNDS; r += 1) {
    t.dev.push(await one(DEV, urls));
    t.plain.push(await one(PLAIN, urls));
    t.aio.push(await runAiohttp(PY, urls, 50));
  }
  // One invocation, six at a time: 34 waves; three rounds suffice.
  for (let r = 0; r < Math.min(ROUNDS, 3); r += 1) {
    t.dev1.push(await one(DEV, urls, false));
    t.plain1.push(await one(PLAIN, urls, false));
  }
  const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));

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
  md += `| 200 URLs at 100 ms, C=50, one run request fanned out over shards (ideal 400 ms), median of ${ROUNDS}, interleaved | ${Math.round(m.dev)} ms (${r2(m.dev / m.aio)}× aiohttp) | ${Math.round(m.plain)} ms (${r2(m.plain / m.aio)}× aiohttp) | ${Math.round(m.aio)} ms | wrangler dev ≤ 1.2× aiohttp: ${goal(m.dev / m.aio, 1.2)} |\n`;
  md += `| the same with the fan-out off: one invocation, six at a time (ideal 3,400 ms) | ${Math.round(m.dev1)} ms | ${Math.round(m.plain1)} ms | — | — |\n`;
  md += `| CPU per fetched URL, every process of the edge (10 runs of 50 URLs at 20 ms, extraction on) | ${r2(cDev.all)} ms (${parts}) | ${r2(cPlain.all)} ms | — | wrangler dev ≤ 1.5× plain: ${r2(cDev.all / cPlain.all)}×, ${goal(cDev.all / cPlain.all, 1.5)} |\n\n`;
  md += 'Before (2026-12-01, wrangler dev with its inspector proxy): 914 ms against aiohttp\'s 494 ms (1.84×), and 5.9 ms of CPU per URL for wrangler and workerd together against plain workerd\'s 1.26 ms. The inspector proxy turned on the runtime\'s Network domain and sent every inspector event to wrangler\'s Node process, about four requests per subrequest on connections never closed; `scripts/wrangler-dev.sh` switches it off (`FANOUT_INSPECTOR=1` keeps it for DevTools). The CPU here is the processes\' own time, not the isolate\'s alone: it includes workerd\'s own HTTP work and, under wrangler dev, its proxy worker; bench/isolate.mjs measures the isolate alone. Until 2026-12-06 the rows were four chunk requests of 50 (13+13+12+12; 1.29× aiohttp under wrangler dev), as a script had to split 200 URLs for an edge that took 50 per request; one request now carries them, and keeps production\'s six connections per invocation.\n<!-- bench:dev:end -->\n';
  writeSection('dev', md);
  console.log(JSON.stringify({ ms: m, cpu: { dev: cDev, plain: cPlain } }));
} finally {
  slow.server.closeAllConnections(); slow.server.close();
  fast.server.closeAllConnections(); fast.server.close();
}
