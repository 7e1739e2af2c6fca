// The native benchmarks and extraction inside workerd, written to
// BENCHMARKS.md between the `bench:native` markers.
//
//   make bench-native   (or `make bench`, which runs it after the others)
//
// 1. Scheduler overhead: shared/examples/scheduler_overhead.rs (native).
// 2. Extraction throughput: shared/examples/extract_throughput.rs (native),
//    then the same pages through the edge under wrangler dev, one at a time
//    (C=1), extraction on and off alternating; (on − off) / N is the
//    extractor's time per page inside workerd, set beside the native figure.
//    The demo pages come from the edge's in-process demo shop. The real
//    900 KB shop page is not run through workerd: under wrangler dev each such
//    body left about 200 sockets open in workerd (towards wrangler's own Node
//    process, not the upstream) for half a minute, and a few hundred pages
//    exhausted its file descriptors.
// Every loop here is bounded.
import { execFileSync } from 'node:child_process';
import { median, writeSection } from './common.mjs';
import os from 'node:os';

const BASE = process.env.FANOUT_URL ?? 'http://127.0.0.1:8798';
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const N = Number(process.env.BENCH_EXTRACT_N ?? 100);

function example(name, features = []) {
  const out = execFileSync('cargo', ['run', '-q', '--release', '-p', 'fanout-shared', ...features, '--example', name, '--', '--json'],
    { encoding: 'utf8', timeout: 900_000, stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(out.trim().split('\n').at(-1));
}

async function runOnce(urls, extract) {
  const t = performance.now();
  const resp = await fetch(`${BASE}/api/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ urls, concurrency: 1, extract, save: false }),
    signal: AbortSignal.timeout(300_000),
  });
  if (!resp.ok) throw new Error(`run answered ${resp.status}: ${await resp.text()}`);
  const lines = (await resp.text()).trim().split('\n').map((l) => JSON.parse(l));
  const ms = performance.now() - t;
  const s = lines.at(-1);
  if (s.done !== urls.length) throw new Error(`${s.done} of ${urls.length} done`);
  const products = lines.filter((e) => e.type === 'done' && e.product?.name).length;
  if (extract && products !== urls.length) throw new Error(`extraction found ${products} of ${urls.length} products`);
  return ms;
}


async function inWorkerd(urls) {
  await runOnce(urls, true);
  const on = [];
  const off = [];
  for (let r = 0; r < RUNS; r += 1) {
    on.push(await runOnce(urls, true));
    off.push(await runOnce(urls, false));
  }
  return { on: median(on), off: median(off), perPage: (median(on) - median(off)) / urls.length };
}

async function main() {
  const sched = example('scheduler_overhead');
  const native = example('extract_throughput', ['--features', 'extract']);
  const pages = {
    padded: Array.from({ length: N }, (_, k) => `${BASE}/demo/products/7?huge_kb=100&tag=${k}`),
    demo: Array.from({ length: N }, (_, k) => `${BASE}/demo/products/7?tag=${k}`),
  };
  const edge = {};
  for (const [key, urls] of Object.entries(pages)) {
    edge[key] = await inWorkerd(urls);
    console.log(`${key}: workerd ${edge[key].perPage.toFixed(3)} ms/page (on ${edge[key].on.toFixed(0)} ms, off ${edge[key].off.toFixed(0)} ms)`);
  }
  const date = new Date().toISOString().slice(0, 10);
  let md = `<!-- bench:native:start -->\n## Scheduler overhead (native)\n\n`;
  md += `Reproduce: \`make bench-native\` (runs \`cargo run --release -p fanout-shared --example scheduler_overhead\`). ${sched.jobs.toLocaleString('en')} jobs whose fetches complete instantly, concurrency ${sched.concurrency}, 20 hosts, median of ${sched.rounds} runs (${date}, ${os.cpus().length} cores):\n\n`;
  md += `| path | ns per job |\n|---|---|\n`;
  md += `| \`Scheduler\` driven by hand (sans-IO) | ${sched.scheduler_ns.toFixed(0)} |\n| \`Runner\` (the async loop the edge runs) | ${sched.runner_ns.toFixed(0)} |\n| \`buffer_unordered(${sched.concurrency})\` over the same instant futures (the floor) | ${sched.baseline_ns.toFixed(0)} |\n\n`;
  md += `Ratios: runner / bare \`buffer_unordered\` = ${(sched.runner_ns / sched.baseline_ns).toFixed(1)}×; runner / scheduler = ${(sched.runner_ns / sched.scheduler_ns).toFixed(2)}×. The cost per job is the four events it emits (URL strings cloned into each), the statistics fold and the timer set; ${(sched.runner_ns / 1000).toFixed(1)} µs is ${(sched.runner_ns / 1e6 / 100 * 100).toFixed(4)} % of a 100 ms fetch.\n\n`;
  md += `## Extraction throughput (native and inside workerd)\n\n`;
  md += `Reproduce: \`make bench-native\`. Natively: \`cargo run --release -p fanout-shared --features extract --example extract_throughput\`, median of ${native.rounds} runs, whole body vs 16 KB chunks as from the network. Inside workerd: ${N} copies of each page fetched through \`POST /api/v1/runs\` one at a time (C=1) under wrangler dev, extraction on and off alternating, ${RUNS} runs each after a warm-up; (on − off) / ${N} is the extractor's wall time per page there (workerd's own clock does not advance during computation, so it cannot time itself).\n\n`;
  md += `| page | bytes | native whole MB/s | native 16 KB chunks MB/s | native ms per page | workerd ms per page | workerd / native |\n|---|---|---|---|---|---|---|\n`;
  const names = { real: 'real shop page (extruct sample, OpenGraph + microdata)', padded: 'demo page padded to 100 KB', demo: 'demo page' };
  for (const p of native.pages) {
    const e = edge[p.key];
    const inW = e ? e.perPage.toFixed(2) : 'not run (see below)';
    md += `| ${names[p.key]} | ${p.bytes.toLocaleString('en')} | ${p.whole_mb_s.toFixed(1)} | ${p.chunked_mb_s.toFixed(1)} | ${p.ms_per_page.toFixed(2)} | ${inW} | ${e ? `${(e.perPage / p.ms_per_page).toFixed(1)}×` : '—'} |\n`;
  }
  md += `\nWall time per page inside workerd without extraction: ${Object.entries(edge).map(([k, e]) => `${names[k].split(' (')[0]} ${(e.off / N).toFixed(2)} ms`).join(', ')}.\n`;
  md += `\nChunked and whole agree within noise natively: streaming costs nothing. On the 10 KB demo page the parse itself is most of the time, not a fixed cost: natively, building the extractor took about 3 µs and finishing it (the JSON-LD and the product) about 15 µs of the page's 100–150 µs (the example's last line times the three steps apart; 2026-12-02); lol_html's cost grows with each element and each selector it matches against, and a document-wide text handler, dropped that day, made it decode every text node (the demo page 0.134 → 0.100 ms, the 900 KB page 3.6 → 2.2 ms, interleaved). The workerd figure is a difference of two wall times and carries their noise (a few hundredths of a millisecond per page at this N). The demo pages are served in-process, with no transfer to hide behind, so the difference is the extractor's own time; against the Free plan's 10 ms of CPU per invocation, a demo page's extraction is a few percent of it. The real 900 KB page is not run through workerd here: served from a loopback upstream under wrangler dev, each such body left about 200 sockets open in workerd towards wrangler's own Node process (not towards the upstream) for about half a minute, and a few hundred pages exhausted workerd's file descriptors (\`Too many open files\`). In a first, smaller attempt its (on − off) difference was below the noise, as the extractor works on each chunk while the next one is on its way.\n<!-- bench:native:end -->\n`;
  writeSection('native', md);
  console.log(md);
}

main().catch((e) => { console.error(e); process.exit(1); });
