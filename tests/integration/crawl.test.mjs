// Discovery crawling through the real worker under wrangler dev: the demo
// shop crawled from its home page, and made-up sites on loopback (two
// addresses, 127.0.0.1 and 127.0.0.2, for the scope rules) that record every
// request, so robots.txt and Crawl-delay are checked where they matter: at
// the site. Every wait here is bounded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { BASE, run, finals, summary } from './helpers.mjs';

/**
 * A small site on `host` that logs each request (path and time). `pages`
 * maps a path to the links on it; `robots` is the robots.txt body, or a
 * status number to answer instead.
 */
async function startSite(host, pages, robots) {
  const log = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://site');
    log.push({ path: url.pathname + url.search, at: Date.now(), ua: req.headers['user-agent'] ?? '' });
    if (url.pathname === '/robots.txt') {
      if (typeof robots === 'number') {
        res.writeHead(robots, { 'content-type': 'text/plain' });
        res.end('no');
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(robots ?? '');
      }
      return;
    }
    const links = pages[url.pathname];
    if (!links) {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<h1>not here</h1>');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html><head><title>${url.pathname}</title></head><body>${links.map((l) => `<a href="${l}">${l}</a>`).join(' ')}</body></html>`);
  });
  await new Promise((r) => server.listen(0, host, r));
  return {
    origin: `http://${host}:${server.address().port}`,
    log,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

let other;
let site;
before(async () => {
  other = await startSite('127.0.0.2', { '/': ['/x'], '/x': [] });
  site = await startSite(
    '127.0.0.1',
    {
      '/': ['/a', '/b', '/c', '/private/secret', `${other.origin}/`, '/a#again', '/b?utm_source=x'],
      '/a': ['/d', '/'],
      '/b': ['/d'],
      '/c': [],
      '/d': ['/e'],
      '/e': [],
      '/private/secret': [],
    },
    'User-agent: *\nDisallow: /private\nCrawl-delay: 0.3\n',
  );
});
after(async () => {
  await site?.close();
  await other?.close();
});

const urlsOf = (events, type) => events.filter((e) => e.type === type).map((e) => e.url);
const pathOf = (u) => { const x = new URL(u); return x.pathname + x.search; };

test('a crawl of the demo shop from its home page finds every product in its sitemap', async () => {
  const r = await run({ urls: [`${BASE}/demo/`], crawl: { max_depth: 3, max_pages: 400 }, save: false }, { timeoutMs: 120_000 });
  assert.equal(r.status, 200);
  const s = summary(r.events);
  assert.ok(s, 'a summary');
  const sitemap = await (await fetch(`${BASE}/demo/sitemap.xml`)).text();
  const listed = [...sitemap.matchAll(/<loc>([^<]+)<\/loc>/g)].map((m) => m[1]);
  assert.equal(listed.length, 240);
  const done = new Set(finals(r.events).filter((e) => e.type === 'done').map((e) => e.url));
  for (const u of listed) assert.ok(done.has(u), `${u} was found and fetched`);
  // Every discovered URL was announced once, before its queued, and ended once.
  const ids = new Map();
  for (const e of r.events) {
    if (e.id === undefined) continue;
    if (!ids.has(e.id)) ids.set(e.id, []);
    ids.get(e.id).push(e.type);
  }
  for (const [id, types] of ids) {
    if (id > 0) assert.deepEqual(types.slice(0, 2), ['discovered', 'queued'], `id ${id}`);
    assert.equal(types.filter((t) => ['done', 'failed', 'cancelled'].includes(t)).length, 1, `id ${id}`);
  }
  assert.equal(s.total, ids.size);
  assert.equal(s.crawl.discovered, s.total - 1);
  // robots.txt was read, its private pages never fetched, links out of the
  // shop left alone, and the campaign link folded into its page.
  assert.deepEqual(s.crawl.robots.map((x) => [x.outcome, x.crawl_delay_ms]), [['rules', 10]]);
  assert.ok(s.crawl.refused.robots_disallowed > 0);
  assert.ok(s.crawl.refused.out_of_scope > 0);
  assert.ok(s.crawl.refused.duplicate > 0);
  assert.ok(!urlsOf(r.events, 'discovered').some((u) => u.includes('/demo/private/')));
  assert.ok(!urlsOf(r.events, 'discovered').some((u) => u.includes('utm_')), 'fetched once, as first found without it');
  const parents = r.events.filter((e) => e.type === 'discovered');
  assert.ok(parents.every((e) => e.depth >= 1 && e.depth <= 3 && e.parent < e.id));
});

test('robots.txt first, disallowed pages never fetched, starts spaced by the Crawl-delay, scope kept', async () => {
  const before = site.log.length;
  const r = await run({ urls: [`${site.origin}/`], crawl: { max_depth: 5 }, concurrency: 10, save: false }, { timeoutMs: 60_000 });
  assert.equal(r.status, 200);
  const seen = site.log.slice(before);
  assert.equal(seen[0].path, '/robots.txt', 'robots.txt before any page');
  assert.equal(seen.filter((h) => h.path === '/robots.txt').length, 1, 'once per origin');
  assert.ok(seen.every((h) => h.ua.startsWith('Fanout/')), 'Fanout names itself');
  const pages = seen.filter((h) => h.path !== '/robots.txt');
  assert.deepEqual(pages.map((h) => h.path).sort(), ['/', '/a', '/b', '/c', '/d', '/e']);
  assert.ok(!seen.some((h) => h.path.startsWith('/private')), 'the disallowed page was never requested');
  for (let i = 1; i < pages.length; i += 1) {
    const gap = pages[i].at - pages[i - 1].at;
    assert.ok(gap >= 290, `starts ${gap} ms apart; Crawl-delay is 300 ms`);
  }
  assert.equal(other.log.length, 0, 'same-hostname: the other host was not visited');
  const s = summary(r.events);
  assert.equal(s.done, 6);
  assert.equal(s.crawl.refused.robots_disallowed, 1);
  assert.equal(s.crawl.refused.out_of_scope, 1, 'the link to 127.0.0.2');
  assert.ok(s.crawl.refused.duplicate >= 3, '/a#again, /b?utm_source=x, / and /d twice');
  assert.equal(s.crawl.robots[0].crawl_delay_ms, 300);
});

test('scope all follows the link to the second host, and a depth and page budget hold', async () => {
  const r = await run({ urls: [`${site.origin}/`], crawl: { max_depth: 1, scope: 'all', robots: 'ignore' }, save: false }, { timeoutMs: 60_000 });
  const s = summary(r.events);
  const fetched = urlsOf(r.events, 'done').map(pathOf).sort();
  assert.deepEqual(fetched, ['/', '/', '/a', '/b', '/c', '/private/secret'], 'depth 1 with robots ignored');
  assert.ok(urlsOf(r.events, 'done').includes(`${other.origin}/`));
  assert.ok(other.log.some((h) => h.path === '/'), 'the second host saw the request');
  assert.ok(!other.log.some((h) => h.path === '/x'), 'its links are one level too deep');
  assert.deepEqual(s.crawl.robots, [], 'robots: ignore fetches no robots.txt');
  const budget = await run({ urls: [`${site.origin}/`], crawl: { max_pages: 3, robots: 'ignore' }, save: false });
  const b = summary(budget.events);
  assert.equal(b.total, 3);
  assert.ok(b.crawl.refused.over_budget >= 2);
});

test('a robots.txt that answers 5xx disallows its site; a start page it disallows fails by name', async () => {
  const down = await startSite('127.0.0.1', { '/': ['/a'], '/a': [] }, 503);
  try {
    const r = await run({ urls: [`${down.origin}/`], crawl: {}, save: false });
    const [only] = finals(r.events);
    assert.equal(only.type, 'failed');
    assert.equal(only.error.kind, 'robots_disallowed');
    assert.equal(only.attempts, 0);
    const s = summary(r.events);
    assert.deepEqual(s.crawl.robots.map((x) => [x.outcome, x.status]), [['disallow_all', 503]]);
    assert.deepEqual(down.log.map((h) => h.path), ['/robots.txt'], 'nothing but robots.txt was requested');
  } finally {
    await down.close();
  }
  const r = await run({ urls: [`${site.origin}/private/secret`], crawl: {}, save: false });
  assert.equal(finals(r.events)[0].error.kind, 'robots_disallowed');
});

test('bad crawl options get a 4xx that says what to fix', async () => {
  const cases = [
    [{ urls: [`${BASE}/demo/`], crawl: { max_depth: 99 } }, 'option_out_of_range', /max_depth/],
    [{ urls: [`${BASE}/demo/`], crawl: { max_pages: 0 } }, 'option_out_of_range', /max_pages/],
    // Values the schema allows but a rule refuses: 422.
    [{ urls: [`${BASE}/demo/`], crawl: { include: ['[x'] } }, 'invalid_pattern', /crawl\.include\[0\]/, 422],
    [{ urls: [`${BASE}/demo/a`, `${BASE}/demo/b`], crawl: { max_pages: 1 } }, 'conflicting_options', /start pages/, 422],
    [{ urls: [`${BASE}/demo/`], crawl: { scope: 'universe' } }, 'malformed_json', /scope|variant/],
    [{ urls: [`${BASE}/demo/`], per_host_interval_ms: -1 }, 'malformed_json', /per_host_interval_ms|invalid/],
  ];
  for (const [body, kind, message, status = 400] of cases) {
    const r = await run(body);
    assert.equal(r.status, status, JSON.stringify(body));
    assert.equal(r.error.error.kind, kind, JSON.stringify(r.error));
    assert.match(r.error.error.message, message);
  }
  const cfg = await (await fetch(`${BASE}/api/v1/config`)).json();
  assert.ok(cfg.limits.max_crawl_pages >= 300);
  assert.ok(cfg.limits.max_host_interval_ms > 0);
});

test('per_host_interval_ms spaces a list run\'s starts on one host', async () => {
  const before = site.log.length;
  const urls = ['/a', '/b', '/c', '/d'].map((p) => `${site.origin}${p}`);
  const r = await run({ urls, concurrency: 4, per_host_interval_ms: 200, extract: false, save: false });
  assert.equal(summary(r.events).done, 4);
  const seen = site.log.slice(before);
  assert.equal(seen.length, 4, 'a list reads no robots.txt');
  // Each start waits at least half the interval (0.5-1.5x, randomised)
  // after the one before; measured where the requests arrive, one late
  // arrival can shorten a single gap, so the three gaps are judged together.
  const span = seen.at(-1).at - seen[0].at;
  assert.ok(span >= 3 * 100 - 50, `three gaps of at least 100 ms each (less 50 ms of arrival jitter): ${span} ms`);
});
