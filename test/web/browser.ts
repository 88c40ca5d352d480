/**
 * Debian's Chromium driven by playwright-core, watching every page for what
 * must never happen: a CSP violation, an uncaught error, a JavaScript dialog.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOT_DIR = fileURLToPath(new URL('../../test-results/web/', import.meta.url));

/** Chromium's own report of a blocked resource or inline code, re-emitted to the console where the test sees it. */
const CSP_REPORTER = `
document.addEventListener('securitypolicyviolation', (event) => {
  console.error('CSP violation: ' + event.violatedDirective + ' blocked ' + (event.blockedURI || 'inline') + ' at ' + event.sourceFile + ':' + event.lineNumber);
});
`;

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** CSP violations, from the securitypolicyviolation event and Chromium's console messages. */
  cspViolations: string[];
  pageErrors: string[];
  dialogs: string[];
  /** Console errors that are neither of the above (failed requests the app handled, for example). */
  consoleErrors: string[];
  screenshot(name: string): Promise<void>;
}

export interface TestBrowser {
  browser: Browser;
  open(opts?: { width?: number; height?: number; colorScheme?: 'light' | 'dark' }): Promise<WatchedPage>;
  close(): Promise<void>;
}

export const chromiumAvailable = (): boolean => existsSync(CHROMIUM);

export async function launchBrowser(): Promise<TestBrowser> {
  // playwright starts Chromium with a fresh profile directory of its own; this one holds its crash dumps and caches.
  const scratch = mkdtempSync(join(tmpdir(), 'flotilla-chromium-'));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--disk-cache-dir=${scratch}`],
    env: { ...process.env, HOME: scratch },
  });
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const contexts: BrowserContext[] = [];

  return {
    browser,
    async open(opts = {}) {
      // The test server's certificate is self-signed; trusting it here, in tests only.
      const context = await browser.newContext({
        ignoreHTTPSErrors: true,
        viewport: { width: opts.width ?? 1280, height: opts.height ?? 900 },
        colorScheme: opts.colorScheme ?? 'light',
      });
      contexts.push(context);
      await context.addInitScript(CSP_REPORTER);
      const page = await context.newPage();
      const watched: WatchedPage = {
        page,
        context,
        cspViolations: [],
        pageErrors: [],
        dialogs: [],
        consoleErrors: [],
        async screenshot(name) {
          await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
        },
      };
      page.on('console', (message) => {
        const text = message.text();
        if (/Content[- ]Security[- ]Policy|CSP violation/i.test(text)) watched.cspViolations.push(text);
        else if (message.type() === 'error') watched.consoleErrors.push(text);
      });
      page.on('pageerror', (error) => watched.pageErrors.push(error.message));
      page.on('dialog', (dialog) => {
        watched.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
        void dialog.dismiss();
      });
      return watched;
    },
    async close() {
      for (const context of contexts) await context.close().catch(() => undefined);
      await browser.close();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}
