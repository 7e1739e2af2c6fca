// End to end: the real page, served by `wrangler dev`, in headless Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, BASE, ARTIFACTS } from './browser.mjs';

const finishedText = (page) => page.getByTestId('finished').textContent();

test('a first visit can run the demo batch to the end', async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${BASE}/`);
    // The default input is the demo shop's 200 products.
    await assert.doesNotReject(page.getByText('200 URLs').first().waitFor({ timeout: 15_000 }));
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    // Rows appear at once and update live.
    await page.locator('tbody tr').first().waitFor();
    await page.waitForFunction(
      () => document.querySelector('[data-testid=finished]')?.textContent?.startsWith('200 / 200'),
      null,
      { timeout: 90_000 },
    );
    assert.match(await finishedText(page), /^200 \/ 200 finished/);
    const counts = await page.locator('.counts').textContent();
    assert.match(counts, /200 done · 0 failed · 0 cancelled/);
    assert.equal(await page.getByTestId('in-flight').textContent(), '0', 'the in-flight gauge returns to 0');
    // Every visible row is done.
    const badges = await page.locator('tbody .badge').allTextContents();
    assert.equal(badges.length, 100, 'one page of rows');
    assert.ok(badges.every((b) => b === 'done'), `states: ${[...new Set(badges)]}`);
    // Product data from the demo pages is shown, as text.
    const names = await page.locator('tbody td.product').allTextContents();
    assert.ok(names.filter((n) => n.trim().length > 3).length === 100, 'every row shows its product name');
    await page.screenshot({ path: `${ARTIFACTS}/demo-run.png` });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
