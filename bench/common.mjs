// What the benchmark drivers share: the median, writing one section of
// BENCHMARKS.md between its `<!-- bench:NAME:start/end -->` markers, the
// fixed-latency loopback upstream, and the asyncio+aiohttp peer.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';

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
