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
