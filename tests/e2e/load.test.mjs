// End to end: the load-test page in headless Chromium against the real edge
// and its demo shop (offline).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, BASE, ARTIFACTS } from './browser.mjs';

const phase = (page) => page.getByTestId('load-status').getAttribute('data-phase');

async function withPage(fn, viewport = { width: 1400, height: 1100 }) {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await fn(page);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
}

test('a load test bigger than one edge request is split, merged and drawn', async () => {
  await withPage(async (page) => {
    // 3,000 requests at concurrency 150: over the edge's 1,000 requests and
    // 100 concurrency per request, so the page runs two lanes of 1,500, each
    // chaining two edge requests, and merges all four. 100 ms per request
    // makes it last about two seconds: several points on the rps chart.
    const target = `${BASE}/demo/products/3?latency_ms=100`;
    const q = new URLSearchParams({ mode: 'load', url: target, n: '3000', c: '150' });
    await page.goto(`${BASE}/?${q}`);
    assert.equal(await page.getByTestId('load-url').inputValue(), target);
    assert.equal(await page.getByTestId('load-n').inputValue(), '3000');
    await page.getByRole('button', { name: 'Start load test' }).click();
    await page.waitForFunction(() => document.querySelector('[data-testid=load-status]')?.dataset.phase === 'finished', null, { timeout: 90_000 });
    assert.equal(await page.getByTestId('load-completed').textContent(), '3000');
    assert.equal(await page.getByTestId('load-statuses').textContent(), '200×3000');
    assert.equal(await page.getByTestId('load-errors').textContent(), '0');
    assert.match(await page.getByTestId('load-status').textContent(), /Finished: 3000 requests/);
    // The p50 cell shows at least the demo's 100 ms latency.
    const p50 = await page.getByTestId('load-p50').textContent();
    assert.match(p50, /ms$/);
    assert.ok(parseFloat(p50) >= 99, `p50 ${p50}`);
    // Charts: an rps line with points, and histogram bars holding every latency.
    const points = Number(await page.locator('svg.chart[data-points]').getAttribute('data-points'));
    assert.ok(points >= 3, `${points} rps points`);
    const bins = Number(await page.locator('svg.chart[data-bins]').getAttribute('data-bins'));
    assert.ok(bins >= 1);
    assert.match(await page.getByTestId('load-percentiles').locator('..').locator('..').textContent(), /3000 latencies recorded/);
    // The configuration is in the address bar, to share.
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('mode'), 'load');
    assert.equal(url.searchParams.get('n'), '3000');
    assert.equal(url.searchParams.get('c'), '150');
    // Finished means a full bar (once its width transition has run).
    assert.equal(await page.getByRole('progressbar').getAttribute('aria-valuenow'), '100');
    await page.waitForTimeout(400);
    await page.screenshot({ path: `${ARTIFACTS}/load-test.png`, fullPage: true });
  });
});

test('cancel stops a load test at once and keeps what was measured', async () => {
  await withPage(async (page) => {
    const q = new URLSearchParams({ mode: 'load', url: `${BASE}/demo/products/4?latency_ms=50`, dur: '30000', c: '10' });
    await page.goto(`${BASE}/?${q}`);
    await page.getByRole('button', { name: 'Start load test' }).click();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=load-completed]')?.textContent) >= 20, null, { timeout: 20_000 });
    const t0 = Date.now();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.waitForFunction(() => document.querySelector('[data-testid=load-status]')?.dataset.phase === 'cancelled', null, { timeout: 10_000 });
    assert.ok(Date.now() - t0 < 10_000);
    assert.ok(Number(await page.getByTestId('load-completed').textContent()) >= 20);
    assert.match(await page.getByTestId('load-status').textContent(), /^Cancelled after/);
    assert.equal(await page.getByRole('button', { name: 'Start load test' }).isEnabled(), true);
  });
});

test('bad input is refused in the page, before anything is sent', async () => {
  await withPage(async (page) => {
    await page.goto(`${BASE}/?mode=load`);
    let posted = 0;
    page.on('request', (r) => { if (r.url().includes('/api/v1/load')) posted += 1; });
    await page.getByTestId('load-url').fill('not a url');
    await page.getByRole('button', { name: 'Start load test' }).click();
    await assert.doesNotReject(page.getByRole('alert').filter({ hasText: 'not a URL' }).waitFor({ timeout: 5_000 }));
    await page.getByTestId('load-url').fill(`${BASE}/demo/products/1`);
    await page.getByTestId('load-c').fill('0');
    await page.getByTestId('load-c').dispatchEvent('change');
    await page.getByRole('button', { name: 'Start load test' }).click();
    await assert.doesNotReject(page.getByRole('alert').filter({ hasText: 'concurrency' }).waitFor({ timeout: 5_000 }));
    assert.equal(posted, 0);
    assert.equal(await phase(page), 'idle');
    await page.screenshot({ path: `${ARTIFACTS}/load-bad-input.png`, fullPage: true });
  }, { width: 375, height: 800 });
});
