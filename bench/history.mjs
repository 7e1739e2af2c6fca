// Persisting 10,000 result rows in D1 while they stream, and what it costs the
// stream.
//
//   make bench-history   (sets up, builds, starts wrangler dev, runs this)
//
// N URLs of the built-in demo shop (each unique through the ignored `tag`
// knob, so each is its own row) go through POST /api/v1/runs as one logical
// run split into chunk requests of CHUNK URLs, LANES at a time, as the browser
// sends them. Runs that save (`save` on, the default) and runs that do not
// (`"save": false`) alternate A B A B, RUNS times each. Reported: wall time and
// URLs/s of both, their ratio, the rows D1 holds afterwards (checked), and
// rows per second of D1 write time (the summaries' `saved.write_ms`). Written to
// BENCHMARKS.md between markers. Every loop here is bounded.
import { median, writeSection } from './common.mjs';
import os from 'node:os';

const BASE = process.env.FANOUT_URL ?? 'http://127.0.0.1:8798';
const N = Number(process.env.BENCH_HISTORY_N ?? 10_000);
const CHUNK = Number(process.env.BENCH_HISTORY_CHUNK ?? 1000);
const LANES = Number(process.env.BENCH_HISTORY_LANES ?? 2);
const C = Number(process.env.BENCH_HISTORY_C ?? 100);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

// Demo page latency: 0 ms (the edge is CPU-bound, the worst case for saving
// beside the stream) and 50 ms (it mostly waits on I/O, as with real shops).
const LATENCIES = [0, 50];
let urls = [];
const urlsFor = (ms) => Array.from({ length: N }, (_, k) => `${BASE}/demo/products/${(k % 200) + 1}?tag=${k}${ms ? `&latency_ms=${ms}` : ''}`);

async function chunk(runId, offset, save) {
  const resp = await fetch(`${BASE}/api/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ urls: urls.slice(offset, offset + CHUNK), run_id: runId, run_offset: offset, save, concurrency: C }),
    signal: AbortSignal.timeout(300_000),
  });
  if (!resp.ok) throw new Error(`run answered ${resp.status}: ${await resp.text()}`);
  const lines = (await resp.text()).trim().split('\n').map((l) => JSON.parse(l));
  const s = lines.at(-1);
  if (s.type !== 'summary') throw new Error('no summary');
  if (s.saved?.error) throw new Error(s.saved.error);
  return { done: s.done, rows: s.saved?.rows ?? 0, writeMs: s.saved?.write_ms ?? 0 };
}

async function once(runId, save) {
  const offsets = [];
  for (let o = 0; o < N; o += CHUNK) offsets.push(o);
  const t = performance.now();
  const results = [];
  await Promise.all(Array.from({ length: LANES }, async () => {
    for (let o = offsets.shift(); o !== undefined; o = offsets.shift()) results.push(await chunk(runId, o, save));
  }));
  const ms = performance.now() - t;
  const sum = (k) => results.reduce((n, r) => n + r[k], 0);
  if (sum('done') !== N) throw new Error(`${sum('done')} of ${N} URLs done`);
  return { ms, rows: sum('rows'), writeMs: sum('writeMs') };
}


async function scenario(latency) {
  urls = urlsFor(latency);
  await once('rbenchwarm', false);
  const saving = [];
  const plain = [];
  for (let r = 0; r < RUNS; r += 1) {
    const id = `rbench${Date.now().toString(16)}`;
    const a = await once(id, true);
    // What D1 holds for the run: every row, in the order given.
    const got = await (await fetch(`${BASE}/api/v1/runs/${id}`, { signal: AbortSignal.timeout(120_000) })).json();
    if (got.run.total !== N || got.results.length !== N || got.results[N - 1].url !== urls[N - 1]) {
      throw new Error(`D1 holds ${got.run.total} rows of ${N}`);
    }
    a.stored = got.run.total;
    await fetch(`${BASE}/api/v1/runs/${id}`, { method: 'DELETE', signal: AbortSignal.timeout(60_000) });
    saving.push(a);
    plain.push(await once(`rbenchoff${r}`, false));
    console.log(`latency ${latency} ms, run ${r + 1}: saving ${(N / a.ms * 1000).toFixed(0)} URLs/s (${a.rows} rows, D1 busy ${a.writeMs} ms) · not saving ${(N / plain.at(-1).ms * 1000).toFixed(0)} URLs/s`);
  }
  const m = (xs, k) => median(xs.map((x) => x[k]));
  return { latency, sMs: m(saving, 'ms'), pMs: m(plain, 'ms'), wMs: m(saving, 'writeMs'), stored: m(saving, 'stored') };
}

async function main() {
  const rows = [];
  for (const latency of LATENCIES) rows.push(await scenario(latency));
  let md = `<!-- bench:history:start -->\n## Run history: persisting ${N.toLocaleString('en')} result rows in D1\n\n`;
  md += `Reproduce: \`make bench-history\`. One logical run of ${N} demo-shop URLs (served in-process, extraction on), sent as chunk requests of ${CHUNK} URLs, ${LANES} at a time, concurrency ${C} each, under wrangler dev with its local D1 (SQLite). Saving runs and \`"save": false\` runs alternate, ${RUNS} each after a warm-up; medians. `;
  md += `Machine: ${os.cpus().length} cores, ${new Date().toISOString().slice(0, 10)}.\n\n`;
  md += `| page latency | saving: wall time | URLs/s | not saving: wall time | URLs/s | throughput ratio (saving / not) | rows in D1 after | D1 busy time | rows/s of D1 busy time |\n|---|---|---|---|---|---|---|---|---|\n`;
  for (const r of rows) {
    md += `| ${r.latency} ms | ${(r.sMs / 1000).toFixed(2)} s | ${(N / r.sMs * 1000).toFixed(0)} | ${(r.pMs / 1000).toFixed(2)} s | ${(N / r.pMs * 1000).toFixed(0)} | **${(r.pMs / r.sMs).toFixed(2)}** | ${r.stored} (checked) | ${(r.wMs / 1000).toFixed(2)} s | ${(N / (r.wMs / 1000)).toFixed(0)} |\n`;
  }
  md += `\nA ratio of 1.00 means saving costs the stream nothing. Each URL is a results row with its saved events (the timeline a reopened run is drawn from, about 1 KB) plus a products row, written 250 URLs to a D1 batch of 3 statements (rows unpacked from one JSON parameter by \`json_each\`) beside the stream; only each request's summary waits for its writes. `;
  md += `At 0 ms the edge is CPU-bound and the local D1 competes with it for the machine's ${os.cpus().length} cores; at 50 ms part of each request is spent waiting on I/O, as with real shops (the ideal for 200 in flight is 2.5 s, so the edge is still partly CPU-bound). `;
  md += `D1 busy time is, per chunk request, the time it had at least one write in flight, summed over requests; the ${LANES} lanes overlap, so rows/s of D1 busy time is a lower bound. `;
  md += `The seed's figure is asyncpg's 100,000-row batch insert into PostgreSQL: one bulk insert on a database server, not writes beside a live stream. It is not run here (that would need a PostgreSQL server beside the benchmark), so it is set beside these figures, not measured against them.\n<!-- bench:history:end -->\n`;
  writeSection('history', md);
  console.log(md);
}

main().catch((e) => { console.error(e); process.exit(1); });
