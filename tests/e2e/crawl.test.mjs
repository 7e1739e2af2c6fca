// The crawl page in headless Chromium against the real edge: a crawl from
// the demo shop's home page fills the table with discovered pages and their
// products, shows its refusals and robots.txt, and keeps its options in the
// page URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, BASE, ARTIFACTS } from './browser.mjs';

test('a crawl from the demo shop home page fills the table with discovered pages and their products', async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${BASE}/?mode=crawl`);
    const start = page.getByLabel('Start pages, one per line');
    await start.fill(`${BASE}/demo/?latency_ms=50`);
    await page.getByLabel('Depth').fill('2');
    await page.getByLabel('Depth').dispatchEvent('change');
    await page.getByRole('button', { name: 'Crawl', exact: true }).click();
    // Rows appear while the crawl runs, not only at the end.
    await page.waitForFunction(() => document.querySelectorAll('table tbody tr').length > 5, null, { timeout: 30_000 });
    await page.getByTestId('discovered').waitFor({ timeout: 90_000 });
    const discovered = await page.getByTestId('discovered').textContent();
    const n = Number(discovered.match(/(\d+) pages discovered/)[1]);
    // Depth 2 reaches the categories, their second pages and the products
    // listed on first pages, but not those only on second pages.
    assert.ok(n > 100 && n < 261, discovered);
    const finished = await page.getByTestId('finished').textContent();
    assert.equal(finished, `${n + 1} / ${n + 1} finished`);
    // Products of discovered pages are in the table.
    const cells = await page.locator('table tbody tr td').allTextContents();
    assert.ok(cells.some((c) => /Kettle|Backpack|Headphones/.test(c)), 'product names in the table');
    // The refusals and the robots.txt of the shop.
    const refusals = await page.getByRole('table', { name: 'Links not followed' }).textContent();
    assert.match(refusals, /disallowed by robots\.txt\s*\d+/);
    const robots = await page.getByRole('table', { name: 'robots.txt' }).textContent();
    assert.match(robots, /its rules.*10 ms/s);
    // The options are in the page URL: a reload restores them.
    assert.match(page.url(), /mode=crawl&dep=2&/);
    await page.reload();
    assert.equal(await page.getByLabel('Depth').inputValue(), '2');
    assert.equal(await page.getByLabel('Start pages, one per line').inputValue(), `${BASE}/demo/?latency_ms=50`);
    await page.screenshot({ path: `${ARTIFACTS}/crawl.png`, fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test('a start page that is not a URL is refused in the page', async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(`${BASE}/?mode=crawl`);
    await page.getByLabel('Start pages, one per line').fill('not a url');
    await page.getByRole('button', { name: 'Crawl', exact: true }).click();
    await assert.doesNotReject(page.getByRole('alert').filter({ hasText: 'not a url' }).waitFor({ timeout: 5_000 }));
  } finally {
    await browser.close();
  }
});
