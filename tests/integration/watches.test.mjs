// Watches through a real `wrangler dev` with the page's static assets (the
// config people run): first runs started by the scheduler's Durable Object
// alarm, with no tick and no request; rules evaluated on the demo shop's
// rolling prices (`day_s`); signed webhook deliveries to a loopback receiver
// that checks the signature, a retried delivery, manual runs, pause, and bad
// input; and, on an edge of its own that this file starts and restarts, a
// scheduled run after a restart and a slot skipped while the last run goes
// on. The expected alerts are computed here, independently, from the two
// runs' saved results. Every wait is bounded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { BASE, call, ownEdge, receiver } from './helpers.mjs';

const LOCKED = process.env.FANOUT_LOCKED_URL;
const TOKEN = process.env.FANOUT_LOCKED_TOKEN;
const SECRET = 'test-secret-0123456789abcdef';
const MINUTE = 60_000;
const made = [];


const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll `GET /api/v1/watches/{id}` until `pred` holds (bounded). */
async function until(id, pred, ms = 60_000, base = BASE) {
  const end = Date.now() + ms;
  for (;;) {
    const { json } = await call('GET', `/api/v1/watches/${id}`, undefined, base);
    if (pred(json)) return json;
    assert.ok(Date.now() < end, `watch ${id} did not get there within ${ms} ms: ${JSON.stringify(json).slice(0, 600)}`);
    await sleep(250);
  }
}

/** What a receiver should do: check `t=…,v1=…` over "t.body" with the secret, and its age. */
function verify(headers, body, secret = SECRET) {
  const header = headers['fanout-signature'];
  assert.ok(header, 'a Fanout-Signature header');
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=')));
  const t = Number(parts.t);
  assert.ok(Math.abs(Date.now() / 1000 - t) < 300, `a fresh timestamp: ${t}`);
  const want = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  assert.ok(timingSafeEqual(Buffer.from(parts.v1, 'hex'), want), 'the signature matches');
}

/** The rules, independently: every (rule index, url) that should alert from run `a` to run `b`. */
function expected(rules, a, b) {
  const before = new Map(a.map((r) => [r.url, r]));
  const num = (s) => (s == null || !/^-?\d+(\.\d+)?$/.test(s) ? null : Number(s));
  const inStock = (v) => v === 'in_stock' || v === 'limited';
  const stated = (v) => v != null && v !== 'unknown';
  const out = [];
  for (const n of b) {
    const o = before.get(n.url);
    if (!o) continue;
    const ok = (r) => r.outcome === 'done';
    rules.forEach((rule, i) => {
      let hit = false;
      if (rule.kind === 'newly_failing') hit = ok(o) && !ok(n);
      else if (rule.kind === 'recovered') hit = !ok(o) && ok(n);
      else if (ok(o) && ok(n) && o.product && n.product) {
        const op = num(o.product.price), np = num(n.product.price);
        const sameCur = !o.product.currency || !n.product.currency || o.product.currency === n.product.currency;
        if (rule.kind === 'price_drop') hit = op != null && np != null && sameCur && np < op && ((op - np) / op) * 100 >= rule.percent - 1e-9;
        if (rule.kind === 'price_change') hit = op != null && np != null && (op !== np || !sameCur);
        if (rule.kind === 'back_in_stock') hit = stated(o.product.availability) && stated(n.product.availability) && !inStock(o.product.availability) && inStock(n.product.availability);
        if (rule.kind === 'out_of_stock') hit = stated(o.product.availability) && stated(n.product.availability) && inStock(o.product.availability) && !inStock(n.product.availability);
      }
      if (hit) out.push(`${i} ${n.url}`);
    });
  }
  return out;
}

async function createWatch(body, base = BASE) {
  const r = await call('POST', '/api/v1/watches', body, base);
  assert.equal(r.status, 201, JSON.stringify(r.json));
  if (base === BASE) made.push(r.json.watch.watch_id);
  return r.json;
}

before(async () => {
  const health = await fetch(`${BASE}/api/v1/health`, { signal: AbortSignal.timeout(5000) });
  assert.equal(health.status, 200);
});

/** Delete this file's watches, so that no later alarm (here or in the browser tests) runs them. */
async function cleanup() {
  while (made.length) await call('DELETE', `/api/v1/watches/${made.pop()}`).catch(() => {});
}

after(cleanup);

test('a watch runs by itself (an alarm, no tick); its next run delivers exactly the expected changes, signed, after one retry', async () => {
  const hook = await receiver([503]);
  try {
    const urls = Array.from({ length: 40 }, (_, i) => `${BASE}/demo/products/${i + 1}?day_s=3`);
    const rules = [{ kind: 'price_drop', percent: 5 }, { kind: 'price_change' }, { kind: 'back_in_stock' }, { kind: 'out_of_stock' }];
    const created = await createWatch({
      name: 'Demo shop, rolling prices',
      job: { urls, concurrency: 20 },
      schedule: { every_minutes: 5 },
      rules,
      webhook: { url: hook.url, secret: SECRET },
    });
    const w = created.watch;
    assert.equal(created.secret, SECRET, 'the secret is shown once, on creation');
    assert.equal((await call('GET', `/api/v1/watches/${w.watch_id}`)).json.watch.secret, undefined, 'and never again');
    assert.equal(w.next_run_at, w.created_at, 'without jitter the first run is due at once');

    // The first run, started by the scheduler's alarm: nobody ticks or
    // presses anything (nothing to compare with, nothing sent).
    const one = await until(w.watch_id, (d) => d.runs.length === 1 && d.runs[0].evaluated);
    assert.equal(one.runs[0].state, 'done');
    assert.equal(one.runs[0].trigger, 'schedule', 'started by the schedule');
    assert.ok(one.runs[0].started_at >= w.next_run_at, 'not before it was due');
    assert.equal(one.runs[0].compared_with, undefined);
    assert.deepEqual(one.runs[0].alerts, []);
    assert.equal(one.watch.next_run_at, w.created_at + 5 * MINUTE, 'the next slot');
    assert.equal(one.runs.length, 1, 'the slot ran once');

    // The shop's day rolls every 3 s: wait for the next, then run 2 (by
    // hand: the next slot is five minutes away).
    await sleep(3500);
    assert.equal((await call('POST', `/api/v1/watches/${w.watch_id}/run`)).status, 201);
    const two = await until(w.watch_id, (d) => d.runs.length === 2 && d.runs[0].evaluated);
    const [newer, older] = two.runs;
    assert.equal(newer.compared_with, older.job_id);

    // The oracle: the two saved runs, compared here.
    const a = (await call('GET', `/api/v1/runs/${older.job_id}`)).json.results;
    const b = (await call('GET', `/api/v1/runs/${newer.job_id}`)).json.results;
    assert.equal(a.length, 40);
    assert.equal(b.length, 40);
    const want = expected(rules, a, b).sort();
    assert.ok(want.length > 0, 'a day later some prices moved');
    const got = newer.alerts.map((x) => `${x.rule} ${x.url}`).sort();
    assert.deepEqual(got, want, 'the alerts are exactly the changes');
    // The run's counts, against the same oracle: every URL changed,
    // unchanged or failed.
    const before = new Map(a.map((r) => [r.url, r]));
    const same = (o, n) => JSON.stringify([o.product?.price, o.product?.currency, o.product?.availability]) === JSON.stringify([n.product?.price, n.product?.currency, n.product?.availability]);
    // A watch run revalidates: a page the shop's new day left as it was
    // answers 304, and is unchanged whatever it was before.
    const counts = { changed: 0, unchanged: 0, failed: 0, not_modified: 0, bytes_saved: 0 };
    for (const n of b) {
      const o = before.get(n.url);
      if (n.not_modified) {
        counts.not_modified += 1;
        counts.bytes_saved += n.bytes_saved;
      }
      if (n.outcome !== 'done') counts.failed += 1;
      else if (n.not_modified || (o && o.outcome === 'done' && same(o, n))) counts.unchanged += 1;
      else counts.changed += 1;
    }
    assert.deepEqual(newer.counts, counts, 'changed, unchanged and failed, URL by URL');
    assert.ok(counts.changed > 0 && counts.unchanged > 0, JSON.stringify(counts));
    assert.equal(older.counts, undefined, 'a first run is compared with nothing');
    for (const x of newer.alerts.filter((x) => x.rule === 0)) {
      assert.ok(x.percent <= -5, `a drop of at least 5%: ${JSON.stringify(x)}`);
      assert.equal(Math.round((Number(x.new_price) - Number(x.old_price)) * 100), Math.round(Number(x.change) * 100), 'the change, exact to the cent');
      assert.match(x.change, /^-\d+\.\d{2}$/, 'an exact decimal');
      assert.ok(x.name && x.currency, 'alerts name the product and its currency');
    }

    // The delivery: 503 first, then retried and delivered; both logged.
    const end = Date.now() + 30_000;
    while (hook.got.length < 2 && Date.now() < end) await sleep(200);
    assert.equal(hook.got.length, 2, 'one retry after the 503');
    for (const g of hook.got) verify(g.headers, g.body);
    assert.equal(hook.got[0].body, hook.got[1].body, 'a retry sends the same payload');
    assert.equal(hook.got[1].headers['fanout-attempt'], '2');
    const payload = JSON.parse(hook.got[1].body);
    assert.equal(payload.event, 'watch.alerts');
    assert.equal(payload.watch.watch_id, w.watch_id);
    assert.equal(payload.run.run_id, newer.job_id);
    assert.equal(payload.run.compared_with, older.job_id);
    assert.equal(payload.delivery_id, hook.got[0].headers['fanout-delivery']);
    assert.deepEqual(payload.alerts.map((x) => `${x.rule} ${x.url}`).sort(), want);
    const log = await until(w.watch_id, () => true).then(() => call('GET', `/api/v1/watches/${w.watch_id}/deliveries`));
    const attempts = log.json.deliveries.slice().reverse();
    assert.deepEqual(attempts.map((d) => [d.attempt, d.status, d.outcome]), [[1, 503, 'retrying'], [2, 200, 'delivered']]);
    assert.ok(attempts[0].next_at >= attempts[0].at, 'the retry was scheduled');

    // The price chart: one series per product, a point per run.
    const prices = (await call('GET', `/api/v1/watches/${w.watch_id}/prices`)).json.series;
    assert.equal(prices.length, 40);
    assert.ok(prices.every((s) => s.points.length === 2 && s.points[0].run_id === older.job_id));
  } finally {
    await cleanup();
    await hook.close();
  }
});

test('a run with no matches sends nothing; a busy watch refuses a manual run', async () => {
  const hook = await receiver();
  try {
    // Fixed day: nothing changes between runs.
    const urls = [`${BASE}/demo/products/7?day=3`, `${BASE}/demo/products/8?day=3`];
    const { watch: w } = await createWatch({ job: { urls }, schedule: { every_minutes: 10 }, rules: [{ kind: 'price_change' }], webhook: { url: hook.url, secret: SECRET } });
    await until(w.watch_id, (d) => d.runs[0]?.evaluated);
    assert.equal((await call('POST', `/api/v1/watches/${w.watch_id}/run`)).status, 201);
    const d = await until(w.watch_id, (x) => x.runs.length === 2 && x.runs[0].evaluated);
    assert.deepEqual(d.runs[0].alerts, []);
    await sleep(1000);
    assert.equal(hook.got.length, 0, 'no alerts, no delivery');

    // A slow watch: while its first run goes on, a manual run is refused.
    const slow = (await createWatch({ job: { urls: [`${BASE}/demo/products/1?latency_ms=8000`] }, schedule: { every_minutes: 5 } })).watch;
    const running = await until(slow.watch_id, (x) => x.runs.length === 1);
    const busy = await call('POST', `/api/v1/watches/${slow.watch_id}/run`);
    assert.equal(busy.status, 409);
    assert.equal(busy.json.error.kind, 'watch_busy');
    assert.equal((await call('POST', `/api/v1/jobs/${running.runs[0].job_id}/cancel`)).status, 200);
    const cancelled = await until(slow.watch_id, (x) => x.runs[0].evaluated);
    assert.equal(cancelled.runs[0].state, 'cancelled');
    const manual = await call('POST', `/api/v1/watches/${slow.watch_id}/run`);
    assert.equal(manual.status, 201, JSON.stringify(manual.json));
    const after = await until(slow.watch_id, (x) => x.runs.length === 2);
    assert.equal(after.runs[0].trigger, 'manual');
    assert.equal(after.watch.next_run_at, slow.created_at + 5 * MINUTE, 'a manual run leaves the schedule as it was');
    await call('POST', `/api/v1/jobs/${manual.json.job_id}/cancel`);
  } finally {
    await cleanup();
    await hook.close();
  }
});

test('Slack and Discord channels get the same alerts in their own formats; "send a test" delivers a sample and shows the answer', async () => {
  const slack = await receiver();
  const discord = await receiver([429]);
  const refusing = await receiver([500, 500, 500]);
  try {
    const urls = Array.from({ length: 30 }, (_, i) => `${BASE}/demo/products/${i + 1}?day_s=3`);
    const created = await createWatch({
      name: 'Chat channels',
      job: { urls, concurrency: 20 },
      schedule: { every_minutes: 5 },
      rules: [{ kind: 'price_change' }],
      channels: [{ kind: 'slack', url: slack.url }, { kind: 'discord', url: discord.url }],
    });
    const w = created.watch;
    assert.equal(created.secret, undefined, 'no webhook, no secret');
    assert.deepEqual(w.channels.map((c) => c.kind), ['slack', 'discord']);
    await until(w.watch_id, (d) => d.runs.length === 1 && d.runs[0].evaluated);
    await sleep(3500);
    assert.equal((await call('POST', `/api/v1/watches/${w.watch_id}/run`)).status, 201);
    const d = await until(w.watch_id, (x) => x.runs.length === 2 && x.runs[0].evaluated);
    const alerts = d.runs[0].alerts;
    assert.ok(alerts.length > 0, 'a day later some prices moved');

    // Slack: one message, a header, one line per alert (at most 20) with the product's link.
    const end = Date.now() + 30_000;
    while ((slack.got.length < 1 || discord.got.length < 2) && Date.now() < end) await sleep(200);
    assert.equal(slack.got.length, 1);
    assert.equal(slack.got[0].headers['content-type'], 'application/json');
    assert.equal(slack.got[0].headers['fanout-signature'], undefined, 'chat channels are not signed');
    const sm = JSON.parse(slack.got[0].body);
    assert.equal(sm.text, `Chat channels: ${alerts.length} alert${alerts.length === 1 ? '' : 's'}`);
    assert.equal(sm.blocks[0].type, 'header');
    const lines = sm.blocks.filter((b) => b.type === 'section').flatMap((b) => b.text.text.trim().split('\n'));
    assert.equal(lines.length, Math.min(alerts.length, 20));
    for (const a of alerts.slice(0, 20)) {
      const line = lines.find((l) => l.includes(`<${a.url}|`));
      assert.ok(line, `a line for ${a.url}`);
      assert.ok(line.includes(`→ ${a.new_price}`), `old → new price: ${line}`);
    }
    assert.match(sm.blocks.at(-1).elements[0].text, /open the watch/);

    // Discord: a 429 first, retried; then content and one embed listing the same alerts.
    assert.equal(discord.got.length, 2, 'one retry after the 429');
    assert.equal(discord.got[0].body, discord.got[1].body);
    const dm = JSON.parse(discord.got[1].body);
    assert.equal(dm.content, sm.text);
    assert.deepEqual(dm.allowed_mentions, { parse: [] });
    const described = dm.embeds[0].description;
    for (const a of alerts.slice(0, 20)) assert.ok(described.includes(`](${a.url})`), `Discord lists ${a.url}`);

    // The log names each channel.
    const log = (await call('GET', `/api/v1/watches/${w.watch_id}/deliveries`)).json.deliveries;
    assert.deepEqual(log.filter((a) => a.channel === 'slack').map((a) => a.outcome), ['delivered']);
    assert.deepEqual(log.filter((a) => a.channel === 'discord').map((a) => [a.attempt, a.status, a.outcome]).reverse(), [[1, 429, 'retrying'], [2, 200, 'delivered']]);

    // Send a test: one sample alert, one attempt, the answer returned and logged.
    const t = await call('POST', `/api/v1/watches/${w.watch_id}/test`, { channel: 'slack' });
    assert.equal(t.status, 200, JSON.stringify(t.json));
    assert.deepEqual(t.json.attempts.map((a) => [a.channel, a.status, a.outcome]), [['slack', 200, 'delivered']]);
    assert.equal(slack.got.length, 2);
    assert.match(JSON.parse(slack.got[1].body).blocks[1].text.text, /a test alert/);
    const all = await call('POST', `/api/v1/watches/${w.watch_id}/test`);
    assert.deepEqual(all.json.attempts.map((a) => a.channel), ['slack', 'discord'], 'no channel named: every one');
    const none = await call('POST', `/api/v1/watches/${w.watch_id}/test`, { channel: 'webhook' });
    assert.equal(none.status, 409);
    assert.equal(none.json.error.kind, 'channel_not_set');
    const unknown = await call('POST', `/api/v1/watches/${w.watch_id}/test`, { channel: 'fax' });
    assert.deepEqual([unknown.status, unknown.json.error.kind], [400, 'invalid_channel']);

    // A channel that refuses: the test says so, once, with no retry.
    const patched = await call('PATCH', `/api/v1/watches/${w.watch_id}`, { channels: [{ kind: 'discord', url: refusing.url }] });
    assert.equal(patched.status, 200, JSON.stringify(patched.json));
    const bad = await call('POST', `/api/v1/watches/${w.watch_id}/test`, { channel: 'discord' });
    assert.deepEqual(bad.json.attempts.map((a) => [a.status, a.outcome]), [[500, 'failed']]);
    assert.match(bad.json.attempts[0].error, /500/);
    await sleep(1500);
    assert.equal(refusing.got.length, 1, 'a test is not retried');

    // Bad channels are refused like bad webhooks.
    const job = { urls: [`${BASE}/demo/products/1`] };
    const refuse = async (channels, kind) => {
      const r = await call('POST', '/api/v1/watches', { job, schedule: { every_minutes: 10 }, channels });
      assert.equal(r.status, 400, JSON.stringify(r.json));
      assert.equal(r.json.error.kind, kind);
    };
    await refuse([{ kind: 'teams', url: slack.url }], 'malformed_json');
    await refuse([{ kind: 'slack', url: 'ftp://hooks/' }], 'invalid_channel');
    await refuse([{ kind: 'slack', url: slack.url }, { kind: 'slack', url: slack.url }], 'invalid_channel');
  } finally {
    await cleanup();
    await Promise.all([slack.close(), discord.close(), refusing.close()]);
  }
});

test('pause, resume and edit a watch', async () => {
  const { watch: w } = await createWatch({ job: { urls: [`${BASE}/demo/products/2`] }, schedule: { every_minutes: 60, jitter_minutes: 30 } });
  assert.ok(w.next_run_at >= w.created_at && w.next_run_at <= w.created_at + 30 * MINUTE, 'jitter within its bound');
  const paused = await call('PATCH', `/api/v1/watches/${w.watch_id}`, { schedule: { every_minutes: 60, paused: true } });
  assert.equal(paused.status, 200, JSON.stringify(paused.json));
  assert.equal(paused.json.watch.next_run_at, undefined, 'a paused watch is not due');
  // Created paused: never due, so its alarm never starts it.
  const idle = (await createWatch({ job: { urls: [`${BASE}/demo/products/3`] }, schedule: { every_minutes: 5, paused: true } })).watch;
  assert.equal(idle.next_run_at, undefined);
  await sleep(2000);
  assert.equal((await call('GET', `/api/v1/watches/${idle.watch_id}`)).json.runs.length, 0, 'a paused watch does not run');
  assert.equal((await call('GET', `/api/v1/watches/${w.watch_id}`)).json.runs.length, 0);
  const edited = await call('PATCH', `/api/v1/watches/${w.watch_id}`, {
    name: 'Renamed', schedule: { every_minutes: 30 }, rules: [{ kind: 'price_at_or_below', target: '19.99', currency: 'eur' }],
    webhook: { url: 'http://127.0.0.1:9/hook' },
  });
  assert.equal(edited.status, 200, JSON.stringify(edited.json));
  assert.equal(edited.json.watch.name, 'Renamed');
  assert.deepEqual(edited.json.watch.rules, [{ kind: 'price_at_or_below', target: '19.99', currency: 'EUR' }]);
  assert.match(edited.json.secret, /^[0-9a-f]{64}$/, 'a new webhook gets a new secret, shown once');
  assert.ok(edited.json.watch.next_run_at > Date.now() - MINUTE);
  const list = await call('GET', '/api/v1/watches?limit=100');
  assert.ok(list.json.watches.some((x) => x.watch_id === w.watch_id && x.name === 'Renamed'));
  assert.equal((await call('DELETE', `/api/v1/watches/${w.watch_id}`)).status, 200);
  assert.equal((await call('GET', `/api/v1/watches/${w.watch_id}`)).status, 404);
});

test('bad watches are refused with the usual 4xx', async () => {
  const job = { urls: [`${BASE}/demo/products/1`] };
  const refused = async (body, kind, status = 400) => {
    const r = await call('POST', '/api/v1/watches', body);
    assert.equal(r.status, status, JSON.stringify(r.json));
    assert.equal(r.json.error.kind, kind, JSON.stringify(r.json));
  };
  await refused({ schedule: { every_minutes: 10 } }, 'malformed_json');
  await refused('{"job":', 'malformed_json');
  await refused({ job, schedule: { every_minutes: 10 }, colour: 'red' }, 'malformed_json');
  await refused({ job: { urls: ['x'], concurency: 3 }, schedule: { every_minutes: 10 } }, 'malformed_json');
  await refused({ job: { urls: ['ftp://a/'] }, schedule: { every_minutes: 10 } }, 'invalid_url');
  await refused({ job, schedule: { every_minutes: 1 } }, 'option_out_of_range');
  await refused({ job, schedule: { every_minutes: 10, jitter_minutes: 11 } }, 'conflicting_options', 422);
  await refused({ job, schedule: { every_minutes: 10 }, rules: [{ kind: 'price_drop' }] }, 'invalid_rule');
  await refused({ job, schedule: { every_minutes: 10 }, rules: [{ kind: 'price_at_or_below', target: 'cheap' }] }, 'invalid_rule');
  await refused({ job, schedule: { every_minutes: 10 }, rules: [{ kind: 'price_soars' }] }, 'malformed_json');
  await refused({ job, schedule: { every_minutes: 10 }, webhook: { url: 'ftp://hooks/' } }, 'invalid_webhook');
  await refused({ job, schedule: { every_minutes: 10 }, webhook: { url: 'http://127.0.0.1:9/', secret: 'short' } }, 'invalid_webhook');
  assert.equal((await call('GET', '/api/v1/watches/nope')).status, 404);
  assert.equal((await call('GET', '/api/v1/watches/bad%20id')).json.error.kind, 'invalid_watch_id');
  assert.equal((await call('POST', '/api/v1/watches/nope/run')).json.error.kind, 'watch_not_found');
  assert.equal((await call('PUT', '/api/v1/watches')).status, 405);
  assert.equal((await call('PATCH', '/api/v1/watches/nope', { name: 'x' })).status, 404);
});

test('in production, webhooks obey the target rules and the token applies', { skip: !LOCKED && 'no locked-down edge' }, async () => {
  const auth = { authorization: `Bearer ${TOKEN}` };
  const body = { job: { urls: ['https://shop.example/p/1'] }, schedule: { every_minutes: 60 }, webhook: { url: 'http://127.0.0.1:9/hook' } };
  const r = await call('POST', '/api/v1/watches', body, LOCKED, auth);
  assert.equal(r.status, 403, JSON.stringify(r.json));
  assert.equal(r.json.error.kind, 'blocked_target');
  const chat = { ...body, webhook: undefined, channels: [{ kind: 'slack', url: 'http://127.0.0.1:9/hook' }] };
  const c = await call('POST', '/api/v1/watches', chat, LOCKED, auth);
  assert.equal(c.status, 403, JSON.stringify(c.json));
  assert.equal(c.json.error.kind, 'blocked_target', 'channels obey the target rules too');
  assert.equal((await call('GET', '/api/v1/watches', undefined, LOCKED)).status, 401);
});

test('after a restart the next slot still runs by itself; a slot whose last run goes on is skipped, not made up', { timeout: 300_000 }, async () => {
  const port = Number(process.env.FANOUT_RESTART_PORT ?? 8794);
  const state = 'target/wrangler-watch-restart';
  rmSync(state, { recursive: true, force: true });
  let edge = await ownEdge(port, state, {}, ['--var', 'MIN_WATCH_MINUTES:1']);
  try {
    const shop = `${edge.base}/demo/products`;
    const quick = (await createWatch({ job: { urls: [`${shop}/1`, `${shop}/2`] }, schedule: { every_minutes: 1 } }, edge.base)).watch;
    // Each attempt waits 30 s for a page that answers after 60; four attempts
    // keep its first run going well past the next slot, a minute on.
    const slow = (await createWatch({ job: { urls: [`${shop}/3?latency_ms=60000`], timeout_ms: 30000, retry: { max_attempts: 4 } }, schedule: { every_minutes: 1 } }, edge.base)).watch;
    const q1 = await until(quick.watch_id, (d) => d.runs.length === 1 && d.runs[0].evaluated, 60_000, edge.base);
    assert.equal(q1.runs[0].trigger, 'schedule');
    const s1 = await until(slow.watch_id, (d) => d.runs.length === 1, 60_000, edge.base);
    assert.equal(s1.runs[0].state === 'queued' || s1.runs[0].state === 'running', true, JSON.stringify(s1.runs[0]));

    // Stopped and started again over the same state, and left alone: no
    // request touches the watches until the next slot has had its time.
    await edge.stop();
    edge = await ownEdge(port, state, {}, ['--var', 'MIN_WATCH_MINUTES:1']);
    const wait = quick.created_at + MINUTE + 15_000 - Date.now();
    await sleep(Math.max(0, wait));
    const touched = Date.now();

    const q2 = await until(quick.watch_id, (d) => d.runs.length >= 2, 60_000, edge.base);
    assert.ok(q2.runs[0].started_at < touched, 'it started by itself, before any request touched the watches');
    assert.equal(q2.runs.length, 2, 'the slot after the restart ran, once');
    assert.equal(q2.runs[0].trigger, 'schedule');
    assert.ok(q2.runs[0].started_at >= quick.created_at + MINUTE, 'at its slot, not before');
    assert.equal(q2.watch.next_run_at, quick.created_at + 2 * MINUTE);

    const s2 = await until(slow.watch_id, (d) => d.watch.last_skip, 30_000, edge.base);
    assert.equal(s2.runs.length, 1, 'no second run while the first goes on');
    assert.match(s2.watch.last_skip.reason, /still going/);
    assert.ok(s2.watch.last_skip.at >= slow.created_at + MINUTE);
    assert.equal(s2.watch.next_run_at, slow.created_at + 2 * MINUTE, 'the skipped slot is not made up');
    await call('POST', `/api/v1/jobs/${s1.runs[0].job_id}/cancel`, undefined, edge.base);
    for (const w of [quick, slow]) await call('DELETE', `/api/v1/watches/${w.watch_id}`, undefined, edge.base);
  } finally {
    await edge.stop();
  }
});
