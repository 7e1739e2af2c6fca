// Background jobs (#19): a job of N=10,000 URLs against the ideal and the
// asyncio+aiohttp crawler on the same loopback upstream, in the same run; the
// edge's CPU per URL for a job and for a streamed run; the edge's memory as a
// job grows from 1,000 to 100,000 URLs. Written to BENCHMARKS.md between the
// `bench:jobs` markers.
//
//   make bench-jobs   (or `make bench`, which runs it with the others)
//
// - Time: a job (POST /api/v1/jobs, then its status polled every 250 ms, as a
//   script that starts a job and waits would; finished_at on the edge's clock
//   less the client's clock at the POST, one machine), aiohttp (its own
//   timer), and the same URLs as one streamed run (POST /api/v1/runs, read to
//   its summary), interleaved A B C, ROUNDS times, medians. Every page answers
//   after L=100 ms; concurrency C=50 everywhere, per-host cap 50 (one host).
//   Jobs always save their results to the run history, so the streamed run
//   saves too.
// - CPU per URL: the utime+stime of the workerd process that wrangler dev
//   runs (it hosts the Worker, the job's Durable Object, its lanes' shards
//   and D1; found by its session, FANOUT_BENCH_SID) over each job and each
//   streamed run, divided by N. The upstream and this driver are other
//   processes.
// - Memory: workerd's resident set, and the isolate's wasm memory (from
//   /api/v1/health), sampled every 100 ms while one job of 1,000, 10,000 and
//   100,000 URLs (latency 0) is created and while it runs.
// Every loop here is bounded in count and time.
import os from 'node:os';
import { cpuOf, median, rssOf, runAiohttp, sessionProcesses, startUpstream, writeSection, apiCall } from './common.mjs';

const BASE = process.env.FANOUT_URL ?? 'http://127.0.0.1:8798';
const PY = process.env.BENCH_PYTHON ?? 'bench/.venv/bin/python';
const SID = Number(process.env.FANOUT_BENCH_SID ?? 0);
const ROUNDS = Number(process.env.BENCH_JOB_RUNS ?? 3);
const N = 10_000;
const L = 100;
const C = 50;
const SIZES = (process.env.BENCH_JOB_SIZES ?? '1000,10000,100000').split(',').map(Number);

// The workerd processes of wrangler dev's session.
const PROCS = sessionProcesses(SID, 'workerd');
const cpuMs = () => cpuOf(PROCS).all;
const rssMb = () => rssOf(PROCS);
// The isolate's wasm memory (MB): under wrangler dev the Worker, the job's
// object and every shard share one isolate, so this is all of them at once.
let wasmMb = 0;
const wasm = async () => {
  try {
    const h = await (await fetch(`${BASE}/api/v1/health`, { signal: AbortSignal.timeout(5000) })).json();
    wasmMb = Math.max(wasmMb, (h.wasm_memory_bytes ?? 0) / 1024 / 1024);
  } catch { /* busy: the next sample */ }
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const api = (method, path, body) => apiCall(BASE, method, path, body, 600_000);

const options = { concurrency: C, per_host: C, timeout_ms: 10_000, retry: { max_attempts: 3 }, extract: false };

/**
 * One job over `urls`, waited for by polling its status; deleted after.
 * `sample` is called every 100 ms with 'create' or 'run'.
 */
async function job(urls, { limitMs = 600_000, sample } = {}) {
  let phase = 'create';
  const sampler = sample && setInterval(() => sample(phase), 100);
  try {
    const start = Date.now();
    const cpu0 = cpuMs();
    const { job_id } = await api('POST', '/api/v1/jobs', { urls, ...options });
    phase = 'run';
    let status;
    for (let i = 0; i < limitMs / 250; i += 1) {
      status = await api('GET', `/api/v1/jobs/${job_id}`);
      if (status.state !== 'queued' && status.state !== 'running') break;
      await sleep(250);
    }
    const cpu = cpuMs() - cpu0;
    if (status.state !== 'done' || status.counts.done !== urls.length) {
      throw new Error(`job ${job_id}: ${JSON.stringify(status)}`);
    }
    await api('DELETE', `/api/v1/jobs/${job_id}`);
    return { ms: status.finished_at - start, cpu, status };
  } finally {
    clearInterval(sampler);
  }
}

/** The same URLs as one streamed run, read to its summary. */
async function streamed(urls) {
  const t = performance.now();
  const cpu0 = cpuMs();
  const resp = await fetch(`${BASE}/api/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ urls, ...options, save: true }),
    signal: AbortSignal.timeout(600_000),
  });
  if (!resp.ok) throw new Error(`run answered ${resp.status}: ${await resp.text()}`);
  const lines = (await resp.text()).trim().split('\n');
  const ms = performance.now() - t;
  const cpu = cpuMs() - cpu0;
  const s = JSON.parse(lines.at(-1));
  if (s.type !== 'summary' || s.done !== urls.length) throw new Error(`streamed run: ${lines.at(-1).slice(0, 300)}`);
  await api('DELETE', `/api/v1/runs/${s.saved?.run_id ?? s.run_id}`).catch(() => {});
  return { ms, cpu };
}

async function main() {
  const up = await startUpstream(L);
  try {
    const urls = Array.from({ length: N }, (_, i) => `${up.origin}/p/${i + 1}`);
    // Warm-up: every path once, small.
    await job(urls.slice(0, 200));
    await runAiohttp(PY, urls.slice(0, 200), C);
    await streamed(urls.slice(0, 200));
    const r = { job: [], jobCpu: [], aio: [], run: [], runCpu: [], maxInFlight: [] };
    for (let i = 0; i < ROUNDS; i += 1) {
      up.stats.maxInFlight = 0;
      const j = await job(urls);
      r.maxInFlight.push(up.stats.maxInFlight);
      r.job.push(j.ms);
      r.jobCpu.push(j.cpu);
      r.aio.push(await runAiohttp(PY, urls, C, 600_000));
      const s = await streamed(urls);
      r.run.push(s.ms);
      r.runCpu.push(s.cpu);
      console.log(`round ${i + 1}: job ${j.ms} ms (cpu ${j.cpu.toFixed(0)} ms, most in flight ${up.stats.maxInFlight}), aiohttp ${r.aio.at(-1).toFixed(0)} ms, streamed ${s.ms.toFixed(0)} ms (cpu ${s.cpu.toFixed(0)} ms)`);
    }
    const med = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, median(v)]));
    const ideal = Math.ceil(N / C) * L;

    const mem = [];
    for (const n of SIZES) {
      const base = rssMb();
      const peak = { create: base, run: base };
      const sample = (phase) => { peak[phase] = Math.max(peak[phase], rssMb()); void wasm(); };
      const list = Array.from({ length: n }, (_, i) => `${up.origin}/p/${i + 1}?ms=0`);
      wasmMb = 0;
      await wasm();
      const wasmBase = wasmMb;
      const j = await job(list, { limitMs: 1_800_000, sample });
      const row = { n, base, create: peak.create, run: peak.run, ms: j.ms, wasmBase, wasm: wasmMb };
      mem.push(row);
      console.log(`memory, ${n} URLs: workerd ${base.toFixed(0)} MB before, peak ${peak.create.toFixed(0)} MB while created, ${peak.run.toFixed(0)} MB while running, wasm ${wasmBase.toFixed(0)} → ${wasmMb.toFixed(0)} MB (${j.ms} ms)`);
    }

    const f = (x, d = 0) => x.toFixed(d);
    const date = new Date().toISOString().slice(0, 10);
    let md = '<!-- bench:jobs:start -->\n## Background jobs: a 10,000-URL job against the ideal and aiohttp\n\n';
    md += `Reproduce: \`make bench-jobs\` (${date}; ${os.cpus().length} cores; wrangler dev on loopback, keeping six connections per invocation, with its local Durable Objects (the job's, and its lanes' shards) and D1). `;
    md += `N=${N} pages of ~10 KB at L=${L} ms from one loopback upstream, concurrency ${C} (per-host cap ${C}) everywhere; `;
    md += `a job (created, then its status polled every 250 ms; time from the POST to its \`finished_at\`), the asyncio+aiohttp crawler, and the same URLs as one streamed run, interleaved, ${ROUNDS} rounds after a warm-up, medians. `;
    md += 'Jobs save every result to the run history, so the streamed run saves too.\n\n';
    md += '| way | time | vs ideal | vs aiohttp | edge CPU per URL |\n|---|---|---|---|---|\n';
    md += `| ideal ceil(N/C)·L | ${ideal} ms | 1.00× | | |\n`;
    md += `| asyncio+aiohttp | ${f(med.aio)} ms | ${f(med.aio / ideal, 2)}× | 1.00× | (not on the edge) |\n`;
    md += `| Fanout job | ${f(med.job)} ms | ${f(med.job / ideal, 2)}× | ${f(med.job / med.aio, 2)}× | ${f(med.jobCpu / N, 3)} ms |\n`;
    md += `| Fanout streamed run | ${f(med.run)} ms | ${f(med.run / ideal, 2)}× | ${f(med.run / med.aio, 2)}× | ${f(med.runCpu / N, 3)} ms |\n\n`;
    md += `Most requests in flight at the upstream during a job: ${r.maxInFlight.join(', ')} (cap ${C}). `;
    md += 'CPU is the workerd process\'s user+system time over the whole job or run, divided by N: under wrangler dev it hosts the Worker, the job\'s object, the shards and D1 alike, so a job\'s figure includes its object\'s SQLite, the hand-outs and reports between it and its lanes, and the D1 writes; wrangler\'s own node process (the HTTP proxy in front) is not counted.\n\n';
    md += '### Memory as a job grows\n\nworkerd\'s resident set, sampled every 100 ms, around one job per size (upstream latency 0, same options):\n\n';
    md += '| URLs | workerd before | peak while created | peak while running | running − before | the isolate\'s wasm memory, before → peak | job time |\n|---|---|---|---|---|---|---|\n';
    for (const m of mem) {
      md += `| ${m.n.toLocaleString('en')} | ${f(m.base)} MB | ${f(m.create)} MB | ${f(m.run)} MB | ${f(m.run - m.base)} MB | ${f(m.wasmBase)} → ${f(m.wasm)} MB | ${f(m.ms / 1000, 1)} s |\n`;
    }
    md += '\nworkerd\'s resident set holds everything this machine runs for the edge: under wrangler dev the Worker, the job\'s object, its lanes\' shards, the local D1 (the run history gets every result) and the objects\' SQLite, whose page caches grow with their files, in one process, with V8 keeping its heap\'s high-water mark. The wasm memory is the Rust heap of the one isolate they share here; deployed, each of them is an isolate of its own with its own 128 MB, so the local figure is an upper bound for each. Creating a job holds its list once (the request body, parsed and checked, then written to the object\'s SQLite); while it runs, the object keeps its caps, grants and leases in memory and reads pending URLs from SQLite a batch at a time, and a shard holds its lane\'s batch and the next.\n<!-- bench:jobs:end -->\n';
    writeSection('jobs', md);
    console.log('wrote the jobs section of BENCHMARKS.md');
  } finally {
    up.server.closeAllConnections();
    up.server.close();
  }
}

await main();
