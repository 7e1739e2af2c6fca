// Discovery crawling: the demo shop crawled from its home page against the
// same pages given as a list, and the memory a crawl holds per URL it has
// discovered. Written to BENCHMARKS.md between the `bench:crawl` markers.
//
//   make bench-crawl   (or `make bench`, which runs it with the others)
//
// 1. Pages per second: one edge request under wrangler dev each, the shop's
//    pages answering after 100 ms (the `latency_ms` knob, carried along the
//    shop's links), concurrency 50, extraction on. Three ways, alternating,
//    RUNS rounds after a warm-up, medians: a crawl obeying robots.txt (the
//    shop asks Fanout for a 10 ms Crawl-delay), a crawl ignoring it, and the
//    very URLs the crawl found, as a list.
// 2. Memory per discovered URL: shared/examples/crawl_memory.rs (native),
//    one process per size.
// Every loop here is bounded.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { median, writeSection } from './common.mjs';

const BASE = process.env.FANOUT_URL ?? 'http://127.0.0.1:8798';
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const C = 50;
const LATENCY = 100;

async function post(body) {
  const t = performance.now();
  const resp = await fetch(`${BASE}/api/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ concurrency: C, per_host: C, extract: true, save: false, ...body }),
    signal: AbortSignal.timeout(300_000),
  });
  if (!resp.ok) throw new Error(`run answered ${resp.status}: ${await resp.text()}`);
  const events = (await resp.text()).trim().split('\n').map((l) => JSON.parse(l));
  const ms = performance.now() - t;
  const s = events.at(-1);
  if (s.type !== 'summary' || s.failed || s.cancelled) throw new Error(`not a clean run: ${JSON.stringify(s).slice(0, 300)}`);
  return { ms, s, done: events.filter((e) => e.type === 'done') };
}

// Ignoring robots.txt, the private pages it disallows are left out by a
// pattern instead, so all three ways fetch the same pages.
const crawl = (robots) => post({ urls: [`${BASE}/demo/?latency_ms=${LATENCY}`], crawl: { max_depth: 3, max_pages: 400, robots, exclude: ['**/private/*'] } });

async function main() {
  const first = await crawl('obey');
  const urls = first.done.map((e) => e.url);
  const products = urls.filter((u) => u.includes('/demo/products/')).length;
  if (products !== 240) throw new Error(`the crawl found ${products} of 240 products`);
  const list = () => post({ urls });
  await crawl('ignore');
  await list();
  const ms = { obey: [], ignore: [], list: [] };
  for (let r = 0; r < RUNS; r += 1) {
    ms.obey.push((await crawl('obey')).ms);
    ms.ignore.push((await crawl('ignore')).ms);
    ms.list.push((await list()).ms);
  }
  const med = Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, median(v)]));
  const rate = (m) => (urls.length / m) * 1000;
  const ideal = Math.ceil(urls.length / C) * LATENCY;
  console.log(`crawl obey ${med.obey.toFixed(0)} ms, ignore ${med.ignore.toFixed(0)} ms, list ${med.list.toFixed(0)} ms for ${urls.length} pages`);

  const mem = [10_000, 50_000].map((n) => {
    const out = execFileSync('cargo', ['run', '-q', '--release', '-p', 'fanout-shared', '--features', 'crawl', '--example', 'crawl_memory', '--', String(n), '--json'],
      { encoding: 'utf8', timeout: 900_000, stdio: ['ignore', 'pipe', 'inherit'] });
    return JSON.parse(out.trim().split('\n').at(-1));
  });
  const marginal = (mem[1].bytes - mem[0].bytes) / (mem[1].urls - mem[0].urls);

  const date = new Date().toISOString().slice(0, 10);
  const f = (x, d = 0) => x.toFixed(d);
  let md = '<!-- bench:crawl:start -->\n## Crawling the demo shop against the same pages as a list\n\n';
  md += `Reproduce: \`make bench-crawl\` (${date}; ${os.cpus().length} cores; wrangler dev on loopback). `;
  md += `The demo shop crawled from \`/demo/?latency_ms=${LATENCY}\` (depth 3, every product reachable; the knob is carried along the shop's links, so every page answers after ${LATENCY} ms), `;
  md += `concurrency ${C}, extraction on, one edge request each; the list is the very ${urls.length} URLs the crawl fetched (${products} products, the home page, 20 category pages and the sitemap). `;
  md += `Each way ${RUNS} times after a warm-up, alternating, medians of the whole request as the client sees it.\n\n`;
  md += '| way | time | pages / s | vs the list |\n|---|---|---|---|\n';
  md += `| list of the same ${urls.length} URLs | ${f(med.list)} ms | ${f(rate(med.list))} | 1.00× |\n`;
  md += `| crawl, robots.txt ignored | ${f(med.ignore)} ms | ${f(rate(med.ignore))} | ${f(med.ignore / med.list, 2)}× the time |\n`;
  md += `| crawl, robots.txt obeyed (Crawl-delay 10 ms) | ${f(med.obey)} ms | ${f(rate(med.obey))} | ${f(med.obey / med.list, 2)}× the time |\n\n`;
  md += `The list's ideal at C=${C} is ceil(${urls.length}/${C})·${LATENCY} ms = ${ideal} ms (${f(med.list / ideal, 2)}× of it here). `;
  md += `A crawl cannot start a page before a page linking to it has been read: the home page, then the categories, then their second pages and the products, so its floor is about four latencies deep before the last products even start. `;
  md += `Obeying robots.txt adds its fetch (one more round trip before the first page) and the shop's Crawl-delay: with starts on the one host at least 10 ms apart (up to 15 ms), at most about ${f(1000 / 12.5)} pages start per second, whatever the concurrency.\n\n`;
  md += `Memory a crawl holds per discovered URL (\`cargo run --release -p fanout-shared --features crawl --example crawl_memory -- N\`; the growth of the process's resident memory with N URLs of ${mem[0].url_len} bytes discovered and waiting: the canonical key in the seen set, the page record, the scheduler's job and slot):\n\n`;
  md += '| URLs discovered | memory held | per URL |\n|---|---|---|\n';
  for (const m of mem) md += `| ${m.urls.toLocaleString('en')} | ${f(m.bytes / 1048576, 1)} MB | ${f(m.bytes / m.urls)} bytes |\n`;
  md += `\nMarginal: ${f(marginal)} bytes per URL between the two sizes, about ${f(marginal / mem[0].url_len, 1)}× the URL's own length (it is held three times: as found, as its key, and in the scheduler). At ${f(marginal)} bytes, the 1,000 pages an interactive crawl may fetch cost under 1 MB of the Worker's 128 MB.\n`;
  md += '<!-- bench:crawl:end -->\n';
  writeSection('crawl', md);
}

main().catch((e) => { console.error(e); process.exit(1); });
