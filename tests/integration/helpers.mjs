// Shared helpers for the integration tests: a real upstream on loopback and a
// streaming client for Fanout's NDJSON API. Every request loop here is bounded.
import http from 'node:http';
import { spawn } from 'node:child_process';

export const BASE = process.env.FANOUT_URL ?? 'http://127.0.0.1:8787';

/**
 * A local upstream that records what it sees: concurrency, per-path hits and
 * times, and connections closed before an answer (aborted requests).
 * Routes:
 *   /ok?ms=N            200 with a small product page after N ms
 *   (any route)?g=NAME  counted in group NAME: in flight now, most at once, total
 *   /status/S?key=K&times=T&retry_after=V   S for the first T hits of key K, then 200
 *   /redir/N            302 to /redir/N-1 (relative), 200 at 0
 *   /hang               never answers
 *   /fixed?ms=N         "ok" after N ms (no hit log: for load tests)
 *   /etag?v=V           200 with `ETag: "V"` (plus `state.version`, which a test
 *                       bumps to change every page) and a fixed Last-Modified;
 *                       304 to a matching If-None-Match (counted under
 *                       `304 /etag?v=V`). `&lm=1`: Last-Modified only, 304 to
 *                       a matching If-Modified-Since. `&p=NAME`: a product page
 *                       (JSON-LD: NAME, 12.50 EUR, in stock)
 */
export async function startUpstream() {
  const state = { version: '', inFlight: 0, maxInFlight: 0, groups: new Map(), hits: new Map(), times: new Map(), closedEarly: [], open: new Set() };
  const hit = (key) => {
    state.hits.set(key, (state.hits.get(key) ?? 0) + 1);
    if (!state.times.has(key)) state.times.set(key, []);
    state.times.get(key).push(Date.now());
    return state.hits.get(key);
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://upstream');
    // In-flight counts, overall and per `g` query parameter (one test's group).
    const g = url.searchParams.get('g');
    const group = g === null ? null : (state.groups.get(g) ?? { inFlight: 0, max: 0, total: 0 });
    if (group) {
      state.groups.set(g, group);
      group.inFlight += 1;
      group.total += 1;
      group.max = Math.max(group.max, group.inFlight);
    }
    state.inFlight += 1;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    let finished = false;
    const done = () => {
      if (!finished) {
        finished = true;
        state.inFlight -= 1;
        if (group) group.inFlight -= 1;
      }
    };
    res.on('finish', done);
    res.on('close', () => {
      if (!res.writableFinished) state.closedEarly.push({ path: url.pathname, at: Date.now() });
      done();
    });
    const page = (status, headers = {}) => {
      res.writeHead(status, { 'content-type': 'text/html', ...headers });
      res.end(`<!doctype html><html><head><title>p</title></head><body><h1>${url.pathname}</h1></body></html>`);
    };
    if (url.pathname === '/fixed') {
      // A fixed-latency endpoint for load tests: the same small body after N ms.
      const ms = Number(url.searchParams.get('ms') ?? 0);
      const send = () => { res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' }); res.end('ok'); };
      if (ms > 0) setTimeout(send, ms); else send();
    } else if (url.pathname === '/ok') {
      hit(url.pathname + url.search);
      setTimeout(() => page(200), Number(url.searchParams.get('ms') ?? 0));
    } else if (url.pathname.startsWith('/status/')) {
      const status = Number(url.pathname.split('/')[2]);
      const key = url.searchParams.get('key') ?? url.pathname;
      const n = hit(key);
      const times = Number(url.searchParams.get('times') ?? 1e9);
      const ra = url.searchParams.get('retry_after');
      if (n <= times) page(status, ra ? { 'retry-after': ra } : {});
      else page(200);
    } else if (url.pathname.startsWith('/redir/')) {
      // /redir/N redirects N times (relative Location), then answers 200.
      const n = Number(url.pathname.split('/')[2]);
      hit(`/redir/${n}`);
      if (n > 0) {
        res.writeHead(302, { location: `/redir/${n - 1}${url.search}` });
        res.end();
      } else page(200);
    } else if (url.pathname === '/etag') {
      const tag = `"${url.searchParams.get('v') ?? '1'}${state.version}"`;
      const date = state.version ? 'Mon, 07 Dec 2026 10:00:00 GMT' : 'Sun, 06 Dec 2026 10:00:00 GMT';
      const byDate = url.searchParams.get('lm') === '1';
      const validators = byDate ? { 'last-modified': date } : { etag: tag, 'last-modified': date };
      const fresh = byDate ? req.headers['if-modified-since'] === date : req.headers['if-none-match'] === tag;
      const name = url.searchParams.get('p');
      if (fresh) {
        hit(`304 ${url.pathname}${url.search}`);
        res.writeHead(304, validators);
        res.end();
      } else if (name) {
        hit(url.pathname + url.search);
        const ld = { '@context': 'https://schema.org', '@type': 'Product', name, sku: `SKU-${name}`,
          offers: { '@type': 'Offer', price: '12.50', priceCurrency: 'EUR', availability: 'https://schema.org/InStock' } };
        res.writeHead(200, { 'content-type': 'text/html', ...validators });
        res.end(`<!doctype html><html><head><script type="application/ld+json">${JSON.stringify(ld)}</script></head>`
          + `<body><h1>${name}</h1><p>${'A kettle that boils. '.repeat(200)}</p></body></html>`);
      } else {
        hit(url.pathname + url.search);
        page(200, validators);
      }
    } else if (url.pathname === '/hang') {
      hit('/hang');
      state.open.add(res);
      res.on('close', () => state.open.delete(res));
      // Never answers; the test ends by closing the server.
    } else {
      page(404);
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    state,
    async close() {
      for (const res of state.open) res.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * `method path` on the edge at `base` with an optional body (JSON, or a
 * string as is): its status and its JSON (or, when it is not JSON, its text).
 */
export async function call(method, path, body, base = BASE, headers = {}) {
  const resp = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await resp.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: resp.status, json };
}

/** POST a run and collect its events as they stream in (bounded by `timeoutMs`). */
export function run(body, opts) {
  return postNdjson('/api/v1/runs', body, opts);
}

/** POST a load test and collect its snapshots and summary. */
export function load(body, opts) {
  return postNdjson('/api/v1/load', body, opts);
}

async function postNdjson(path, body, { timeoutMs = 60_000, headers = {} } = {}) {
  const resp = await fetch(`${BASE}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!resp.ok) return { status: resp.status, error: await resp.json(), events: [] };
  const events = [];
  const arrivals = [];
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of resp.body) {
    buf += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) {
        events.push(JSON.parse(line));
        arrivals.push(Date.now());
      }
    }
  }
  return { status: resp.status, contentType: resp.headers.get('content-type'), events, arrivals };
}

export const finals = (events) => events.filter((e) => ['done', 'failed', 'cancelled'].includes(e.type));
export const summary = (events) => events.at(-1)?.type === 'summary' ? events.at(-1) : undefined;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Wait until a demo day (the shop's `day_s` knob, `dayMs` long) later than
 * `after` has just begun, so a short run stays inside it; returns that day.
 * Bounded: gives up after 100 waits.
 */
export async function startOfDemoDay(after = -1, dayMs = 3000) {
  for (let i = 0; i < 100; i += 1) {
    const into = Date.now() % dayMs;
    if (into < 200 && Math.floor(Date.now() / dayMs) > after) return Math.floor(Date.now() / dayMs);
    await new Promise((r) => setTimeout(r, Math.min(dayMs - into + 20, 200)));
  }
  throw new Error('no day boundary seen');
}

/** A webhook receiver on loopback: answers `plan` (statuses, then 200s), keeps what it got. */
export async function receiver(plan = []) {
  const got = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      got.push({ headers: req.headers, body, at: Date.now() });
      const status = plan.length ? plan.shift() : 200;
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status === 200 ? 'thanks' : 'try later');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}/hook`, got, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

/**
 * An edge of a test's own: the build `make test` made (no build step or
 * watcher), on `port`, with its local state in `state`, `env` on top of
 * this process's and `args` passed to wrangler, in a process group of its
 * own so that `stop()` ends it and its workerd. Waits (bounded) until it
 * answers its health check.
 */
export async function ownEdge(port, state, env = {}, args = []) {
  const child = spawn('scripts/wrangler-dev.sh', [String(port), ...args], {
    env: { ...process.env, FANOUT_NO_BUILD: '1', FANOUT_PERSIST: state, ...env },
    detached: true,
    stdio: 'ignore',
  });
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
    await Promise.race([exited, sleep(10_000)]);
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
  };
  const end = Date.now() + 120_000;
  for (;;) {
    const ok = await fetch(`${base}/api/v1/health`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
    if (ok) return { base, stop };
    if (Date.now() > end || child.exitCode !== null) {
      await stop();
      throw new Error(`the test's own edge on ${port} did not start`);
    }
    await sleep(500);
  }
}
