// Integration against a locked-down edge (as production runs it): private
// targets refused, an API token required, a small request-body limit.
// Only loopback addresses are used; refused targets must see no connection.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, finals } from './helpers.mjs';

const LOCKED = process.env.FANOUT_LOCKED_URL;
const TOKEN = process.env.FANOUT_LOCKED_TOKEN;
let up;
before(async () => {
  assert.ok(LOCKED && TOKEN, 'FANOUT_LOCKED_URL and FANOUT_LOCKED_TOKEN must be set (scripts/test.sh sets them)');
  up = await startUpstream();
});
after(async () => { await up?.close(); });

async function post(body, token = TOKEN, extraHeaders = {}) {
  const headers = { 'content-type': 'application/json', ...extraHeaders };
  if (token) headers.authorization = `Bearer ${token}`;
  const resp = await fetch(`${LOCKED}/api/v1/runs`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  const text = await resp.text();
  return { status: resp.status, text, json: resp.headers.get('content-type')?.includes('application/json') ? JSON.parse(text) : null };
}

const events = (text) => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

test('config reports the locked-down rules', async () => {
  const cfg = await (await fetch(`${LOCKED}/api/v1/config`)).json();
  assert.equal(cfg.limits.allow_private_targets, false);
  assert.equal(cfg.token_required, true);
  assert.equal(cfg.limits.max_request_bytes, 4096);
});

test('the API token is required when set', async () => {
  const demo = { urls: [`${LOCKED}/demo/products/1`] };
  const none = await post(demo, null);
  assert.equal(none.status, 401);
  assert.equal(none.json.error.kind, 'unauthorized');
  const wrong = await post(demo, 'not-the-token');
  assert.equal(wrong.status, 401);
  const ok = await post(demo);
  assert.equal(ok.status, 200);
  assert.equal(finals(events(ok.text))[0].type, 'done');
});

test('loopback targets are refused before any connection is made', async () => {
  const port = new URL(up.origin).port;
  for (const target of [`http://127.0.0.1:${port}/ok?g=ssrf`, `http://[::1]:${port}/ok?g=ssrf`, `http://localhost:${port}/ok?g=ssrf`]) {
    const r = await post({ urls: [target] });
    assert.equal(r.status, 403, target);
    assert.equal(r.json.error.kind, 'blocked_target', target);
    assert.match(r.json.error.message, /urls\[0\]/);
  }
  assert.equal(up.state.groups.get('ssrf'), undefined, 'the upstream saw no request');
});

test('a sitemap on a private address is refused too', async () => {
  const r = await fetch(`${LOCKED}/api/v1/sitemap?url=${encodeURIComponent(`${up.origin}/ok?g=sm`)}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 403);
  assert.equal((await r.json()).error.kind, 'blocked_target');
  assert.equal(up.state.groups.get('sm'), undefined);
});

test('a redirect into a private address is refused at the hop', async () => {
  // The edge's own demo page is allowed (served in-process); it redirects to
  // the loopback upstream, which the hop check must refuse.
  const target = encodeURIComponent(`${up.origin}/ok?g=hop`);
  const r = await post({ urls: [`${LOCKED}/demo/products/2?redirect_to=${target}`], retry: { max_attempts: 1 } });
  assert.equal(r.status, 200);
  const [f] = finals(events(r.text));
  assert.equal(f.type, 'failed');
  assert.equal(f.error.kind, 'blocked_target');
  assert.equal(up.state.groups.get('hop'), undefined, 'the private upstream saw no request');
});

test('a request body over the limit gets 413', async () => {
  const urls = Array.from({ length: 150 }, (_, i) => `${LOCKED}/demo/products/${(i % 200) + 1}`);
  const r = await post({ urls });
  assert.equal(r.status, 413);
  assert.equal(r.json.error.kind, 'body_too_large');
});

test('load tests follow the same rules: token required, private targets refused, no connection made', async () => {
  const send = (body, token = TOKEN) => fetch(`${LOCKED}/api/v1/load`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const none = await send({ url: `${LOCKED}/demo/products/1`, requests: 2 }, null);
  assert.equal(none.status, 401);
  const hitsBefore = up.state.inFlight + [...up.state.hits.values()].reduce((a, b) => a + b, 0);
  const blocked = await send({ url: `${up.origin}/ok`, requests: 5 });
  assert.equal(blocked.status, 403);
  assert.equal((await blocked.json()).error.kind, 'blocked_target');
  assert.equal(up.state.inFlight + [...up.state.hits.values()].reduce((a, b) => a + b, 0), hitsBefore);
  // The demo shop is served in-process and stays allowed.
  const demo = await send({ url: `${LOCKED}/demo/products/1`, requests: 4, concurrency: 2 });
  assert.equal(demo.status, 200);
  const lines = (await demo.text()).trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.at(-1).type, 'load_summary');
  assert.equal(lines.at(-1).completed, 4);
});
