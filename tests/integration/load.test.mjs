// Load-test mode (POST /api/v1/load) against the real worker and a real
// loopback upstream. Counts are asserted exactly; latencies only against the
// upstream's own fixed delay (a band, never a speed target).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, startUpstream, load } from './helpers.mjs';

let up;
before(async () => { up = await startUpstream(); });
after(async () => { await up?.close(); });

const summaryOf = (r) => {
  const last = r.events.at(-1);
  assert.equal(last?.type, 'load_summary', `last line is the summary: ${JSON.stringify(last)?.slice(0, 200)}`);
  return last;
};
const snapshotsOf = (r) => r.events.filter((e) => e.type === 'snapshot');

test('500 requests at concurrency 20: exactly 500 counted, p50 in the upstream latency band', async () => {
  const r = await load({ url: `${up.origin}/fixed?ms=20&g=n500`, requests: 500, concurrency: 20 });
  assert.equal(r.status, 200);
  assert.match(r.contentType, /application\/x-ndjson/);
  assert.equal(r.events[0].type, 'load_started');
  assert.equal(r.events[0].max_requests, 500);
  const s = summaryOf(r);
  assert.equal(s.stopped, 'count');
  assert.equal(s.completed, 500);
  assert.equal(s.ok, 500);
  assert.equal(s.errors, 0);
  assert.deepEqual(s.statuses, { 200: 500 });
  assert.equal(s.bytes, 1000);
  assert.equal(s.latency.count, 500);
  // The upstream saw exactly 500 and never more than 20 at once.
  const g = up.state.groups.get('n500');
  assert.equal(g.total, 500);
  assert.ok(g.max <= 20, `upstream saw ${g.max} at once`);
  // p50 lies in the upstream's band: never under its 20 ms delay (less 1 ms
  // of timer rounding), and not wildly over it (a generous sanity bound,
  // not a performance target).
  assert.ok(s.latency.p50_us >= 19_000, `p50 ${s.latency.p50_us} µs is under the upstream delay`);
  assert.ok(s.latency.p50_us <= 250_000, `p50 ${s.latency.p50_us} µs is far outside the 20 ms band`);
  assert.ok(s.latency.p50_us <= s.latency.p99_us && s.latency.p99_us <= s.latency.max_us);
  // Snapshots are periodic and their deltas add up to the final histogram.
  const snaps = snapshotsOf(r);
  assert.ok(snaps.length >= 2, `${snaps.length} snapshots`);
  const merged = new Map();
  for (const sn of snaps) for (const [v, c] of sn.delta) merged.set(v, (merged.get(v) ?? 0) + c);
  assert.deepEqual([...merged.entries()].sort((a, b) => a[0] - b[0]), s.histogram);
  assert.equal(s.histogram.reduce((n, [, c]) => n + c, 0), 500);
  for (let i = 1; i < snaps.length; i += 1) assert.ok(snaps[i].completed >= snaps[i - 1].completed);
  assert.equal(snaps.at(-1).completed, 500);
});

test('duration mode stops on time, and what was in flight is counted as aborted', async () => {
  const r = await load({ url: `${up.origin}/fixed?ms=10&g=dur`, duration_ms: 700, concurrency: 5 });
  const s = summaryOf(r);
  assert.equal(s.stopped, 'duration');
  assert.ok(s.completed > 0);
  assert.ok(s.elapsed_ms >= 700, `elapsed ${s.elapsed_ms}`);
  // Every request the upstream saw was either completed or aborted.
  const g = up.state.groups.get('dur');
  assert.equal(s.completed + s.aborted, g.total);
  assert.ok(s.aborted <= 5);
});

test('hung requests time out and their connections are closed', async () => {
  const before = up.state.closedEarly.filter((c) => c.path === '/hang').length;
  const r = await load({ url: `${up.origin}/hang`, requests: 3, concurrency: 3, timeout_ms: 300 });
  const s = summaryOf(r);
  assert.equal(s.completed, 3);
  assert.equal(s.errors, 3);
  assert.deepEqual(s.error_kinds, { timeout: 3 });
  assert.equal(s.latency.count, 0);
  for (let i = 0; i < 50 && up.state.closedEarly.filter((c) => c.path === '/hang').length < before + 3; i += 1) {
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(up.state.closedEarly.filter((c) => c.path === '/hang').length, before + 3);
});

test('HEAD reads no body, statuses are counted as answered, and the demo shop works offline', async () => {
  const head = summaryOf(await load({ url: `${up.origin}/fixed`, method: 'HEAD', requests: 20, concurrency: 4 }));
  assert.equal(head.completed, 20);
  assert.equal(head.bytes, 0);
  const missing = summaryOf(await load({ url: `${up.origin}/nope`, requests: 10, concurrency: 2 }));
  assert.deepEqual(missing.statuses, { 404: 10 });
  assert.equal(missing.ok, 0);
  assert.equal(missing.errors, 0);
  const demo = summaryOf(await load({ url: `${BASE}/demo/products/7?latency_ms=5`, requests: 60, concurrency: 6 }));
  assert.deepEqual(demo.statuses, { 200: 60 });
  assert.ok(demo.latency.p50_us >= 4_000, `demo p50 ${demo.latency.p50_us}`);
});

test('bad load requests are refused with a kind and a message', async () => {
  const cases = [
    [{ url: `${up.origin}/fixed`, requests: 5, duration_ms: 5 }, 'conflicting_options', 422],
    [{ url: `${up.origin}/fixed`, requests: 0 }, 'option_out_of_range'],
    [{ url: `${up.origin}/fixed`, concurrency: 100000 }, 'option_out_of_range'],
    [{ url: `${up.origin}/fixed`, requests: 1e9 }, 'option_out_of_range'],
    [{ url: 'ftp://example.test/' }, 'invalid_url'],
    [{ url: `${up.origin}/fixed`, method: 'POST' }, 'malformed_json'],
    [{ urls: [`${up.origin}/fixed`] }, 'malformed_json'],
  ];
  for (const [body, kind, status = 400] of cases) {
    const r = await load(body);
    assert.equal(r.status, status, JSON.stringify(body));
    assert.equal(r.error.error.kind, kind, JSON.stringify(body));
    assert.ok(r.error.error.message.length > 10);
  }
  const get = await fetch(`${BASE}/api/v1/load`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(get.status, 405);
  const cfg = await (await fetch(`${BASE}/api/v1/config`)).json();
  for (const k of ['max_load_requests', 'max_load_duration_ms', 'max_load_concurrency']) assert.ok(cfg.limits[k] > 0, k);
});
