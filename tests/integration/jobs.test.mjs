// Background jobs through a real `wrangler dev` with local Durable Objects
// (the job's, and its lanes' shards) and D1: a 10,000-URL job, the caps held
// across lanes (seen at two loopback upstreams), a crash (SIGKILL) and resume on the same local
// state, resumable event streams, cancel, and bad input. This file starts
// its own wrangler dev (by PID, its own state, short leases); every wait is
// bounded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { openSync, rmSync } from 'node:fs';
import http from 'node:http';

const PORT = Number(process.env.FANOUT_JOBS_PORT ?? 8795);
const J = `http://127.0.0.1:${PORT}`;
const STATE = 'target/wrangler-jobs-test';
let child;

async function startEdge() {
  const log = openSync('tests/artifacts/wrangler-jobs.log', 'a');
  child = spawn('scripts/wrangler-dev.sh', [String(PORT), '--var', 'JOB_LEASE_MARGIN_MS:1500', '--var', 'MAX_ACTIVE_JOBS:50'], {
    env: { ...process.env, FANOUT_PERSIST: STATE, FANOUT_NO_BUILD: '1' },
    detached: true,
    stdio: ['ignore', log, log],
  });
  for (let i = 0; i < 180; i += 1) {
    try {
      if ((await fetch(`${J}/api/v1/health`, { signal: AbortSignal.timeout(1000) })).ok) return;
    } catch { /* not up yet */ }
    assert.equal(child.exitCode, null, 'wrangler dev exited while starting');
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`wrangler dev on ${PORT} did not answer within 180 s`);
}

async function stopEdge(signal = 'SIGTERM') {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  try { process.kill(-child.pid, signal); } catch { /* gone */ }
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
}

/** A loopback upstream on `host` that answers after `ms` and counts what is in flight. */
async function upstream(host, ms) {
  const state = { inFlight: 0, max: 0, hits: new Map() };
  const server = http.createServer((req, res) => {
    state.inFlight += 1;
    state.max = Math.max(state.max, state.inFlight);
    state.hits.set(req.url, (state.hits.get(req.url) ?? 0) + 1);
    setTimeout(() => {
      state.inFlight -= 1;
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>ok</body></html>');
    }, ms);
  });
  await new Promise((r) => server.listen(0, host, r));
  return { origin: `http://${host}:${server.address().port}`, state, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

const post = async (path, body) => {
  const resp = await fetch(`${J}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(60_000) });
  return { status: resp.status, json: await resp.json() };
};
const get = async (path) => {
  const resp = await fetch(`${J}${path}`, { signal: AbortSignal.timeout(30_000) });
  return { status: resp.status, json: await resp.json() };
};

/** Poll a job until it ends (bounded by `ms`). */
async function until(id, ms, pred = (s) => ['done', 'cancelled', 'failed'].includes(s.state)) {
  const end = Date.now() + ms;
  for (;;) {
    const { json } = await get(`/api/v1/jobs/${id}`);
    if (pred(json)) return json;
    assert.ok(Date.now() < end, `job ${id} did not get there within ${ms} ms: ${JSON.stringify(json)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A job's event lines from `after` (the stream ends at the summary). */
async function events(id, after = 0, { abortAfterLines } = {}) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 120_000);
  const resp = await fetch(`${J}/api/v1/jobs/${id}/events?after=${after}`, { signal: ctl.signal });
  const lines = [];
  const dec = new TextDecoder();
  let buf = '';
  try {
    for await (const chunk of resp.body) {
      buf += dec.decode(chunk, { stream: true });
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.trim()) continue;
        const ev = JSON.parse(line);
        if (ev.type !== 'heartbeat') lines.push(ev);
        if (abortAfterLines && lines.length >= abortAfterLines) {
          ctl.abort();
          return lines;
        }
      }
    }
  } catch (e) {
    if (!abortAfterLines) throw e;
  } finally {
    clearTimeout(timer);
  }
  return lines;
}

/** Every id 0..total ends exactly once in `evs`. */
function onceEach(evs, total) {
  const ends = new Map();
  for (const e of evs) if (['done', 'failed', 'cancelled'].includes(e.type)) ends.set(e.id, (ends.get(e.id) ?? 0) + 1);
  assert.equal(ends.size, total, 'every URL ended');
  for (const [id, n] of ends) assert.equal(n, 1, `URL ${id} ended ${n} times`);
}

before(async () => {
  rmSync(STATE, { recursive: true, force: true });
  await startEdge();
});
after(() => stopEdge());

test('a 10,000-URL job on the demo shop completes with 10,000 outcomes in D1, none twice', async () => {
  const urls = Array.from({ length: 10_000 }, (_, i) => `${J}/demo/products/${(i % 240) + 1}?tag=${i}`);
  const created = await post('/api/v1/jobs', { urls, concurrency: 50, extract: false });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  assert.equal(created.json.state, 'queued');
  const id = created.json.job_id;
  assert.equal(created.json.links.events, `/api/v1/jobs/${id}/events`);
  const s = await until(id, 240_000);
  assert.equal(s.state, 'done');
  assert.deepEqual([s.counts.total, s.counts.done, s.counts.failed, s.counts.pending, s.counts.in_flight], [10_000, 10_000, 0, 0, 0]);
  assert.ok(s.throughput > 0);
  const run = await get(`/api/v1/runs/${id}`);
  assert.equal(run.status, 200);
  assert.equal(run.json.results.length, 10_000, 'one history row per URL');
  assert.equal(new Set(run.json.results.map((r) => r.url)).size, 10_000, 'none twice');
  const list = await get('/api/v1/jobs?limit=5');
  assert.ok(list.json.jobs.some((j) => j.job_id === id && j.state === 'done'));
});

test('the global and per-host caps hold across lanes, at the upstreams', async () => {
  const a = await upstream('127.0.0.1', 60);
  const b = await upstream('127.0.0.2', 60);
  try {
    const urls = Array.from({ length: 1000 }, (_, i) => `${i % 2 ? a.origin : b.origin}/p/${i}`);
    const created = await post('/api/v1/jobs', { urls, concurrency: 12, per_host: 7, extract: false });
    assert.equal(created.status, 201);
    const s = await until(created.json.job_id, 120_000);
    assert.equal(s.counts.done, 1000);
    assert.ok(a.state.max <= 7 && b.state.max <= 7, `per host: ${a.state.max}, ${b.state.max}`);
    assert.ok(a.state.max >= 3 && b.state.max >= 3, 'and the caps were used');
    // Together at most 12: each host's own maximum cannot reach past it.
    assert.ok(a.state.max + b.state.max <= 14);
    assert.ok([...a.state.hits.values(), ...b.state.hits.values()].every((n) => n === 1), 'every URL fetched once');
  } finally {
    await a.close();
    await b.close();
  }
});

test('events resume after a disconnect with exactly the missing ones', async () => {
  const slow = await upstream('127.0.0.1', 150);
  try {
    const urls = Array.from({ length: 60 }, (_, i) => `${slow.origin}/r/${i}`);
    const created = await post('/api/v1/jobs', { urls, concurrency: 6, extract: false });
    const id = created.json.job_id;
    const first = await events(id, 0, { abortAfterLines: 80 });
    const last = first.at(-1).seq;
    assert.ok(first.every((e, i) => e.seq === i + 1), 'seqs count up from 1');
    const rest = await events(id, last);
    assert.equal(rest[0].seq, last + 1, 'resumes right after the last one seen');
    const all = [...first, ...rest];
    assert.ok(all.every((e, i) => e.seq === i + 1), 'nothing missed, nothing twice');
    assert.equal(all.at(-1).type, 'summary');
    onceEach(all, 60);
    // Replaying from the start gives the same log.
    const again = await events(id, 0);
    assert.deepEqual(again.map((e) => e.seq), all.map((e) => e.seq));
    // Resuming an ended job at (or past) its last seq ends at once, with
    // nothing, rather than beat forever (Schemathesis found that).
    assert.deepEqual(await events(id, all.at(-1).seq), []);
    assert.deepEqual(await events(id, all.at(-1).seq + 100), []);
  } finally {
    await slow.close();
  }
});

test('cancel mid-job stops new work and ends every unfinished URL cancelled', async () => {
  const slow = await upstream('127.0.0.1', 300);
  try {
    const urls = Array.from({ length: 200 }, (_, i) => `${slow.origin}/c/${i}`);
    const created = await post('/api/v1/jobs', { urls, concurrency: 4, extract: false });
    const id = created.json.job_id;
    await until(id, 30_000, (s) => s.counts.done >= 4);
    const cancelled = await post(`/api/v1/jobs/${id}/cancel`, {});
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.json.state, 'cancelled');
    const hits = slow.state.hits.size;
    await new Promise((r) => setTimeout(r, 2500));
    assert.ok(slow.state.hits.size <= hits + 4, `nothing new started: ${hits} → ${slow.state.hits.size}`);
    assert.equal(slow.state.inFlight, 0, 'what was in flight was aborted within seconds');
    const all = await events(id, 0);
    onceEach(all, 200);
    const s = all.at(-1);
    assert.ok(s.was_cancelled && s.cancelled > 150, JSON.stringify(s).slice(0, 200));
  } finally {
    await slow.close();
  }
});

test('a crash (SIGKILL) mid-job: started again on the same state, the job resumes and ends every URL once', async () => {
  const up = await upstream('127.0.0.1', 100);
  try {
    const urls = Array.from({ length: 300 }, (_, i) => `${up.origin}/k/${i}`);
    const created = await post('/api/v1/jobs', { urls, concurrency: 10, timeout_ms: 2000, retry: { max_attempts: 1 }, extract: false });
    const id = created.json.job_id;
    await until(id, 30_000, (s) => s.counts.done >= 40);
    await stopEdge('SIGKILL');
    await startEdge();
    // Nobody asks the job: its alarm (at the lost batches' lease end) moves it on.
    const s = await until(id, 120_000);
    assert.equal(s.state, 'done');
    assert.equal(s.counts.done + s.counts.failed, 300);
    const all = await events(id, 0);
    onceEach(all, 300);
    assert.equal(s.counts.done, 300, 'nothing lost: the lost batches were handed out again');
  } finally {
    await up.close();
  }
});

test('bad job input and unknown ids get the usual 4xx', async () => {
  const cases = [
    [{ urls: [] }, 400, 'no_urls'],
    [{ urls: ['ftp://x/'] }, 400, 'invalid_url'],
    [{ urls: [`${J}/demo/`], concurrency: 0 }, 400, 'option_out_of_range'],
    [{ urls: [`${J}/demo/`], sitemap: `${J}/demo/sitemap.xml` }, 422, 'conflicting_options'],
    [{ urls: [`${J}/demo/`], urlz: [] }, 400, 'malformed_json'],
  ];
  for (const [body, status, kind] of cases) {
    const r = await post('/api/v1/jobs', body);
    assert.equal(r.status, status, JSON.stringify(body));
    assert.equal(r.json.error.kind, kind, JSON.stringify(r.json));
  }
  assert.equal((await get('/api/v1/jobs/no-such-job')).status, 404);
  assert.equal((await get('/api/v1/jobs/bad%20id')).json.error.kind, 'invalid_job_id');
  assert.equal((await get('/api/v1/jobs?limit=0')).json.error.kind, 'invalid_page');
  const r = await fetch(`${J}/api/v1/jobs/x/events?after=-1`);
  assert.equal(r.status, 400);
});

test('a sitemap job takes the sitemap\'s URLs; a crawl job discovers pages; deleting a job forgets it', async () => {
  const sm = await post('/api/v1/jobs', { sitemap: `${J}/demo/sitemap_index.xml`, concurrency: 50, extract: false });
  assert.equal(sm.status, 201, JSON.stringify(sm.json));
  const s = await until(sm.json.job_id, 120_000);
  assert.equal(s.counts.done, 240);
  assert.equal(s.kind, 'sitemap');
  const crawl = await post('/api/v1/jobs', { urls: [`${J}/demo/`], crawl: { max_depth: 1 }, concurrency: 20 });
  const c = await until(crawl.json.job_id, 120_000);
  assert.equal(c.kind, 'crawl');
  const evs = await events(crawl.json.job_id, 0);
  const summary = evs.at(-1);
  assert.ok(summary.crawl.discovered >= 10, JSON.stringify(summary.crawl));
  assert.ok(evs.some((e) => e.type === 'discovered' && e.depth === 1));
  assert.equal(summary.crawl.robots[0].outcome, 'rules');
  const del = await fetch(`${J}/api/v1/jobs/${sm.json.job_id}`, { method: 'DELETE' });
  assert.equal(del.status, 200);
  assert.equal((await get(`/api/v1/jobs/${sm.json.job_id}`)).status, 404);
  assert.equal((await get(`/api/v1/runs/${sm.json.job_id}`)).status, 404);
});
