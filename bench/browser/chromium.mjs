// The Chromium the bench scripts drive: Debian's (or $CHROMIUM), headless,
// on a fresh profile that `close()` deletes. Nothing is downloaded.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * Launches Chromium on a fresh profile (a temporary directory named after
 * `purpose`). Returns `{context, close}`: `close()` ends the browser and
 * deletes the profile.
 */
export async function launch(purpose) {
  const profile = mkdtempSync(join(tmpdir(), `moonvault-${purpose}-`));
  const removeProfile = () => rmSync(profile, { recursive: true, force: true });
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      headless: true,
      args: FLAGS,
    });
  } catch (e) {
    removeProfile();
    throw e;
  }
  return {
    context,
    async close() {
      try {
        await context.close();
      } finally {
        removeProfile();
      }
    },
  };
}
