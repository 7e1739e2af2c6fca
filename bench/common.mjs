// What the benchmark drivers share: the median, writing one section of
// BENCHMARKS.md between its `<!-- bench:NAME:start/end -->` markers, the
// fixed-latency loopback upstream, the asyncio+aiohttp peer, the CPU time and
// memory of a server's processes (from /proc), and a CPU profile's self time
// by function.
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';

const TICK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** Fields of /proc/PID/stat after the command name (so field 3 is the session). */
const statFields = (pid) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), f: stat.slice(stat.lastIndexOf(')') + 2).split(' ') };
};

/** The processes (`{pid, comm}`) of session `sid`, only those named `comm` if given. */
export function sessionProcesses(sid, comm) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = statFields(d);
      if (Number(s.f[3]) === sid && (!comm || s.comm === comm)) out.push({ pid: Number(d), comm: s.comm });
    } catch { /* gone */ }
  }
  if (!out.length) throw new Error(`no ${comm ?? 'process'} in session ${sid}`);
  return out;
}

/** CPU time (user + system, ms) of `procs` so far: in all, and by command name. */
export function cpuOf(procs) {
  const by = {};
  let all = 0;
  for (const { pid, comm } of procs) {
    try {
      const { f } = statFields(pid);
      const ms = ((Number(f[11]) + Number(f[12])) * 1000) / TICK;
      by[comm] = (by[comm] ?? 0) + ms;
      all += ms;
    } catch { /* gone */ }
  }
  return { all, by };
}

/** Resident set of `procs` (MB). */
export function rssOf(procs) {
  let kb = 0;
  for (const { pid } of procs) {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
    kb += Number(m?.[1] ?? 0);
  }
  return kb / 1024;
}

/**
 * The time (ms) one sample of a CDP CPU profile stands for: the sampler's
 * real period, its median interval. Not each sample's own time delta:
 * workerd's isolate is sampled only while its thread is inside V8, so a
 * delta also holds the wait before it, and summing deltas counts waiting
 * as work.
 */
export function sampleTick(profile) {
  return median(profile.timeDeltas) / 1000;
}

/** The `n` functions with the most self time (ms) in a CDP CPU profile, most first (see `sampleTick`). */
export function selfTimes(profile, n) {
  const tick = sampleTick(profile);
  const self = new Map();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  profile.samples.forEach((id) => {
    const f = byId.get(id).callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}`;
    self.set(key, (self.get(key) ?? 0) + tick);
  });
  return [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => [k, Math.round(v * 10) / 10]);
}

/** The median (the upper one of an even count). */
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Put `md` (markers included) in place of section `name`, or append it. */
export function writeSection(name, md) {
  const doc = readFileSync('BENCHMARKS.md', 'utf8');
  const re = new RegExp(`<!-- bench:${name}:start -->[\\s\\S]*<!-- bench:${name}:end -->\\n`);
  writeFileSync('BENCHMARKS.md', re.test(doc) ? doc.replace(re, () => md) : `${doc.trimEnd()}\n\n${md}`);
}

/** A product page of realistic size (~10 KB, JSON-LD) for the loopback upstreams. */
export function page(i) {
  const ld = JSON.stringify({
    '@context': 'https://schema.org', '@type': 'Product', name: `Bench Product ${i}`, sku: `B-${i}`,
    offers: { '@type': 'Offer', price: (10 + (i % 90)).toFixed(2), priceCurrency: 'EUR', availability: 'https://schema.org/InStock' },
  });
  const filler = Array.from({ length: 40 }, (_, r) => `<div class="review"><b>Customer ${r}</b><p>Arrived quickly and works as described; the finish is good for the price.</p></div>`).join('\n');
  return `<!doctype html><html><head><title>Bench Product ${i}</title><script type="application/ld+json">${ld}</script></head><body><h1>Bench Product ${i}</h1>${filler}</body></html>`;
}

/**
 * A fixed-latency upstream on loopback: `/p/{i}?ms=L` answers page i after L
 * ms (default `latency`). It counts requests: `stats.inFlight`, the most at
 * once `stats.maxInFlight`, and `stats.served`.
 */
export async function startUpstream(latency) {
  const pages = new Map();
  const stats = { inFlight: 0, maxInFlight: 0, served: 0 };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const i = Number(url.pathname.split('/').pop()) || 0;
    const ms = Number(url.searchParams.get('ms') ?? latency);
    if (!pages.has(i)) pages.set(i, page(i));
    stats.inFlight += 1;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(pages.get(i));
      stats.inFlight -= 1;
      stats.served += 1;
    }, ms);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, stats, origin: `http://127.0.0.1:${server.address().port}` };
}

/**
 * The asyncio+aiohttp crawler (bench/crawler.py under `python`) over `urls` at
 * concurrency `c`: its own elapsed ms (interpreter start-up excluded, so the
 * comparison is of the crawl alone). Killed after `limitMs`.
 */
export function runAiohttp(python, urls, c, limitMs = 120_000) {
  return new Promise((resolve, reject) => {
    const p = spawn(python, ['bench/crawler.py', '--concurrency', String(c), '--timeout', '10'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), limitMs);
    p.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`crawler exited ${code}`));
      const r = JSON.parse(out);
      if (r.ok !== urls.length) return reject(new Error(`aiohttp: ${r.ok} of ${urls.length} ok`));
      resolve(r.elapsed_ms);
    });
    p.stdin.end(urls.join('\n'));
  });
}

/**
 * `method path` on the edge at `base` with an optional JSON `body`, for a
 * 2xx JSON answer (anything else throws, with the start of the answer).
 */
export async function apiCall(base, method, path, body, timeoutMs = 120_000) {
  const resp = await fetch(`${base}${path}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await resp.text();
  if (!resp.ok) throw new Error(`${method} ${path} answered ${resp.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** The lines of an NDJSON response body as they arrive (empty lines skipped). */
export async function* ndjsonLines(body) {
  const dec = new TextDecoder();
  let buf = '';
  for await (const chunk of body) {
    buf += dec.decode(chunk, { stream: true });
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) yield line;
    }
  }
}

/**
 * `POST /api/v1/runs` with `body` on the edge at `base`, read to its end:
 * its summary. `onLine` sees every other line (raw). A non-2xx throws.
 */
export async function postRun(base, body, timeoutMs, onLine = () => {}) {
  const resp = await fetch(`${base}/api/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!resp.ok) throw new Error(`the run answered ${resp.status}: ${await resp.text()}`);
  let summary;
  for await (const line of ndjsonLines(resp.body)) {
    if (line.includes('"type":"summary"')) summary = JSON.parse(line);
    else onLine(line);
  }
  return summary;
}
