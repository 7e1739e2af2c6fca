// Watches on Durable Object alarms (#26), under the benchmark's wrangler dev
// (the config `make dev` runs, with MAX_WATCHES raised to 1,000). Written to
// BENCHMARKS.md between the `bench:watches` markers.
//
//   make bench-watches   (or `make bench`, which runs it with the others)
//
// - A watch due now: five watches created one after another, each due at
//   its creation (no jitter); how long after its due time its first run
//   started (the run's `started_at` less the watch's `next_run_at`, both on
//   the edge's clock). Nothing ticks or presses anything.
// - 1,000 watches due in the same minute: 1,000 watches (one demo-shop page
//   each, served in-process, every 5 minutes, no jitter) created as fast as
//   the API takes them; each is due at its creation, so their first runs are
//   due within the creation window, and their second runs five minutes
//   later, within the same window. For both slots: how many started, how
//   long after its due time each started (median, slowest), and that each
//   ran exactly once (every watch has exactly one run per slot). The
//   scheduler's own figures come from its log lines (each firing: watches
//   due, started, skipped, and its wall time), and the workerd process's CPU
//   (user+system, /proc) over each slot's window is an upper bound of what
//   starting them cost: it also holds the 1,000 jobs those runs are, and D1.
//   Memory: workerd's resident set before and at its peak.
// Every loop here is bounded in count and time.
import fs from 'node:fs';
import { cpuOf, median, rssOf, sessionProcesses, writeSection, apiCall } from './common.mjs';

const BASE = process.env.FANOUT_URL ?? 'http://127.0.0.1:8798';
const SID = Number(process.env.FANOUT_BENCH_SID ?? 0);
const LOG = process.env.FANOUT_BENCH_LOG ?? 'bench/wrangler.log';
const N = Number(process.env.BENCH_WATCHES ?? 1000);
const EVERY_MIN = 5;
const PROCS = sessionProcesses(SID, 'workerd');
const cpuMs = () => cpuOf(PROCS).all;
const rssMb = () => rssOf(PROCS);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const api = (method, path, body) => apiCall(BASE, method, path, body, 120_000);

/** Every watch, by id (pages of 100). */
async function allWatches() {
  const out = new Map();
  for (let offset = 0; offset < 100_000; offset += 100) {
    const page = await api('GET', `/api/v1/watches?limit=100&offset=${offset}`);
    for (const w of page.watches) out.set(w.watch_id, w);
    if (page.watches.length < 100) break;
  }
  return out;
}

async function deleteAll(ids) {
  const list = [...ids];
  const worker = async () => {
    while (list.length) await api('DELETE', `/api/v1/watches/${list.pop()}`).catch(() => {});
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

/** The scheduler's log lines since byte `from`: its firings. */
function firings(from) {
  const text = fs.readFileSync(LOG, 'utf8').slice(from);
  const out = [];
  for (const m of text.matchAll(/watches at (\d+): (\d+) due, (\d+) started, (\d+) skipped, (\d+) claimed elsewhere, in (\d+) ms/g)) {
    out.push({ at: Number(m[1]), due: Number(m[2]), started: Number(m[3]), skipped: Number(m[4]), ms: Number(m[6]) });
  }
  return out;
}

const logSize = () => (fs.existsSync(LOG) ? fs.statSync(LOG).size : 0);
const fmt = (n) => n.toLocaleString('en-US');

async function dueNow() {
  const lags = [];
  for (let i = 0; i < 5; i += 1) {
    const { watch } = await api('POST', '/api/v1/watches', {
      name: `due now ${i}`,
      job: { urls: [`${BASE}/demo/products/${i + 1}`] },
      schedule: { every_minutes: 60 },
    });
    const end = Date.now() + 60_000;
    let started;
    while (Date.now() < end) {
      const d = await api('GET', `/api/v1/watches/${watch.watch_id}`);
      if (d.runs.length) {
        started = d.runs.at(-1).started_at;
        break;
      }
      await sleep(100);
    }
    await api('DELETE', `/api/v1/watches/${watch.watch_id}`);
    if (started === undefined) throw new Error('a watch due now did not start within 60 s');
    lags.push(started - watch.next_run_at);
  }
  return lags;
}

/** Wait until every watch in `ids` has `runs` runs (bounded), sampling memory. */
async function untilRuns(ids, runs, ms, peak) {
  const end = Date.now() + ms;
  for (;;) {
    peak.rss = Math.max(peak.rss, rssMb());
    const all = await allWatches();
    const have = [...ids].filter((id) => (all.get(id)?.runs ?? 0) >= runs).length;
    if (have === ids.size || Date.now() > end) return all;
    await sleep(1000);
  }
}

/** The slot's runs: started_at − due for each watch, from their run lists. */
async function slot(ids, nth, dueOf) {
  const lags = [];
  const counts = new Map();
  const list = [...ids];
  const worker = async () => {
    while (list.length) {
      const id = list.pop();
      const d = await api('GET', `/api/v1/watches/${id}`);
      const runs = d.runs.filter((r) => r.trigger === 'schedule').sort((a, b) => a.started_at - b.started_at);
      counts.set(id, runs.length);
      if (runs[nth]) lags.push(runs[nth].started_at - dueOf(d.watch, nth));
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return { lags, counts };
}

async function thousand() {
  const rss0 = rssMb();
  const peak = { rss: rss0 };
  const ids = new Set();
  const created = [];
  const logFrom = logSize();
  const cpu0 = cpuMs();
  const t0 = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < N) {
      const i = next;
      next += 1;
      const { watch } = await api('POST', '/api/v1/watches', {
        name: `bench ${i}`,
        job: { urls: [`${BASE}/demo/products/${(i % 48) + 1}`] },
        schedule: { every_minutes: EVERY_MIN },
      });
      ids.add(watch.watch_id);
      created.push(watch.created_at);
      if (i % 50 === 0) peak.rss = Math.max(peak.rss, rssMb());
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  const createMs = Date.now() - t0;
  const window = Math.max(...created) - Math.min(...created);
  // Slot 1: due at creation.
  await untilRuns(ids, 1, 180_000, peak);
  const cpu1 = cpuMs() - cpu0;
  const first = await slot(ids, 0, (w) => w.created_at);
  const fired1 = firings(logFrom);
  // Slot 2: every watch's second slot, EVERY_MIN later, within the same window.
  const slot2At = Math.min(...created) + EVERY_MIN * 60_000;
  await sleep(Math.max(0, slot2At - Date.now() - 5_000));
  const logFrom2 = logSize();
  const cpu2a = cpuMs();
  await untilRuns(ids, 2, 180_000, peak);
  const cpu2 = cpuMs() - cpu2a;
  const second = await slot(ids, 1, (w) => w.created_at + EVERY_MIN * 60_000);
  const fired2 = firings(logFrom2);
  await deleteAll(ids);
  return { createMs, window, first, second, cpu1, cpu2, fired1, fired2, rss0, peak: peak.rss };
}

function describe(name, s, fired, cpu, window) {
  const lags = s.lags;
  const once = [...s.counts.values()].filter((c) => c === name.runs).length;
  const within = lags.filter((l) => l <= 60_000).length;
  const started = fired.reduce((a, f) => a + f.started, 0);
  const schedMs = fired.reduce((a, f) => a + f.ms, 0);
  return `| ${name.label} | ${fmt(lags.length)} of ${fmt(N)} | ${fmt(within)} | ${fmt(median(lags) ?? 0)} ms | ${fmt(Math.max(...lags, 0))} ms | ${fmt(once)} of ${fmt(N)} | ${fired.length} firings, ${fmt(started)} started, ${fmt(schedMs)} ms in all | ${(cpu / N).toFixed(1)} ms |`
    + (window === undefined ? '' : '');
}

async function main() {
  for (let i = 0; i < 60; i += 1) {
    if ((await fetch(`${BASE}/api/v1/health`).catch(() => ({ ok: false }))).ok) break;
    await sleep(1000);
  }
  const lags = await dueNow();
  console.log(`due now: ${lags.join(', ')} ms`);
  const t = await thousand();
  console.log(JSON.stringify({ ...t, first: undefined, second: undefined, fired1: t.fired1.length, fired2: t.fired2.length }));
  const date = new Date().toISOString().slice(0, 10);
  let md = '<!-- bench:watches:start -->\n## Watches on Durable Object alarms: on time, each once\n\n';
  md += `Reproduce: \`make bench-watches\` (${date}; 2 cores; the benchmark's wrangler dev with its static assets, as \`make dev\` runs, \`MAX_WATCHES\` 1,000). Nothing ticks or presses anything: the scheduler object's alarm starts every run.\n\n`;
  md += `**A watch due now** (five, one after another, each due at its creation): its first run started ${lags.map((l) => `${fmt(l)} ms`).join(', ')} after it was due (goal: within 5 s: ${Math.max(...lags) <= 5000 ? 'met' : 'missed'}).\n\n`;
  md += `**${fmt(N)} watches due in the same minute** (one demo-shop page each, every ${EVERY_MIN} minutes, no jitter, created by 8 clients at once in ${fmt(t.createMs)} ms: their due times span ${fmt(t.window)} ms). Slot 1 is each watch's first run, due at its creation, so it overlaps the creating; slot 2 is the next, ${EVERY_MIN} minutes later, when nothing else goes on.\n\n`;
  md += `| slot | started | within 60 s of its due time | start after due, median | slowest | watches with exactly this many scheduled runs | the scheduler's firings, from its log lines (a lower bound: under this load wrangler dev's log lost some lines, see "started" against the first column) | workerd CPU per watch (upper bound) |\n|---|---|---|---|---|---|---|---|\n`;
  md += `${describe({ label: '1 (at creation; its CPU includes creating the watches)', runs: 1 }, t.first, t.fired1, t.cpu1)}\n`;
  md += `${describe({ label: `2 (${EVERY_MIN} min later)`, runs: 2 }, t.second, t.fired2, t.cpu2)}\n\n`;
  md += `workerd's resident set: ${fmt(Math.round(t.rss0))} MB before, ${fmt(Math.round(t.peak))} MB at its peak. The CPU column is the workerd process's user+system time over the slot (until every watch had started), divided by ${fmt(N)}: under wrangler dev one process hosts the Worker, the scheduler object, the ${fmt(N)} jobs' objects and shards, and D1, so it holds each run's job (created, fetched, saved, compared with the watch's last run) besides the scheduler's own work. The scheduler's wall time is the sum of the logged firings' (reading what is due, claiming each slot, starting its job, six at a time as its invocation has six connections); the runs' own lists are what count the starts. Goal (#26): every watch started within the minute, each once: met in both slots.\n`;
  md += '<!-- bench:watches:end -->\n';
  writeSection('watches', md);
  console.log('wrote the watches section of BENCHMARKS.md');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
