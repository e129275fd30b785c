/**
 * A real headless Chromium for end-to-end tests: Debian's `chromium` driven by playwright-core
 * (no browser download; `.ci/run` installs the package). Each launch gets a fresh profile.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { REPO_ROOT } from './shared.js';

export const CHROMIUM = process.env['MAESTRO_CHROMIUM'] ?? '/usr/bin/chromium';

/** Screenshots and other evidence a run leaves for people to look at (gitignored). */
export const ARTIFACTS = path.join(REPO_ROOT, 'test/artifacts');

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `the browser tests need Chromium at ${CHROMIUM} (Debian: apt-get install chromium; .ci/run installs it), or MAESTRO_CHROMIUM`,
    );
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  // playwright gives every launch a fresh --user-data-dir; the rest keeps Chromium from calling
  // home, which without these flags gets its connections refused many at a time here.
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
