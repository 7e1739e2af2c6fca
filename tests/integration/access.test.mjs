// Who may use the API (#27), each on an edge of its own that this file
// starts: a deployment without a token is closed (every API route family
// answers 401 with how to open it; health, config, the page and the demo
// shop stay public); an open one (`OPEN_ACCESS`) holds each client to its
// rate limit (429 with Retry-After); the locked-down edge of the test command
// (a token set) takes the token. Every wait is bounded.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { ownEdge } from './helpers.mjs';

const LOCKED = process.env.FANOUT_LOCKED_URL;
const TOKEN = process.env.FANOUT_LOCKED_TOKEN;
const started = [];

/** An edge of this file's own, in its own process group, with `env` on top. */
async function edge(port, env) {
  const state = `target/wrangler-access-${port}`;
  rmSync(state, { recursive: true, force: true });
  const e = await ownEdge(port, state, env);
  started.push(e);
  return e.base;
}

after(async () => {
  for (const e of started) await e.stop();
});

async function call(base, method, path, body, headers = {}) {
  const resp = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await resp.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: resp.status, headers: resp.headers, json };
}

test('without a token a deployment is closed: every API route family answers 401 and says how to open it', async () => {
  const base = await edge(Number(process.env.FANOUT_CLOSED_PORT ?? 8789), { FANOUT_CLOSED: '1' });
  const urls = [`${base}/demo/products/1`];
  const routes = [
    ['POST', '/api/v1/runs', { urls }],
    ['GET', '/api/v1/runs'],
    ['GET', '/api/v1/runs/r1'],
    ['GET', '/api/v1/runs/r1/export.csv'],
    ['GET', '/api/v1/history'],
    ['POST', '/api/v1/jobs', { urls }],
    ['GET', '/api/v1/jobs'],
    ['GET', '/api/v1/jobs/j1/events'],
    ['POST', '/api/v1/watches', { job: { urls }, schedule: { every_minutes: 60 } }],
    ['GET', '/api/v1/watches'],
    ['POST', '/api/v1/watches/w1/test'],
    ['POST', '/api/v1/load', { url: urls[0], requests: 1 }],
    ['GET', `/api/v1/sitemap?url=${encodeURIComponent(`${base}/demo/sitemap.xml`)}`],
    ['GET', '/api/v1/anything-added-later'],
  ];
  for (const [method, path, body] of routes) {
    const r = await call(base, method, path, body);
    assert.equal(r.status, 401, `${method} ${path}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.error.kind, 'unauthorized');
    assert.match(r.json.error.message, /wrangler secret put API_TOKEN/);
    assert.match(r.json.error.message, /OPEN_ACCESS/);
    assert.equal(r.headers.get('www-authenticate'), 'Bearer');
  }
  // What stays public.
  assert.equal((await call(base, 'GET', '/api/v1/health')).status, 200);
  const config = await call(base, 'GET', '/api/v1/config');
  assert.equal(config.status, 200);
  assert.equal(config.json.token_required, true, 'the dashboard reads this and asks for a token');
  assert.equal(config.json.open_access, false);
  assert.equal((await fetch(`${base}/`)).status, 200, 'the page');
  assert.equal((await fetch(`${base}/demo/products/1`)).status, 200, 'the demo shop');
});

test('an open deployment holds each client to its rate limit: 429 with Retry-After', async () => {
  const base = await edge(Number(process.env.FANOUT_LIMITED_PORT ?? 8790), { FANOUT_RATE_LIMIT: '5' });
  const config = await call(base, 'GET', '/api/v1/config');
  assert.deepEqual([config.json.token_required, config.json.open_access], [false, true]);
  const statuses = [];
  let limited;
  for (let i = 0; i < 8; i += 1) {
    const r = await call(base, 'GET', '/api/v1/runs');
    statuses.push(r.status);
    if (r.status === 429) limited = r;
  }
  assert.deepEqual(statuses.slice(0, 5), [200, 200, 200, 200, 200], 'within the limit');
  assert.ok(statuses.slice(5).every((s) => s === 429), `over it: ${statuses}`);
  assert.equal(limited.json.error.kind, 'rate_limited');
  assert.equal(limited.headers.get('retry-after'), '60');
  // Health and config are not counted.
  for (let i = 0; i < 3; i += 1) assert.equal((await call(base, 'GET', '/api/v1/health')).status, 200);
});

test('with a token set, the token opens every route and its absence closes them', { skip: !LOCKED && 'no locked-down edge' }, async () => {
  const auth = { authorization: `Bearer ${TOKEN}` };
  for (const path of ['/api/v1/runs', '/api/v1/jobs', '/api/v1/watches']) {
    assert.equal((await call(LOCKED, 'GET', path)).status, 401, path);
    assert.equal((await call(LOCKED, 'GET', path, undefined, { authorization: 'Bearer wrong' })).status, 401, path);
    assert.notEqual((await call(LOCKED, 'GET', path, undefined, auth)).status, 401, path);
  }
  const config = await call(LOCKED, 'GET', '/api/v1/config');
  assert.deepEqual([config.json.token_required, config.json.open_access], [true, false]);
});
