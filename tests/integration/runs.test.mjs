// Integration: a real client → `wrangler dev` (workerd running the edge) → a
// real upstream on 127.0.0.1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, run, finals, summary, sleep, BASE } from './helpers.mjs';

let up;
before(async () => { up = await startUpstream(); });
after(async () => { await up.close(); });

test('health and config answer JSON', async () => {
  const health = await (await fetch(`${BASE}/api/v1/health`)).json();
  assert.equal(health.ok, true);
  const cfg = await (await fetch(`${BASE}/api/v1/config`)).json();
  assert.ok(cfg.limits.max_urls_per_request >= 1);
  assert.equal(cfg.defaults.concurrency, 50);
  assert.equal(cfg.defaults.max_attempts, 3);
});

test('every URL gets exactly one final event, and the summary adds up', async () => {
  const urls = [];
  for (let i = 0; i < 12; i++) urls.push(`${up.origin}/ok?ms=${20 + i}&n=${i}`);
  urls.push(`${up.origin}/status/404?key=mix404`);
  urls.push(`${up.origin}/status/503?key=mixflaky&times=1`);
  urls.push(`${up.origin}/hang?n=mix`);
  urls.push(`http://127.0.0.1:1/refused`);
  const r = await run({ urls, timeout_ms: 800, retry: { max_attempts: 2, base_ms: 10, max_ms: 50 } });
  assert.equal(r.status, 200);
  assert.match(r.contentType, /application\/x-ndjson/);
  const f = finals(r.events);
  assert.equal(f.length, urls.length, 'one final event per URL');
  assert.deepEqual([...new Set(f.map((e) => e.id))].sort((a, b) => a - b), urls.map((_, i) => i));
  for (const e of r.events.filter((e) => e.type !== 'summary')) assert.equal(e.url, urls[e.id]);
  const s = summary(r.events);
  assert.ok(s, 'the last line is the summary');
  assert.equal(s.total, urls.length);
  assert.equal(s.done + s.failed + s.cancelled, urls.length);
  const byId = Object.fromEntries(f.map((e) => [e.id, e]));
  assert.equal(byId[12].type, 'failed');
  assert.equal(byId[12].error.kind, 'http_status');
  assert.equal(byId[13].type, 'done');
  assert.equal(byId[14].error.kind, 'timeout');
  assert.equal(byId[15].error.kind, 'network');
});

test('events stream as they happen, not at the end', async () => {
  const urls = [`${up.origin}/ok?ms=10&s=1`, `${up.origin}/ok?ms=1200&s=2`];
  const r = await run({ urls, concurrency: 2 });
  const firstDone = r.events.findIndex((e) => e.type === 'done');
  const spread = r.arrivals.at(-1) - r.arrivals[firstDone];
  assert.ok(spread >= 800, `the fast URL's done arrived ${spread} ms before the end`);
});

test('the upstream sees the concurrency cap respected', async () => {
  const urls = Array.from({ length: 30 }, (_, i) => `${up.origin}/ok?ms=150&g=cap&i=${i}`);
  const r = await run({ urls, concurrency: 5 });
  assert.equal(finals(r.events).filter((e) => e.type === 'done').length, 30);
  const g = up.state.groups.get('cap');
  assert.equal(g.total, 30);
  assert.ok(g.max <= 5, `upstream saw ${g.max} at once`);
  assert.ok(g.max >= 3, `upstream saw only ${g.max} at once`);
  assert.ok(summary(r.events).peak_in_flight <= 5);
});

test('a 503 then 200 is retried and ends done after 2 attempts', async () => {
  const r = await run({ urls: [`${up.origin}/status/503?key=flaky1&times=1`], retry: { base_ms: 20 } });
  const retry = r.events.find((e) => e.type === 'retrying');
  assert.ok(retry, 'a retrying event');
  assert.equal(retry.status, 503);
  assert.equal(retry.reason, 'HTTP 503');
  const [done] = finals(r.events);
  assert.equal(done.type, 'done');
  assert.equal(done.attempts, 2);
  assert.equal(up.state.hits.get('flaky1'), 2);
});

test('Retry-After is honoured, as measured at the upstream', async () => {
  const r = await run({ urls: [`${up.origin}/status/429?key=ra1&times=1&retry_after=1`], retry: { base_ms: 10, max_ms: 5000 } });
  const retry = r.events.find((e) => e.type === 'retrying');
  assert.ok(retry.wait_ms >= 1000, `waited ${retry.wait_ms} ms`);
  const [t1, t2] = up.state.times.get('ra1');
  assert.ok(t2 - t1 >= 950, `second request came ${t2 - t1} ms after the first`);
  assert.equal(finals(r.events)[0].type, 'done');
});

test('a Retry-After beyond the cap fails clearly instead of waiting', async () => {
  const r = await run({ urls: [`${up.origin}/status/503?key=ra2&times=1&retry_after=120`], retry: { max_ms: 2000 } });
  const [f] = finals(r.events);
  assert.equal(f.type, 'failed');
  assert.equal(f.error.kind, 'retry_after_too_long');
  assert.equal(up.state.hits.get('ra2'), 1);
});

test('a hanging upstream is aborted at the timeout: the upstream sees the connection closed', async () => {
  const before = up.state.closedEarly.length;
  const t0 = Date.now();
  const r = await run({ urls: [`${up.origin}/hang?n=t`], timeout_ms: 500, retry: { max_attempts: 1 } });
  const [f] = finals(r.events);
  assert.equal(f.error.kind, 'timeout');
  assert.ok(Date.now() - t0 < 5000);
  for (let i = 0; i < 40 && up.state.closedEarly.length === before; i++) await sleep(50);
  assert.ok(up.state.closedEarly.length > before, 'the upstream saw its connection closed');
  const closedAt = up.state.closedEarly.at(-1).at;
  assert.ok(closedAt - t0 < 2500, `closed ${closedAt - t0} ms after the start`);
});

test('a 404 is not retried', async () => {
  const r = await run({ urls: [`${up.origin}/status/404?key=nf1`] });
  const [f] = finals(r.events);
  assert.equal(f.type, 'failed');
  assert.equal(f.status, 404);
  assert.equal(f.attempts, 1);
  assert.equal(r.events.filter((e) => e.type === 'retrying').length, 0);
  assert.equal(up.state.hits.get('nf1'), 1);
});

test('the built-in demo shop serves a 200-product batch in-process', async () => {
  const cfg = await (await fetch(`${BASE}/api/v1/config`)).json();
  const n = Math.min(200, cfg.limits.max_urls_per_request);
  const urls = Array.from({ length: n }, (_, i) => `${BASE}/demo/products/${i + 1}?latency_ms=50`);
  const r = await run({ urls, concurrency: 50 });
  const f = finals(r.events);
  assert.equal(f.length, n);
  assert.ok(f.every((e) => e.type === 'done' && e.status === 200 && e.bytes > 5000));
  // Each page's product comes back, extracted while the body streamed.
  for (const e of f) {
    const p = e.product;
    assert.ok(p?.name?.value, `product name for ${e.url}`);
    assert.equal(p.name.source, 'json-ld');
    assert.match(p.price.value.amount, /^\d+\.\d{2}$/);
    assert.match(p.currency.value, /^(EUR|USD|GBP)$/);
    assert.match(p.availability.value, /^(in_stock|out_of_stock|preorder)$/);
    assert.equal(p.url.value, `${BASE}/demo/products/${e.id + 1}`);
  }
  const off = await run({ urls: urls.slice(0, 3), extract: false });
  assert.ok(finals(off.events).every((e) => e.type === 'done' && e.product === undefined), 'extract: false skips it');
  const sitemap = await (await fetch(`${BASE}/demo/sitemap.xml`)).text();
  assert.ok((sitemap.match(/<loc>/g) ?? []).length >= 200);
});

test('bad input gets a 4xx with a JSON error that says what to fix', async () => {
  const cases = [
    ['{', 400, 'malformed_json'],
    [JSON.stringify({ urls: [] }), 400, 'no_urls'],
    [JSON.stringify({ urls: ['ftp://x/y'] }), 400, 'invalid_url'],
    [JSON.stringify({ urls: [`${up.origin}/ok`], concurrency: 0 }), 400, 'option_out_of_range'],
  ];
  for (const [body, status, kind] of cases) {
    const r = await run(body);
    assert.equal(r.status, status, body);
    assert.equal(r.error.error.kind, kind, body);
    assert.ok(r.error.error.message.length > 10);
  }
  const wrongType = await fetch(`${BASE}/api/v1/runs`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' });
  assert.equal(wrongType.status, 415);
  assert.equal((await wrongType.json()).error.kind, 'unsupported_media_type');
  const cfg = await (await fetch(`${BASE}/api/v1/config`)).json();
  const tooMany = Array.from({ length: cfg.limits.max_urls_per_request + 1 }, (_, i) => `${up.origin}/ok?i=${i}`);
  const r = await run({ urls: tooMany });
  assert.equal(r.status, 400);
  assert.equal(r.error.error.kind, 'too_many_urls');
  const missing = await fetch(`${BASE}/api/v1/nope`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error.kind, 'not_found');
});

// workerd notices a closed connection on its next write; the run's heartbeat
// (a line after 250 ms of quiet) makes that write happen while every fetch is
// still waiting on the upstream.
test('a client that goes away cancels the run: upstream fetches are aborted, nothing new starts', async () => {
  const urls = Array.from({ length: 40 }, (_, i) => `${up.origin}/ok?ms=3000&g=gone&i=${i}`);
  const controller = new AbortController();
  const resp = await fetch(`${BASE}/api/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ urls, concurrency: 5 }),
    signal: controller.signal,
  });
  assert.equal(resp.status, 200);
  const reader = resp.body.getReader();
  // Wait until the upstream has the first five requests in flight.
  for (let i = 0; i < 100 && (up.state.groups.get('gone')?.inFlight ?? 0) < 5; i++) await sleep(20);
  assert.equal(up.state.groups.get('gone').inFlight, 5);
  controller.abort();
  await reader.cancel().catch(() => {});
  const t0 = Date.now();
  for (let i = 0; i < 100 && up.state.groups.get('gone').inFlight > 0; i++) await sleep(20);
  const g = up.state.groups.get('gone');
  assert.equal(g.inFlight, 0, 'in-flight upstream requests were aborted');
  assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms to drop to zero`);
  const total = g.total;
  await sleep(1500);
  assert.equal(g.total, total, 'no new upstream requests after the disconnect');
  assert.equal(total, 5);
});

test('a quiet stream carries heartbeats, only in its quiet gaps', async () => {
  const r = await run({ urls: [`${up.origin}/ok?ms=1200`, `${up.origin}/ok?ms=10`] });
  assert.equal(r.status, 200);
  const beats = r.events.filter((e) => e.type === 'heartbeat');
  assert.ok(beats.length >= 3, `${beats.length} heartbeats in a 1.2 s wait`);
  // Each heartbeat follows 250 ms (or more) without any other line.
  r.events.forEach((e, i) => {
    if (e.type !== 'heartbeat') return;
    const before = r.events[i - 1];
    const t = before.type === 'summary' ? before.elapsed_ms : before.t;
    assert.ok(e.t - t >= 249, `heartbeat at ${e.t} only ${e.t - t} ms after the line before it`);
    assert.equal(e.id, undefined);
  });
  assert.equal(r.events.at(-1).type, 'summary');
  assert.equal(summary(r.events).done, 2);
});

test('every demo knob works within one run', async () => {
  const d = (id, q) => `${BASE}/demo/products/${id}?${q}`;
  const urls = [
    d(1, 'redirect=3'),
    d(2, 'redirect_loop=1'),
    d(3, 'redirect=11'),
    d(4, 'huge_kb=5000'),
    d(5, 'fail_status=503&fail_first=2'),
    d(6, 'fail_status=429&retry_after=1'),
    d(7, 'fail_status=503&retry_after=1&retry_after_date=1'),
    d(8, 'hang=1'),
    d(9, 'drip_ms=100'),
    d(10, 'malformed=1'),
    d(11, 'latency_ms=300&jitter_ms=100'),
    d(12, 'fail_status=404'),
    `${BASE}/demo/api/ping`,
  ];
  const cfg = await (await fetch(`${BASE}/api/v1/config`)).json();
  const r = await run({ urls, timeout_ms: 3000, retry: { max_attempts: 3, base_ms: 10, max_ms: 3000 } });
  const by = Object.fromEntries(finals(r.events).map((e) => [e.id, e]));
  assert.equal(Object.keys(by).length, urls.length);
  assert.equal(by[0].type, 'done', 'a 3-hop redirect chain is followed');
  assert.equal(by[0].product.url.value, `${BASE}/demo/products/1`);
  assert.equal(by[1].error.kind, 'too_many_redirects');
  assert.match(by[1].error.message, /loop/);
  assert.equal(by[2].error.kind, 'too_many_redirects');
  assert.match(by[2].error.message, /after 10 redirects/);
  assert.ok(5000 * 1024 > cfg.limits.max_body_bytes);
  assert.equal(by[3].error.kind, 'body_too_large');
  assert.equal(by[4].type, 'done');
  assert.equal(by[4].attempts, 3, 'fail_first=2 fails two attempts');
  for (const id of [5, 6]) {
    const retry = r.events.find((e) => e.type === 'retrying' && e.id === id);
    assert.ok(retry.wait_ms >= 900, `Retry-After honoured for ${urls[id]}: ${retry.wait_ms}`);
    assert.equal(by[id].type, 'done');
  }
  assert.equal(by[7].error.kind, 'timeout');
  assert.equal(by[8].type, 'done');
  assert.ok(by[8].ms >= 900, `a dripping body takes its time: ${by[8].ms} ms`);
  assert.equal(by[9].type, 'done');
  assert.equal(by[9].product.malformed_json_ld, true);
  assert.ok(by[10].ms >= 280, `latency knob: ${by[10].ms} ms`);
  assert.equal(by[11].status, 404);
  assert.equal(by[11].attempts, 1);
  assert.equal(by[12].type, 'done');
});

test('upstream redirects are followed by Fanout, hop by hop', async () => {
  const r = await run({ urls: [`${up.origin}/redir/3?g=redir`, `${up.origin}/redir/12?g=redir12`] });
  const [a, b] = [0, 1].map((id) => finals(r.events).find((e) => e.id === id));
  assert.equal(a.type, 'done');
  assert.equal(a.status, 200);
  for (const n of [3, 2, 1, 0]) assert.equal(up.state.hits.get(`/redir/${n}`) >= 1, true, `hop /redir/${n} was fetched`);
  assert.equal(b.error.kind, 'too_many_redirects');
  assert.equal(up.state.hits.get('/redir/1') >= 1, true);
  assert.equal(up.state.groups.get('redir12').total, 11, 'the first request and 10 redirects, no more');
});

test('sitemaps are read through the edge, nested indexes followed', async () => {
  const r = await (await fetch(`${BASE}/api/v1/sitemap?url=${encodeURIComponent(`${BASE}/demo/sitemap_index.xml`)}`)).json();
  assert.equal(r.urls.length, 240);
  assert.equal(r.sitemaps, 4, 'the index, its nested index and two urlsets');
  assert.equal(new Set(r.urls).size, 240);
  assert.equal(r.urls[0], `${BASE}/demo/products/1`);
  assert.deepEqual(r.errors, []);
  const missing = await fetch(`${BASE}/api/v1/sitemap`);
  assert.equal(missing.status, 400);
  assert.equal((await missing.json()).error.kind, 'no_url');
  const gone = await fetch(`${BASE}/api/v1/sitemap?url=${encodeURIComponent(`${up.origin}/status/404?key=sm`)}`);
  assert.equal(gone.status, 502);
  assert.equal((await gone.json()).error.kind, 'sitemap_unavailable');
});
