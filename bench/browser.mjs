// Browser-side figures, in headless Chromium against `wrangler dev`:
// 1. Click Run → all done for N=200 demo pages at L=100 ms and C=50, against
//    the ideal ceil(N/C)·L (median of RUNS).
// 2. Main-thread long tasks (> 50 ms, PerformanceObserver 'longtask') while a
//    1,000-URL demo run (L=50 ms) streams in, in each of LONG_RUNS runs (one
//    run on this shared machine can catch a neighbour's stall), and how long
//    the main thread was busy during each run (Chromium's TaskDuration).
// Prints one JSON object; bench/run.mjs folds it into BENCHMARKS.md.
import { launch } from '../tests/e2e/browser.mjs';

const BASE = process.env.FANOUT_URL ?? 'http://127.0.0.1:8798';
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const LONG_RUNS = Number(process.env.BENCH_LONG_RUNS ?? 3);

async function timedRun(page, n, latency, c) {
  const urls = Array.from({ length: n }, (_, i) => `${BASE}/demo/products/${(i % 240) + 1}?latency_ms=${latency}&tag=${i}`).join('\n');
  await page.goto(`${BASE}/?c=${c}&ph=${c}`);
  await page.locator('textarea').fill(urls);
  await page.getByText(`${n} URLs`).first().waitFor();
  await page.evaluate(() => {
    window.__long = [];
    new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__long.push(e.duration); }).observe({ type: 'longtask', buffered: false });
  });
  // Main-thread busy time over the run, from Chromium's own counters
  // (TaskDuration: time the renderer's main thread spent running tasks).
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const busy = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration').value;
  const busy0 = await busy();
  const t0 = Date.now();
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await page.waitForFunction((n) => document.querySelector('[data-testid=finished]')?.textContent?.startsWith(`${n} / ${n}`), n, { timeout: 120_000, polling: 20 });
  const ms = Date.now() - t0;
  const busyMs = Math.round((await busy() - busy0) * 1000);
  await cdp.detach();
  await page.waitForTimeout(300);
  const long = await page.evaluate(() => window.__long);
  const done = await page.locator('.counts').textContent();
  return { ms, long, done, busyMs };
}

const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  await timedRun(page, 50, 10, 50); // warm-up
  const times = [];
  for (let r = 0; r < RUNS; r++) times.push((await timedRun(page, 200, 100, 50)).ms);
  times.sort((a, b) => a - b);
  const bigs = [];
  for (let r = 0; r < LONG_RUNS; r++) bigs.push(await timedRun(page, 1000, 50, 50));
  const out = {
    e2e: { n: 200, latency: 100, c: 50, ideal: Math.ceil(200 / 50) * 100, median_ms: times[Math.floor(times.length / 2)], runs: times },
    longtasks: {
      n: 1000,
      latency: 50,
      per_run: bigs.map((b) => b.long.length),
      max_ms: Math.round(Math.max(0, ...bigs.flatMap((b) => b.long))),
      total_ms: bigs.map((b) => b.ms),
      busy_ms: bigs.map((b) => b.busyMs),
      counts: bigs.map((b) => b.done.trim()),
    },
  };
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
