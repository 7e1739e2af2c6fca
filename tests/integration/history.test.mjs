// Run history in D1 through a real `wrangler dev` with a local D1 of its own
// (started and restarted here, by PID), plus the locked edge, whose D1 has no
// schema, for a save failure. Only loopback is used; every wait is bounded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { openSync, rmSync } from 'node:fs';
import { startOfDemoDay, startUpstream } from './helpers.mjs';

const PORT = Number(process.env.FANOUT_HISTORY_PORT ?? 8796);
const H = `http://127.0.0.1:${PORT}`;
const STATE = 'target/wrangler-history-test';
let child;

async function startEdge(extra = []) {
  // Serves the build `make test` made, without a build step or watcher; its
  // log joins the others, which the test command checks for restarts.
  const log = openSync('tests/artifacts/wrangler-history.log', 'a');
  child = spawn('scripts/wrangler-dev.sh', [String(PORT), ...extra], {
    env: { ...process.env, FANOUT_PERSIST: STATE, FANOUT_NO_BUILD: '1' },
    detached: true,
    stdio: ['ignore', log, log],
  });
  for (let i = 0; i < 180; i += 1) {
    try {
      if ((await fetch(`${H}/api/v1/health`, { signal: AbortSignal.timeout(1000) })).ok) return;
    } catch { /* not up yet */ }
    assert.equal(child.exitCode, null, 'wrangler dev exited while starting');
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`wrangler dev on ${PORT} did not answer within 180 s`);
}

async function stopEdge() {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
}

before(async () => {
  rmSync(STATE, { recursive: true, force: true });
  // Requests big enough to fill a save batch (250 URLs) before their summary.
  await startEdge(['--var', 'MAX_URLS_PER_REQUEST:1000']);
});
after(stopEdge);

async function run(urls, runId, base = H, headers = {}) {
  const resp = await fetch(`${base}/api/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ urls, run_id: runId, concurrency: 20 }),
    signal: AbortSignal.timeout(60_000),
  });
  assert.equal(resp.status, 200);
  const events = (await resp.text()).trim().split('\n').map((l) => JSON.parse(l));
  return { events, header: resp.headers.get('x-fanout-run-id') };
}

const get = async (path, init = {}) => {
  const resp = await fetch(`${H}${path}`, { ...init, signal: AbortSignal.timeout(30_000) });
  const type = resp.headers.get('content-type') ?? '';
  return { status: resp.status, body: type.includes('json') ? await resp.json() : await resp.text() };
};

const product = (i) => `${H}/demo/products/${i}?day_s=3`;

/** The demo page's own price and availability on `day` (read straight from the page). */
async function pageFacts(i, day) {
  const html = await (await fetch(`${H}/demo/products/${i}?day=${day}`)).text();
  const price = html.match(/"price":"([0-9.]+)"/)[1];
  const availability = html.match(/"availability":"https:\/\/schema.org\/(\w+)"/)[1];
  return { price, availability };
}

test('two runs on two demo days: the diff reports exactly the changed prices and stock', async () => {
  const ids = Array.from({ length: 40 }, (_, k) => k + 1);
  const urls = ids.map(product);
  const dayA = await startOfDemoDay();
  const a = await run(urls, 'rdiffA');
  assert.equal(a.events.at(-1).saved.run_id, 'rdiffA');
  assert.equal(a.events.at(-1).saved.rows, 40);
  assert.equal(a.events.at(-1).saved.error, undefined);
  assert.equal(Math.floor(Date.now() / 3000), dayA, 'run A stayed within its day');
  const dayB = await startOfDemoDay(dayA);
  const b = await run(urls, 'rdiffB');
  assert.equal(Math.floor(Date.now() / 3000), dayB, 'run B stayed within its day');
  assert.ok(dayB > dayA);

  // What the demo shop itself says changed between the two days.
  const expectedPrices = new Map();
  const expectedStock = new Map();
  for (const i of ids) {
    const [x, y] = [await pageFacts(i, dayA), await pageFacts(i, dayB)];
    if (x.price !== y.price) expectedPrices.set(product(i), [x.price, y.price]);
    if (x.availability !== y.availability) expectedStock.set(product(i), [x.availability, y.availability]);
  }
  assert.ok(expectedPrices.size > 0, 'the demo changed some prices');

  const d = await get('/api/v1/runs/rdiffB/diff?against=previous');
  assert.equal(d.status, 200);
  assert.equal(d.body.against.id, 'rdiffA');
  assert.equal(d.body.diff.shared, 40);
  const got = new Map(d.body.diff.price_changes.map((c) => [c.url, c]));
  assert.deepEqual([...got.keys()].sort(), [...expectedPrices.keys()].sort());
  for (const [url, [oldP, newP]] of expectedPrices) {
    const c = got.get(url);
    assert.equal(c.old, oldP);
    assert.equal(c.new, newP);
    const cents = Math.round(Number(newP) * 100) - Math.round(Number(oldP) * 100);
    assert.equal(Math.round(Number(c.change) * 100), cents, url);
    assert.ok(Math.abs(c.percent - (cents / Math.round(Number(oldP) * 100)) * 100) < 0.01, url);
  }
  assert.equal(d.body.diff.availability_changes.length, expectedStock.size);
  assert.deepEqual(d.body.diff.newly_failing, []);
  assert.deepEqual(d.body.diff.recovered, []);
  // The same diff by explicit id.
  const byId = await get('/api/v1/runs/rdiffB/diff?against=rdiffA');
  assert.deepEqual(byId.body.diff, d.body.diff);
  // A URL's price history has one point per run, in order.
  const [url] = expectedPrices.keys();
  const h = await get(`/api/v1/history?url=${encodeURIComponent(url)}`);
  assert.deepEqual(h.body.points.map((p) => [p.run_id, p.price]), [['rdiffA', expectedPrices.get(url)[0]], ['rdiffB', expectedPrices.get(url)[1]]]);
  // The oldest run has nothing to compare with.
  assert.equal((await get('/api/v1/runs/rdiffA/diff')).body.error.kind, 'no_previous_run');
});

test('runs are listed newest first, page by page; ids and pages are validated', async () => {
  for (let k = 0; k < 5; k += 1) {
    const r = await run([`${H}/demo/products/${k + 1}`], `rpage${k}`);
    assert.equal(r.header, `rpage${k}`);
  }
  const all = [];
  for (let offset = 0; offset < 20; offset += 2) {
    const page = await get(`/api/v1/runs?limit=2&offset=${offset}`);
    assert.equal(page.status, 200);
    assert.ok(page.body.runs.length <= 2);
    if (page.body.runs.length === 0) break;
    all.push(...page.body.runs);
  }
  const total = (await get('/api/v1/runs')).body.total;
  assert.equal(all.length, total);
  assert.equal(new Set(all.map((r) => r.id)).size, total, 'no run on two pages');
  assert.deepEqual(all.slice(0, 5).map((r) => r.id), ['rpage4', 'rpage3', 'rpage2', 'rpage1', 'rpage0']);
  assert.ok(all.every((r, i) => i === 0 || all[i - 1].created_at >= r.created_at));
  const r0 = all.find((r) => r.id === 'rpage0');
  assert.deepEqual([r0.total, r0.done, r0.failed, r0.chunks], [1, 1, 0, 1]);
  // One run from several chunk requests (as the browser sends them).
  await run([`${H}/demo/products/1`, `${H}/demo/products/2`], 'rchunks');
  await run([`${H}/demo/products/3`, `${H}/demo/products/4?fail_status=404`], 'rchunks');
  const c = (await get('/api/v1/runs/rchunks')).body;
  assert.deepEqual([c.run.total, c.run.done, c.run.failed, c.run.chunks], [4, 3, 1, 2]);
  assert.equal(c.results.length, 4);
  assert.equal(c.results[0].product.sku, 'FO-00001');
  const csv = await get('/api/v1/runs/rchunks/export.csv');
  assert.equal(csv.status, 200);
  assert.equal(csv.body.trim().split('\n').length, 5);
  for (const [path, kind] of [
    ['/api/v1/runs?limit=0', 'invalid_page'], ['/api/v1/runs?limit=500', 'invalid_page'], ['/api/v1/runs?offset=x', 'invalid_page'],
    ['/api/v1/runs/bad%20id', 'invalid_run_id'], ['/api/v1/runs/nope', 'run_not_found'], ['/api/v1/runsnope', 'not_found'],
  ]) {
    const r = await get(path);
    assert.ok(r.status === 400 || r.status === 404, path);
    assert.equal(r.body.error.kind, kind, path);
  }
  const bad = await fetch(`${H}/api/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ urls: [`${H}/demo/products/1`], run_id: 'no/slashes' }) });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.kind, 'invalid_run_id');
});

test('a saved run keeps each URL\'s place and its events, so it can be reopened as it ran', async () => {
  // Two chunk requests of one run, the later chunk first (as parallel chunk
  // requests may end): each says where its URLs start within the run.
  const post = async (urls, runOffset) => {
    const resp = await fetch(`${H}/api/v1/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ urls, run_id: 'rreopen', run_offset: runOffset, concurrency: 4, retry: { base_ms: 50, max_ms: 100 } }),
      signal: AbortSignal.timeout(60_000),
    });
    assert.equal(resp.status, 200);
    return (await resp.text()).trim().split('\n').map((l) => JSON.parse(l));
  };
  const first = [`${H}/demo/products/11`, `${H}/demo/products/12?fail_status=503`, `${H}/demo/products/13?fail_status=404`];
  const second = [`${H}/demo/products/14?latency_ms=30`, `${H}/demo/products/15?fail_status=500&fail_first=1`];
  const streamed = new Map();
  for (const [urls, offset] of [[second, 3], [first, 0]]) {
    const events = await post(urls, offset);
    assert.equal(events.at(-1).saved.rows, urls.length);
    for (const e of events) {
      if (e.id === undefined || e.type === 'queued') continue;
      const url = urls[e.id];
      streamed.set(url, [...(streamed.get(url) ?? []), e]);
    }
  }
  const { status, body } = await get('/api/v1/runs/rreopen');
  assert.equal(status, 200);
  assert.deepEqual(body.results.map((r) => r.url), [...first, ...second], 'results come back in the order given');
  for (const r of body.results) {
    assert.ok(r.timeline, `${r.url} has a timeline`);
    assert.deepEqual(r.timeline.events, streamed.get(r.url), `${r.url}: the saved events are the streamed ones`);
    assert.ok(Math.abs(r.timeline.t0 - body.run.created_at) < 10_000, 'the timeline\'s zero is on the run\'s clock');
  }
  const retried = body.results.find((r) => r.url.includes('products/12'));
  assert.deepEqual(retried.timeline.events.map((e) => e.type), ['started', 'retrying', 'started', 'done']);
  assert.equal(body.results.find((r) => r.url.includes('products/13')).outcome, 'failed');
  // The diff and the CSV do not carry timelines.
  const diff = await get('/api/v1/runs/rreopen/diff?against=rreopen');
  assert.equal(diff.status, 200);
  assert.equal(diff.body.diff.shared, 5);
  assert.ok(!JSON.stringify(diff.body).includes('timeline'));
});

test('save: false streams a run without keeping it; write_ms reports D1 time', async () => {
  const resp = await fetch(`${H}/api/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ urls: [`${H}/demo/products/5`], run_id: 'rnosave', save: false }),
    signal: AbortSignal.timeout(30_000),
  });
  const lines = (await resp.text()).trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.filter((e) => e.type === 'done').length, 1);
  assert.equal(lines.at(-1).saved, undefined, 'no save report');
  assert.equal((await get('/api/v1/runs/rnosave')).status, 404);
  const kept = await run([`${H}/demo/products/5`], 'rsave');
  assert.equal(kept.events.at(-1).saved.rows, 1);
  assert.equal(typeof kept.events.at(-1).saved.write_ms, 'number');
  await get('/api/v1/runs/rsave', { method: 'DELETE' });
});

test('a run whose client goes away keeps what it saved, and its list entry says how much', async () => {
  // 300 quick pages fill one save batch (250 rows) and more; 10 hang until
  // the client leaves, so the run never reaches its summary.
  const urls = [
    ...Array.from({ length: 300 }, (_, k) => `${H}/demo/products/${(k % 200) + 1}?tag=p${k}`),
    ...Array.from({ length: 10 }, (_, k) => `${H}/demo/products/${k + 1}?hang=1&tag=h${k}`),
  ];
  const controller = new AbortController();
  const resp = await fetch(`${H}/api/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ urls, run_id: 'rgone', concurrency: 50, timeout_ms: 20_000, retry: { max_attempts: 1 } }),
    signal: controller.signal,
  });
  assert.equal(resp.status, 200);
  const reader = resp.body.getReader();
  const dec = new TextDecoder();
  let text = '';
  for (let i = 0; i < 10_000 && (text.match(/"type":"done"/g) ?? []).length < 300; i += 1) {
    const { value, done } = await reader.read();
    if (done) break;
    text += dec.decode(value, { stream: true });
  }
  assert.equal((text.match(/"type":"done"/g) ?? []).length, 300);
  controller.abort();
  // The first batch was written while the run streamed; the rest died with it.
  let run;
  for (let i = 0; i < 50; i += 1) {
    run = (await get('/api/v1/runs/rgone')).body.run;
    if (run?.total === 250) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual([run.total, run.done, run.failed, run.chunks], [250, 250, 0, 0]);
  const listed = (await get('/api/v1/runs?limit=100')).body.runs.find((r) => r.id === 'rgone');
  assert.equal(listed.total, 250, 'the list shows the rows saved, not 0');
  assert.equal((await get('/api/v1/runs/rgone')).body.results.length, 250);
});

test('delete removes a run and its rows', async () => {
  await run([`${H}/demo/products/9`], 'rdelete');
  const before = (await get('/api/v1/runs')).body.total;
  assert.equal((await get('/api/v1/runs/rdelete', { method: 'DELETE' })).status, 200);
  assert.equal((await get('/api/v1/runs/rdelete')).status, 404);
  assert.equal((await get('/api/v1/runs/rdelete/export.csv')).status, 404);
  assert.equal((await get('/api/v1/runs')).body.total, before - 1);
  assert.equal((await get('/api/v1/runs/rdelete', { method: 'DELETE' })).status, 404);
  const h = await get(`/api/v1/history?url=${encodeURIComponent(`${H}/demo/products/9`)}`);
  assert.ok(h.body.points.every((p) => p.run_id !== 'rdelete'));
});

test('saved runs survive a restart of wrangler dev', async () => {
  const before = (await get('/api/v1/runs/rdiffA')).body;
  await stopEdge();
  await startEdge();
  const after = (await get('/api/v1/runs/rdiffA')).body;
  assert.deepEqual(after, before);
  assert.equal(after.results.length, 40);
});

test('a failed save is reported, and the stream loses nothing', async () => {
  // The locked edge's D1 has no schema (scripts/test.sh leaves it unmigrated).
  const LOCKED = process.env.FANOUT_LOCKED_URL;
  const auth = { authorization: `Bearer ${process.env.FANOUT_LOCKED_TOKEN}` };
  const urls = Array.from({ length: 12 }, (_, k) => `${LOCKED}/demo/products/${k + 1}`);
  const { events } = await run(urls, 'rfail', LOCKED, auth);
  const finals = events.filter((e) => e.type === 'done');
  assert.equal(finals.length, 12, 'every URL still has its result');
  const err = events.find((e) => e.type === 'save_error');
  assert.ok(err, 'a save_error event');
  assert.match(err.message, /saving the results failed/);
  const summary = events.at(-1);
  assert.equal(summary.type, 'summary');
  assert.equal(summary.done, 12);
  assert.equal(summary.saved.run_id, 'rfail');
  assert.match(summary.saved.error, /saving the results failed/);
  assert.equal(summary.saved.rows, 0);
});

test('retention: runs older than the age limit go, then the oldest beyond the count limit', async () => {
  // A run from 100 days ago, written straight into the local D1 while the
  // edge is stopped.
  await stopEdge();
  const old = Date.now() - 100 * 86_400_000;
  execFileSync('node_modules/.bin/wrangler', ['d1', 'execute', 'fanout', '--local', '--persist-to', STATE, '--command',
    `INSERT INTO runs (id, created_at, updated_at, total, done) VALUES ('rancient', ${old}, ${old}, 1, 1); ` +
    `INSERT INTO results (run_id, url, outcome, attempts, bytes) VALUES ('rancient', 'http://old.test/', 'done', 1, 10);`],
  { env: { ...process.env, CI: 'true' }, stdio: 'ignore', timeout: 60_000 });
  await startEdge();
  const ids = async () => (await get('/api/v1/runs?limit=100')).body.runs.map((r) => r.id);
  const before = await ids();
  assert.ok(before.includes('rancient') && before.length > 5, `the old run is there before: ${before}`);
  // By age (90 days): saving a run removes only the 100-day-old one.
  await run([`${H}/demo/products/1`], 'rretain1');
  assert.deepEqual(await ids(), ['rretain1', ...before.filter((id) => id !== 'rancient')]);
  const h = await get(`/api/v1/history?url=${encodeURIComponent('http://old.test/')}`);
  assert.deepEqual(h.body.points, [], 'its result rows went with it');
  // By count: with room for 4, the next save keeps the 4 newest.
  await stopEdge();
  await startEdge(['--var', 'HISTORY_MAX_RUNS:4']);
  const kept = await ids();
  await run([`${H}/demo/products/2`], 'rretain2');
  const after = await get('/api/v1/runs?limit=100');
  assert.deepEqual(after.body.runs.map((r) => r.id), ['rretain2', ...kept.slice(0, 3)]);
  assert.equal(after.body.total, 4);
  const p1 = await get(`/api/v1/history?url=${encodeURIComponent(`${H}/demo/products/1`)}`);
  assert.ok(p1.body.points.length > 0);
  assert.ok(p1.body.points.every((p) => after.body.runs.some((r) => r.id === p.run_id)), 'no result row of a deleted run remains');
});

test('a saved page keeps the validators its answer gave (ETag, Last-Modified), for a later revalidation', async () => {
  const up = await startUpstream();
  try {
    const urls = [`${up.origin}/etag?v=a1`, `${up.origin}/ok`];
    const { header } = await run(urls, undefined);
    const saved = await get(`/api/v1/runs/${header}`);
    assert.equal(saved.status, 200, JSON.stringify(saved.body));
    const byUrl = new Map(saved.body.results.map((r) => [r.url, r]));
    const tagged = byUrl.get(urls[0]);
    assert.equal(tagged.outcome, 'done');
    assert.equal(tagged.etag, '"a1"');
    assert.equal(tagged.last_modified, 'Sun, 06 Dec 2026 10:00:00 GMT');
    const plain = byUrl.get(urls[1]);
    assert.equal(plain.etag, undefined, 'an answer without validators keeps none');
    assert.equal(plain.last_modified, undefined);
  } finally {
    await up.close();
  }
});
