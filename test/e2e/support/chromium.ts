// Debian's Chromium, headless, for the browser tests (never a downloaded browser). The flags keep it
// from reaching out to the network, which is closed here.
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';

/** Where Debian's `chromium` package puts the browser. */
export const CHROMIUM = '/usr/bin/chromium';

/** Screenshots of failed browser tests land here (kept as CI artifacts, ignored by git). */
export const ARTIFACTS = join(import.meta.dirname, '..', '..', '..', 'artifacts');

/** Launches headless Chromium with the flags this machine needs. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
