// Headless Chromium from Debian, driven by playwright-core (it cannot
// download a browser here). The flags keep it offline and quiet as root.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

export const BASE = process.env.FANOUT_URL ?? 'http://127.0.0.1:8787';
export const ARTIFACTS = process.env.FANOUT_ARTIFACTS ?? 'tests/artifacts';
mkdirSync(ARTIFACTS, { recursive: true });

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}
