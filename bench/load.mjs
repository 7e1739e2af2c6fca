// Load-test mode against oha, side by side on the same loopback endpoint.
//
//   make bench-load   (sets up, builds, starts wrangler dev, runs this)
//
// A Node upstream on loopback answers "ok" after a fixed delay. For a 20 ms
// endpoint and a zero-latency one, oha (installed from crates.io) and Fanout
// (one POST /api/v1/load, read by a plain client) send the same N requests at
// the same concurrency C, interleaved A B A B, RUNS times each. Medians of
// rps, p50 and p99 and their ratios (Fanout / oha) are written to
// BENCHMARKS.md between markers. Every loop here is bounded.
import http from 'node:http';
import { spawn } from 'node:child_process';
import { median, writeSection } from './common.mjs';
import os from 'node:os';

const BASE = process.env.FANOUT_URL ?? 'http://127.0.0.1:8798';
const OHA = process.env.OHA ?? 'oha';
const N = Number(process.env.BENCH_LOAD_N ?? 2000);
const C = Number(process.env.BENCH_LOAD_C ?? 50);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const ENDPOINTS = [20, 0];

// Requests in flight at the upstream now and at most (reset per run).
const seen = { inFlight: 0, max: 0 };

async function startUpstream() {
  const server = http.createServer((req, res) => {
    const ms = Number(new URL(req.url, 'http://x').searchParams.get('ms') ?? 0);
    seen.inFlight += 1;
    seen.max = Math.max(seen.max, seen.inFlight);
    const send = () => { seen.inFlight -= 1; res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' }); res.end('ok'); };
    if (ms > 0) setTimeout(send, ms); else send();
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

function runOha(url) {
  return new Promise((resolve, reject) => {
    const child = spawn(OHA, ['-n', String(N), '-c', String(C), '--no-tui', '--output-format', 'json', url], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => child.kill('SIGTERM'), 120_000);
    child.stdout.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`oha exited ${code}`));
      const j = JSON.parse(out);
      const codes = j.statusCodeDistribution ?? {};
      resolve({
        rps: j.summary.requestsPerSec,
        p50: j.latencyPercentiles.p50 * 1000,
        p99: j.latencyPercentiles.p99 * 1000,
        ok: Object.entries(codes).reduce((n, [k, v]) => n + (k === '200' ? v : 0), 0),
      });
    });
  });
}

// The same worker under workerd alone (bench/workerd.capnp), when given.
const PLAIN = process.env.FANOUT_PLAIN_URL;

async function runFanout(url, base = BASE) {
  seen.max = 0;
  const resp = await fetch(`${base}/api/v1/load`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url, requests: N, concurrency: C }),
    signal: AbortSignal.timeout(120_000),
  });
  if (!resp.ok) throw new Error(`fanout answered ${resp.status}: ${await resp.text()}`);
  const lines = (await resp.text()).trim().split('\n').map((l) => JSON.parse(l));
  const s = lines.at(-1);
  if (s.type !== 'load_summary') throw new Error(`no summary: ${JSON.stringify(s).slice(0, 200)}`);
  return { rps: s.rps, p50: s.latency.p50_us / 1000, p99: s.latency.p99_us / 1000, ok: s.statuses['200'] ?? 0, max: seen.max };
}

const f1 = (x) => x.toFixed(1);
const f2 = (x) => x.toFixed(2);

async function main() {
  const up = await startUpstream();
  const rows = [];
  try {
    for (const ms of ENDPOINTS) {
      const url = `${up.origin}/fixed?ms=${ms}`;
      // Warm both (connections, JIT), then interleave.
      await runOha(url);
      await runFanout(url);
      if (PLAIN) await runFanout(url, PLAIN);
      const oha = [];
      const fan = [];
      const plain = [];
      for (let r = 0; r < RUNS; r += 1) {
        oha.push(await runOha(url));
        fan.push(await runFanout(url));
        if (PLAIN) plain.push(await runFanout(url, PLAIN));
        console.log(`ms=${ms} run ${r + 1}: oha ${f1(oha.at(-1).rps)} rps p50 ${f2(oha.at(-1).p50)} · fanout ${f1(fan.at(-1).rps)} rps p50 ${f2(fan.at(-1).p50)}`);
      }
      for (const x of [...oha, ...fan, ...plain]) if (x.ok !== N) throw new Error(`a run answered ${x.ok} of ${N} with 200`);
      const m = (xs, k) => median(xs.map((x) => x[k]));
      rows.push({ ms, maxSeen: fan.map((x) => x.max), oha: { rps: m(oha, 'rps'), p50: m(oha, 'p50'), p99: m(oha, 'p99') }, fan: { rps: m(fan, 'rps'), p50: m(fan, 'p50'), p99: m(fan, 'p99') }, plain: PLAIN ? { rps: m(plain, 'rps'), p50: m(plain, 'p50'), p99: m(plain, 'p99') } : undefined });
    }
  } finally {
    up.server.closeAllConnections();
    up.server.close();
  }
  let md = `<!-- bench:load:start -->\n## Load-test mode: Fanout vs oha\n\n`;
  md += `Reproduce: \`make bench-load\` (or \`make bench\`, which runs it after the fan-out benchmark). `;
  md += `N=${N} requests at C=${C} to one loopback endpoint that answers "ok" after a fixed delay; oha ${await ohaVersion()} and Fanout's \`POST /api/v1/load\` (one edge request under wrangler dev, fanned out over ceil(C/6) shards, six connections each; the upstream counts what it has in flight) alternate, ${RUNS} runs each after a warm-up, medians shown. `;
  md += `Machine: ${os.cpus().length} cores, ${new Date().toISOString().slice(0, 10)}. Only the ratios are meant to be compared.\n\n`;
  md += `| endpoint | oha rps | Fanout rps | rps ratio | oha p50 | Fanout p50 | p50 ratio | oha p99 | Fanout p99 | p99 ratio |\n|---|---|---|---|---|---|---|---|---|---|\n`;
  for (const r of rows) {
    md += `| ${r.ms} ms | ${f1(r.oha.rps)} | ${f1(r.fan.rps)} | ${f2(r.fan.rps / r.oha.rps)} | ${f2(r.oha.p50)} ms | ${f2(r.fan.p50)} ms | ${f2(r.fan.p50 / r.oha.p50)} | ${f2(r.oha.p99)} ms | ${f2(r.fan.p99)} ms | ${f2(r.fan.p99 / r.oha.p99)} |\n`;
  }
  if (PLAIN) {
    md += `\nThe same worker on plain workerd (\`bench/workerd.capnp\`, no wrangler dev), interleaved in the same runs:\n\n`;
    md += `| endpoint | plain rps | rps ratio to oha | plain p50 | p50 ratio to oha | plain p99 | p99 ratio to oha |\n|---|---|---|---|---|---|---|\n`;
    for (const r of rows) {
      md += `| ${r.ms} ms | ${f1(r.plain.rps)} | ${f2(r.plain.rps / r.oha.rps)} | ${f2(r.plain.p50)} ms | ${f2(r.plain.p50 / r.oha.p50)} | ${f2(r.plain.p99)} ms | ${f2(r.plain.p99 / r.oha.p99)} |\n`;
    }
  }
  const fixed = rows.find((r) => r.ms > 0);
  const within = fixed && Math.abs(fixed.fan.p50 / fixed.oha.p50 - 1) <= 0.10;
  md += `\nMost requests in flight at the upstream during Fanout's runs (C=${C}): ${rows.map((r) => `${r.ms} ms endpoint ${r.maxSeen.join(', ')}`).join('; ')}.\n`;
  md += `\nTarget: p50 within 10% of oha's on the fixed-latency endpoint: ${within ? '**met**' : '**missed**'} (ratio ${fixed ? f2(fixed.fan.p50 / fixed.oha.p50) : 'n/a'} under wrangler dev${fixed && fixed.plain ? `, ${f2(fixed.plain.p50 / fixed.oha.p50)} on plain workerd` : ''}).\n`;
  md += `Fanout's latency is timed inside the shard that sent the request, from when it went out to the end of its body, with the clock the Workers runtime exposes (it advances only on I/O and has millisecond resolution in workerd), so sub-millisecond latencies read as 0 or 1 ms. oha times each request in its own process with a microsecond clock.\n<!-- bench:load:end -->\n`;
  writeSection('load', md);
  console.log(md);
}

function ohaVersion() {
  return new Promise((resolve) => {
    const c = spawn(OHA, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    c.stdout.on('data', (d) => { out += d; });
    c.on('close', () => resolve(out.trim().replace(/^oha\s*/, '') || 'unknown'));
    c.on('error', () => resolve('unknown'));
  });
}

main().catch((e) => { console.error(e); process.exit(1); });
