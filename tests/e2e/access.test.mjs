// A closed edge in headless Chromium (#27): the locked-down edge of the test
// command has an API token; the page asks for it, keeps it in the browser,
// sends it with the run, shows it is kept on every page, and forgets it.
// Every wait is bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, ARTIFACTS } from './browser.mjs';

const LOCKED = process.env.FANOUT_LOCKED_URL;
const TOKEN = process.env.FANOUT_LOCKED_TOKEN;

test('a closed edge: the page asks for the token, keeps it, runs with it, and forgets it', { skip: !LOCKED && 'no locked-down edge' }, async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const sent = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/api/v1/runs' && r.method() === 'POST') sent.push(r.headers().authorization);
    });
    await page.goto(`${LOCKED}/`);
    const form = page.getByRole('form', { name: 'API token' });
    await form.waitFor({ timeout: 15_000 });
    await page.screenshot({ path: `${ARTIFACTS}/token.png` });
    await form.getByRole('textbox').or(form.locator('input[type=password]')).first().fill(TOKEN);
    await page.getByRole('button', { name: 'Use this token' }).click();
    await page.getByText('Using the API token kept in this browser').waitFor({ timeout: 15_000 });
    assert.equal(await form.count(), 0, 'the form is gone once the token is kept');

    // A small run of the edge's own demo shop (this edge takes small bodies).
    const urls = Array.from({ length: 5 }, (_, i) => `${LOCKED}/demo/products/${i + 1}`);
    await page.getByLabel('URLs, one per line').fill(urls.join('\n'));
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await page.waitForFunction(() => document.querySelectorAll('tr.task .badge.done').length === 5, null, { timeout: 60_000 });
    assert.deepEqual(sent, [`Bearer ${TOKEN}`], 'the run went out with the token');

    // Every page knows it; forgetting it brings the form back.
    await page.goto(`${LOCKED}/?mode=history`);
    await page.getByText('Using the API token kept in this browser').waitFor({ timeout: 15_000 });
    await page.getByRole('button', { name: 'forget it' }).click();
    await page.getByRole('form', { name: 'API token' }).waitFor({ timeout: 15_000 });
    assert.equal(await page.evaluate(() => localStorage.getItem('fanout.api_token')), null);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
