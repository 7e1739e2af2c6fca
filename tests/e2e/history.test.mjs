// End to end: the history page lists saved runs and highlights price changes
// between two runs of the demo shop on two demo days.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, BASE, ARTIFACTS } from './browser.mjs';
import { startOfDemoDay } from '../integration/helpers.mjs';

async function run(urls, runId) {
  const resp = await fetch(`${BASE}/api/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ urls, run_id: runId }),
    signal: AbortSignal.timeout(60_000),
  });
  assert.equal(resp.status, 200);
  const lines = (await resp.text()).trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.at(-1).saved?.error, undefined);
}

test('the history view lists two runs and highlights the prices that changed', async () => {
  const urls = Array.from({ length: 30 }, (_, k) => `${BASE}/demo/products/${k + 101}?day_s=3`);
  const a = await startOfDemoDay();
  await run(urls, 're2eA');
  await startOfDemoDay(a);
  await run(urls, 're2eB');
  const api = await (await fetch(`${BASE}/api/v1/runs/re2eB/diff?against=re2eA`)).json();
  const changes = api.diff.price_changes;
  assert.ok(changes.length > 0);

  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${BASE}/?mode=history`);
    const rowA = page.locator('tr[data-run=re2eA]');
    const rowB = page.locator('tr[data-run=re2eB]');
    await rowB.waitFor({ timeout: 15_000 });
    await rowA.waitFor();
    assert.match(await rowB.textContent(), /re2eB.*30.*100%/);
    await rowB.getByRole('button', { name: 'Compare with previous' }).click();
    const table = page.getByTestId('price-changes');
    await table.waitFor();
    assert.match(await page.getByTestId('diff-summary').textContent(), new RegExp(`${changes.length} price changes`));
    const drops = changes.filter((c) => c.percent < 0).length;
    assert.equal(await table.locator('tr.drop').count(), drops);
    assert.equal(await table.locator('tr.rise').count(), changes.length - drops);
    // Drops and rises are coloured differently.
    if (drops > 0 && drops < changes.length) {
      const color = (sel) => table.locator(sel).first().locator('td').first().evaluate((el) => getComputedStyle(el).color);
      assert.notEqual(await color('tr.drop'), await color('tr.rise'));
    }
    // A product's price history: one point per run.
    await table.locator('tbody button').first().click();
    const chart = page.locator('section[aria-label="Price history"] svg.chart');
    await chart.waitFor();
    assert.equal(await chart.getAttribute('data-points'), '2');
    await page.screenshot({ path: `${ARTIFACTS}/history-diff.png`, fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test('a run made in the dashboard reopens from the history with the same table, waterfall and statistics', async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${BASE}/`);
    // 120 URLs over three chunk requests: some retried (503 once), some failing (404).
    const urls = Array.from({ length: 120 }, (_, k) => {
      const knob = k % 15 === 7 ? '&fail_status=404' : k % 10 === 3 ? '&fail_status=503' : '';
      return `${BASE}/demo/products/${k + 1}?latency_ms=30${knob}`;
    });
    await page.locator('textarea').fill(urls.join('\n'));
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await page.waitForFunction(() => document.querySelector('[data-testid=finished]')?.textContent?.startsWith('120 / 120'), null, { timeout: 90_000 });
    const saved = page.getByTestId('saved').locator('a');
    await saved.waitFor({ timeout: 15_000 });
    const id = await saved.textContent();
    const statCards = async () => (await page.locator('.stats .stat').allTextContents()).filter((t) => !t.includes('URLs / s'));
    const live = {
      stats: await statCards(),
      bars: await page.locator('svg.waterfall').getAttribute('data-bars'),
      badges: await page.locator('tbody .badge').allTextContents(),
      urls: await page.locator('tbody td.url').allTextContents(),
      errors: await page.locator('.hosts .errors').textContent(),
    };
    assert.ok(live.badges.includes('failed') && live.stats.some((s) => /^[1-9]\d*retries/.test(s)), `the run has failures and retries: ${live.stats}`);

    // The saved run, reopened by the dashboard's link to it.
    assert.equal(await saved.getAttribute('href'), `/?mode=history&run=${id}`);
    await saved.click();
    const counts = page.getByTestId('opened-counts');
    await counts.waitFor({ timeout: 15_000 });
    const failed = urls.filter((u) => u.includes('404')).length;
    assert.match(await counts.textContent(), new RegExp(`^120 URLs · ${120 - failed} done · ${failed} failed · 0 cancelled`));
    assert.match(await page.locator('section[aria-label="Saved run"] h2').textContent(), new RegExp(`${id}.*read-only`));
    assert.deepEqual(await statCards(), live.stats);
    assert.equal(await page.locator('svg.waterfall').getAttribute('data-bars'), live.bars);
    assert.ok(await page.locator('svg.waterfall rect.bar.wait').count() > 0, 'retry waits are drawn');
    assert.deepEqual(await page.locator('tbody .badge').allTextContents(), live.badges);
    assert.deepEqual(await page.locator('tbody td.url').allTextContents(), live.urls, 'rows in the order given');
    assert.equal(await page.locator('.hosts .errors').textContent(), live.errors);
    // Read-only: nothing to run or cancel here, and the table still filters.
    assert.equal(await page.getByRole('button', { name: 'Run', exact: true }).count(), 0);
    await page.getByLabel('Filter by state').selectOption('failed');
    assert.equal(await page.locator('tbody .badge').count(), failed);
    await page.getByLabel('Filter by state').selectOption('all');
    await page.screenshot({ path: `${ARTIFACTS}/history-reopened.png`, fullPage: true });
    // From the list: Open shows it too, Close hides it.
    await page.getByRole('button', { name: 'Close' }).click();
    assert.equal(await counts.count(), 0);
    await page.locator(`tr[data-run=${id}]`).getByRole('button', { name: 'Open' }).click();
    await counts.waitFor();
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
