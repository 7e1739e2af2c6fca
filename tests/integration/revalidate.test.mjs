// Conditional re-fetch (#26) through the real worker: runs that ask
// (`revalidate: true`), jobs, and watch runs send each URL's last saved
// validators to a loopback upstream that answers 304 to them. The upstream
// counts its 304s; the tests check the carried product, the bytes saved, the
// history rows and, for a watch, that an unchanged run alerts nothing.
// Only loopback is used; every wait is bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, call, finals, receiver, run, sleep, startUpstream, summary } from './helpers.mjs';

/** Poll `path` until `pred` holds of its JSON (bounded). */
async function until(path, pred, ms = 60_000) {
  const end = Date.now() + ms;
  for (;;) {
    const { json } = await call('GET', path);
    if (pred(json)) return json;
    assert.ok(Date.now() < end, `${path} did not get there within ${ms} ms: ${JSON.stringify(json).slice(0, 600)}`);
    await sleep(250);
  }
}

const byUrl = (events) => new Map(finals(events).map((e) => [e.url, e]));
const hits = (up, key) => up.state.hits.get(key) ?? 0;

test('a revalidating run sends the last validators; a 304 is done, unchanged, with the saved product and the bytes saved', async () => {
  const up = await startUpstream();
  try {
    const tagged = `${up.origin}/etag?v=r1&p=Kettle`;
    const dated = `${up.origin}/etag?v=r2&p=Toaster&lm=1`;
    const plain = `${up.origin}/ok?r=plain`;
    const urls = [tagged, dated, plain];
    const first = await run({ urls, revalidate: true, concurrency: 3 });
    assert.equal(first.status, 200, JSON.stringify(first.error));
    const full = byUrl(first.events);
    assert.ok(urls.every((u) => full.get(u)?.type === 'done' && full.get(u).status === 200 && !full.get(u).not_modified),
      'nothing saved yet: every page is fetched in full');
    assert.equal(full.get(tagged).product.name.value, 'Kettle');
    const size = full.get(tagged).bytes;
    assert.ok(size > 4000, `a product page of some size: ${size}`);

    // Again, with and without fan-out: the two pages with validators answer 304.
    for (const [n, fanOut] of [[1, true], [2, false]]) {
      const again = await run({ urls, revalidate: true, concurrency: 3, fan_out: fanOut });
      const ev = byUrl(again.events);
      assert.equal(hits(up, `304 /etag?v=r1&p=Kettle`), n, 'If-None-Match was sent and matched');
      assert.equal(hits(up, `304 /etag?v=r2&p=Toaster&lm=1`), n, 'If-Modified-Since was sent and matched');
      for (const [u, name] of [[tagged, 'Kettle'], [dated, 'Toaster']]) {
        const e = ev.get(u);
        assert.equal(e.type, 'done', JSON.stringify(e));
        assert.equal(e.status, 304);
        assert.equal(e.not_modified, true);
        assert.equal(e.bytes, 0, 'nothing downloaded');
        assert.equal(e.bytes_saved, full.get(u).bytes, 'the last full answer is what was saved');
        assert.equal(e.product.name.value, name, 'the saved product, carried forward');
        assert.equal(e.product.name.source, 'saved');
        assert.equal(e.product.price.value.amount, '12.50');
        assert.equal(e.product.availability.value, 'in_stock');
      }
      assert.equal(ev.get(plain).status, 200, 'a page without validators is fetched in full');
      assert.equal(ev.get(plain).not_modified, undefined);
      const s = summary(again.events);
      assert.equal(s.done, 3);
      assert.equal(s.stats.unchanged, 2);
      assert.equal(s.stats.bytes_saved, full.get(tagged).bytes + full.get(dated).bytes);

      // The history keeps it, and a third revalidation still knows the page's size.
      const id = again.events.find((e) => e.type === 'summary').saved.run_id;
      const saved = await call('GET', `/api/v1/runs/${id}`);
      const row = saved.json.results.find((r) => r.url === tagged);
      assert.equal(row.not_modified, true);
      assert.equal(row.bytes_saved, size);
      assert.equal(row.product.name, 'Kettle');
      assert.equal(row.etag, '"r1"', 'the validators carry on');
    }

    // Without `revalidate`, nothing conditional is sent.
    const plainRun = await run({ urls: [tagged], concurrency: 1 });
    assert.equal(byUrl(plainRun.events).get(tagged).status, 200);
    assert.equal(hits(up, `304 /etag?v=r1&p=Kettle`), 2);

    // A changed validator is an ordinary fetch, and its new validators are kept.
    up.state.version = '-b';
    const changed = byUrl((await run({ urls: [tagged, dated], revalidate: true, concurrency: 2 })).events);
    for (const u of [tagged, dated]) {
      assert.equal(changed.get(u).status, 200, 'the page changed: downloaded');
      assert.equal(changed.get(u).not_modified, undefined);
    }
    assert.equal(hits(up, `304 /etag?v=r1&p=Kettle`), 2);
    const after = byUrl((await run({ urls: [tagged], revalidate: true, concurrency: 1 })).events);
    assert.equal(after.get(tagged).status, 304, 'revalidated against the new ETag');
    assert.equal(hits(up, `304 /etag?v=r1&p=Kettle`), 3);
  } finally {
    await up.close();
  }
});

test('the demo shop tags its pages: an unchanged one answers 304 to a revalidation, offline', async () => {
  // A fixed day: the page is the same both times.
  const url = `${BASE}/demo/products/233?day=41`;
  const first = byUrl((await run({ urls: [url], revalidate: true })).events).get(url);
  assert.equal(first.status, 200);
  assert.match(first.validators?.etag ?? '', /^"[0-9a-f]{16}"$/, 'an ETag of its bytes');
  const again = byUrl((await run({ urls: [url], revalidate: true })).events).get(url);
  assert.equal(again.status, 304);
  assert.equal(again.not_modified, true);
  assert.equal(again.bytes_saved, first.bytes);
  assert.equal(again.product.name.value, first.product.name.value);
  // Another day is another URL, never saved: fetched in full.
  const next = `${BASE}/demo/products/233?day=42`;
  const other = byUrl((await run({ urls: [next], revalidate: true })).events).get(next);
  assert.equal(other.status, 200);
  // The page itself answers a browser's If-None-Match too.
  const direct = await fetch(url, { headers: { 'if-none-match': first.validators.etag } });
  assert.equal(direct.status, 304);
});

test('revalidate with a crawl is refused', async () => {
  const r = await run({ urls: [`${BASE}/demo/`], revalidate: true, crawl: { max_pages: 5 } });
  assert.equal(r.status, 422);
  assert.equal(r.error.error.kind, 'conflicting_options');
});

test('a revalidating job sends validators from its shards', async () => {
  const up = await startUpstream();
  try {
    const urls = Array.from({ length: 12 }, (_, i) => `${up.origin}/etag?v=j${i}&p=Item${i}`);
    // A plain job first: its results keep the validators (they travel in
    // the shards' reports).
    const plain = await call('POST', '/api/v1/jobs', { urls, concurrency: 12 });
    await until(`/api/v1/jobs/${plain.json.job_id}`, (j) => j.state === 'done');
    const kept = (await call('GET', `/api/v1/runs/${plain.json.job_id}`)).json.results;
    assert.ok(kept.every((r) => r.status === 200 && r.etag === `"${new URL(r.url).searchParams.get('v')}"`),
      JSON.stringify(kept.slice(0, 2)));
    const created = await call('POST', '/api/v1/jobs', { urls, concurrency: 12, revalidate: true });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const id = created.json.job_id;
    const done = await until(`/api/v1/jobs/${id}`, (j) => j.state === 'done');
    assert.equal(done.counts.done, 12);
    assert.equal(urls.reduce((n, u) => n + hits(up, `304 ${new URL(u).pathname}${new URL(u).search}`), 0), 12);
    const saved = await call('GET', `/api/v1/runs/${id}`);
    assert.ok(saved.json.results.every((r) => r.not_modified && r.status === 304 && r.product?.name?.startsWith('Item')),
      JSON.stringify(saved.json.results.slice(0, 2)));
  } finally {
    await up.close();
  }
});

test('a watch run revalidates: the upstream answers 304, the run counts it, and nothing alerts', async () => {
  const up = await startUpstream();
  const hook = await receiver();
  let id;
  try {
    const urls = Array.from({ length: 5 }, (_, i) => `${up.origin}/etag?v=w${i}&p=Watch${i}`);
    const rules = [{ kind: 'price_change' }, { kind: 'out_of_stock' }, { kind: 'newly_failing' }, { kind: 'recovered' }];
    const created = await call('POST', '/api/v1/watches', {
      job: { urls }, schedule: { every_minutes: 60 }, rules, webhook: { url: hook.url, secret: 'test-secret-0123456789abcdef' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    id = created.json.watch.watch_id;
    // Its first run (by the alarm) downloads every page in full.
    await until(`/api/v1/watches/${id}`, (d) => d.runs[0]?.evaluated);
    assert.equal(urls.reduce((n, u) => n + hits(up, `304 ${new URL(u).pathname}${new URL(u).search}`), 0), 0);
    assert.equal((await call('POST', `/api/v1/watches/${id}/run`)).status, 201);
    const d = await until(`/api/v1/watches/${id}`, (x) => x.runs.length === 2 && x.runs[0].evaluated);
    assert.equal(urls.reduce((n, u) => n + hits(up, `304 ${new URL(u).pathname}${new URL(u).search}`), 0), 5,
      'every page was asked with its validators, and answered 304');
    const c = d.runs[0].counts;
    assert.equal(c.unchanged, 5);
    assert.equal(c.not_modified, 5);
    assert.equal(c.changed, 0);
    assert.ok(c.bytes_saved > 5 * 4000, `bytes saved: ${c.bytes_saved}`);
    assert.deepEqual(d.runs[0].alerts, [], 'an unchanged page is never an alert');
    await sleep(1000);
    assert.equal(hook.got.length, 0, 'no delivery');
    const rows = (await call('GET', `/api/v1/runs/${d.runs[0].job_id}`)).json.results;
    assert.ok(rows.every((r) => r.not_modified && r.product.price === '12.50'), 'the products carried forward');
  } finally {
    if (id) await call('DELETE', `/api/v1/watches/${id}`).catch(() => {});
    await hook.close();
    await up.close();
  }
});
