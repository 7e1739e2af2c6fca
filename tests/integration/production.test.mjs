// Integration: production's connection limit, kept by Fanout in every
// invocation, and runs, load tests and jobs fanned out over shards to reach
// the concurrency they ask for. A real client → `wrangler dev` → loopback
// upstreams that count what they have in flight.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, run, load, finals, summary, sleep, BASE } from './helpers.mjs';

let up;
let other;
before(async () => {
  up = await startUpstream();
  other = await startUpstream();
});
after(async () => {
  await up.close();
  await other.close();
});

const urls = (origin, n, q) => Array.from({ length: n }, (_, i) => `${origin}/ok?${q}&i=${i}`);

test('the config shows the connection limit and the new per-request limits', async () => {
  const cfg = await (await fetch(`${BASE}/api/v1/config`)).json();
  assert.equal(cfg.limits.connections_per_invocation, 6);
  assert.ok(cfg.limits.max_urls_per_request >= 1000, `max_urls_per_request ${cfg.limits.max_urls_per_request}`);
  assert.ok(cfg.limits.max_concurrency >= 200, `max_concurrency ${cfg.limits.max_concurrency}`);
});

test('with the fan-out off, a C=50 run never has more than 6 requests at the upstream', async () => {
  const r = await run({ urls: urls(up.origin, 50, 'ms=300&g=one'), concurrency: 50, fan_out: false, save: false });
  assert.equal(finals(r.events).filter((e) => e.type === 'done').length, 50);
  const g = up.state.groups.get('one');
  assert.equal(g.total, 50);
  assert.equal(g.max, 6, `the upstream saw ${g.max} at once`);
  assert.equal(summary(r.events).invocations, undefined, 'no shards');
});

test('with the fan-out on, the upstream sees C and never more, over ceil(C/6) shards', async () => {
  const r = await run({ urls: urls(up.origin, 100, 'ms=400&g=fan'), concurrency: 50, save: false });
  assert.equal(finals(r.events).filter((e) => e.type === 'done').length, 100);
  const g = up.state.groups.get('fan');
  assert.equal(g.max, 50, `the upstream saw ${g.max} at once`);
  const s = summary(r.events);
  assert.ok(s.peak_in_flight <= 50);
  assert.equal(s.invocations, 9, 'ceil(50 / 6) shards');
});

test('per-host caps hold across shards', async () => {
  const list = [...urls(up.origin, 40, 'ms=300&g=ha'), ...urls(other.origin, 40, 'ms=300&g=hb')];
  const r = await run({ urls: list, concurrency: 30, per_host: 8, save: false });
  assert.equal(finals(r.events).filter((e) => e.type === 'done').length, 80);
  const a = up.state.groups.get('ha');
  const b = other.state.groups.get('hb');
  assert.equal(a.max, 8, `host A saw ${a.max} at once`);
  assert.equal(b.max, 8, `host B saw ${b.max} at once`);
});

test('an upstream that answers in 2 s causes no timeout at a 10 s budget, even six at a time', async () => {
  // In one invocation the 50 requests go out six at a time (nine waves of
  // 2 s): timed from when each asked to go, most would pass 10 s; timed
  // from when each really went out, none does.
  const r = await run({
    urls: urls(up.origin, 50, 'ms=2000&g=slow'),
    concurrency: 50,
    timeout_ms: 10_000,
    retry: { max_attempts: 1 },
    fan_out: false,
    save: false,
  }, { timeoutMs: 60_000 });
  const f = finals(r.events);
  assert.equal(f.filter((e) => e.type === 'done').length, 50, JSON.stringify(f.filter((e) => e.type !== 'done').slice(0, 2)));
  assert.equal(up.state.groups.get('slow').max, 6);
  // Each URL's latency is the upstream's, not its wait for a connection
  // (which would add multiples of 2 s). The edge times from when it handed
  // the request to the runtime, a few ms apart from when the upstream's own
  // timer started, so the lower bound leaves room for that.
  assert.ok(f.every((e) => e.ms >= 1900 && e.ms < 3500), `latencies ${f.map((e) => e.ms)}`);
  // Fanned out, the same run takes one wave.
  const fanned = await run({
    urls: urls(up.origin, 50, 'ms=2000&g=slowfan'),
    concurrency: 50,
    timeout_ms: 10_000,
    retry: { max_attempts: 1 },
    save: false,
  });
  assert.equal(finals(fanned.events).filter((e) => e.type === 'done').length, 50);
  assert.equal(up.state.groups.get('slowfan').max, 50);
});

test('a client that goes away stops every shard within a second', async () => {
  const controller = new AbortController();
  const resp = await fetch(`${BASE}/api/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ urls: urls(up.origin, 90, 'ms=4000&g=away'), concurrency: 30, save: false }),
    signal: controller.signal,
  });
  assert.equal(resp.status, 200);
  const reader = resp.body.getReader();
  for (let i = 0; i < 150 && (up.state.groups.get('away')?.inFlight ?? 0) < 30; i++) await sleep(20);
  const g = up.state.groups.get('away');
  assert.equal(g.inFlight, 30, 'five shards have all their requests out');
  controller.abort();
  await reader.cancel().catch(() => {});
  const t0 = Date.now();
  for (let i = 0; i < 100 && g.inFlight > 0; i++) await sleep(20);
  assert.equal(g.inFlight, 0, 'every shard aborted what it had');
  assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
  const total = g.total;
  await sleep(1500);
  assert.equal(g.total, total, 'nothing new went out');
  assert.equal(total, 30);
});

test('a shard that dies mid-run: its URLs are retried elsewhere, each ends once', async () => {
  // The edge under test runs with TEST_FAULTS: the first attempt at the
  // marked URL makes its shard drop everything and close, as an invocation
  // that died would.
  const list = urls(up.origin, 36, 'ms=500&g=die');
  list[3] = `${up.origin}/ok?ms=500&g=die&i=3&fanout_fault=shard_dies`;
  const r = await run({ urls: list, concurrency: 12, retry: { max_attempts: 3, base_ms: 10, max_ms: 50 }, save: false });
  const f = finals(r.events);
  assert.equal(f.length, 36, 'one final event per URL');
  assert.equal(new Set(f.map((e) => e.id)).size, 36, 'each URL once');
  assert.ok(f.every((e) => e.type === 'done'), JSON.stringify(f.filter((e) => e.type !== 'done')));
  const retried = r.events.filter((e) => e.type === 'retrying');
  assert.ok(retried.some((e) => e.id === 3), 'the URL whose shard died was retried');
  assert.ok(retried.every((e) => e.reason.includes('shard')), JSON.stringify(retried.slice(0, 3)));
  assert.ok(retried.length >= 2, `the dead shard's other requests were retried too (${retried.length})`);
  assert.ok(summary(r.events).invocations > 2, 'the lane went on with a fresh shard');
});

test('load mode reaches its concurrency at the upstream, and keeps six without the fan-out', async () => {
  const fanned = await load({ url: `${up.origin}/fixed?ms=100&g=load`, requests: 300, concurrency: 30 });
  const s = fanned.events.at(-1);
  assert.equal(s.type, 'load_summary');
  assert.equal(s.completed, 300);
  assert.equal(up.state.groups.get('load').max, 30);
  assert.ok(s.latency.p50_us >= 100_000 && s.latency.p50_us < 150_000, `p50 ${s.latency.p50_us} µs`);
  const one = await load({ url: `${up.origin}/fixed?ms=100&g=loadone`, requests: 60, concurrency: 30, fan_out: false });
  assert.equal(one.events.at(-1).completed, 60);
  assert.equal(up.state.groups.get('loadone').max, 6);
  // Timed from when each request went out: still the upstream's 100 ms.
  const p50 = one.events.at(-1).latency.p50_us;
  assert.ok(p50 >= 100_000 && p50 < 150_000, `p50 ${p50} µs`);
});

test('a job reaches its concurrency at the upstream across lanes, each URL once', async () => {
  const list = urls(up.origin, 600, 'ms=200&g=job');
  const created = await (await fetch(`${BASE}/api/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ urls: list, concurrency: 30, retry: { max_attempts: 1 } }),
  })).json();
  assert.ok(created.job_id, JSON.stringify(created));
  let st;
  for (let i = 0; i < 300; i++) {
    st = await (await fetch(`${BASE}/api/v1/jobs/${created.job_id}`)).json();
    if (['done', 'cancelled', 'failed'].includes(st.state)) break;
    await sleep(100);
  }
  assert.equal(st.state, 'done');
  assert.equal(st.counts.done, 600);
  const g = up.state.groups.get('job');
  assert.equal(g.total, 600, 'each URL fetched once');
  assert.equal(g.max, 30, `the upstream saw ${g.max} at once`);
});
