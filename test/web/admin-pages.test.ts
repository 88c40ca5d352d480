/**
 * The admin security pages in Chromium: the audit log (entries, chain
 * verification), blocked addresses lifted from the Security page, and a
 * viewer who is not offered either page. Then passkeys from My account and
 * the login page, with the DevTools virtual authenticator.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { HttpsClient } from '../harness/client.js';
import { adminClient, startTestServer, STRONG_PASSWORD, type TestServer } from '../harness/server.js';
import { CHROMIUM, chromiumAvailable, launchBrowser, SCREENSHOT_DIR, type TestBrowser, type WatchedPage } from './browser.js';
import { changeFirstPassword, expectClean, signIn } from './flows.js';

const VIEWER = { username: 'viewer-audit', initial: 'Viewer-Initial-Pass-7', password: 'Viewer-Chosen-Pass-8' };
const SCANNER_IP = '203.0.113.77';
const runnable = chromiumAvailable() || process.env.FLOTILLA_REQUIRE_SERVICES === '1';

describe.skipIf(!runnable)('admin audit and security pages in Chromium', () => {
  let t: TestServer;
  let browser: TestBrowser;
  let w: WatchedPage;
  let admin: HttpsClient;

  beforeAll(async () => {
    expect(chromiumAvailable(), '/usr/bin/chromium is required (FLOTILLA_REQUIRE_SERVICES=1)').toBe(true);
    expect(inject('webBuildError'), 'the dashboard build failed').toBeNull();
    // A low 404 threshold and a trusted loopback proxy let the test block a made-up address.
    t = await startTestServer({ env: { FLOTILLA_PERIMETER_TRUSTED_PROXIES: '127.0.0.1', FLOTILLA_PERIMETER_SCANNER_NOT_FOUND_LIMIT: '3' } });
    admin = await adminClient(t);
    browser = await launchBrowser();
    w = await browser.open();
  });
  afterEach(() => expectClean(w));
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('shows the audit log with the sign-in and verifies the chain', async () => {
    await w.page.goto(t.server.url);
    await signIn(w.page, 'admin', STRONG_PASSWORD);
    await w.page.getByRole('heading', { name: 'Fleet overview' }).waitFor();
    const nav = w.page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Audit log' }).click();
    await w.page.getByRole('heading', { name: 'Audit log' }).waitFor();
    await w.page.getByRole('cell', { name: /login/ }).first().waitFor();
    expect(await w.page.getByRole('link', { name: 'Export CSV' }).getAttribute('href')).toBe('/api/admin/audit/export?format=csv');

    // Filtering by failed outcome leaves out the successful sign-in.
    await w.page.getByLabel('Outcome').selectOption('false');
    await w.page.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => w.page.getByRole('cell', { name: 'OK', exact: true }).count()).toBe(0);
    await w.page.getByRole('button', { name: 'Clear' }).click();
    await w.page.getByRole('cell', { name: /login/ }).first().waitFor();

    await w.page.getByRole('button', { name: 'Verify chain' }).click();
    await w.page.getByRole('status').filter({ hasText: 'Chain OK' }).waitFor();
    await w.screenshot('40-audit-log');
  });

  it('lists a scanner block and lifts it', async () => {
    const scanner = (path: string) => t.client().get(path, { headers: { 'x-forwarded-for': SCANNER_IP }, cookies: false });
    for (let i = 0; i < 4; i++) await scanner(`/api/missing/${i}`);
    expect((await scanner('/api/me')).status).toBe(403);

    await w.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Security' }).click();
    await w.page.getByRole('heading', { name: 'Security', exact: true }).waitFor();
    await w.page.getByRole('heading', { name: 'Blocked addresses' }).waitFor();
    const row = w.page.getByRole('table', { name: 'Blocked addresses' }).getByRole('row').filter({ hasText: SCANNER_IP });
    await row.waitFor();
    await w.page.getByRole('table', { name: /Security events/ }).getByRole('cell', { name: 'ip_blocked' }).first().waitFor();
    await w.screenshot('41-security-blocks');
    await row.getByRole('button', { name: 'Lift' }).click();
    await row.getByRole('button', { name: 'Confirm' }).click();
    await w.page.getByText(`Lifted the block on ${SCANNER_IP}.`).waitFor();
    await w.page.getByText('No addresses are blocked').waitFor();
    expect((await scanner('/api/me')).status).toBe(401);
    expect((await admin.get('/api/admin/security/blocks')).json.items).toEqual([]);
  });

  it('offers neither page to a viewer', async () => {
    const created = await admin.send('POST', '/api/admin/users', { username: VIEWER.username, password: VIEWER.initial, role: 'viewer' });
    expect(created.status).toBe(201);
    await w.page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(w.page, VIEWER.username, VIEWER.initial);
    await changeFirstPassword(w.page, VIEWER.initial, VIEWER.password);
    await w.page.getByRole('heading', { name: 'Fleet overview' }).waitFor();
    const nav = w.page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'My account' }).waitFor();
    expect(await nav.getByRole('link', { name: 'Audit log' }).count()).toBe(0);
    expect(await nav.getByRole('link', { name: 'Security' }).count()).toBe(0);
    await w.page.goto(`${t.server.url}/admin/audit`);
    await w.page.getByRole('heading', { name: 'Not allowed' }).waitFor();
  });
});

describe.skipIf(!runnable)('passkeys in the dashboard with a virtual authenticator', () => {
  let t: TestServer;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const problems: string[] = [];

  beforeAll(async () => {
    t = await startTestServer();
    await adminClient(t);
    // WebAuthn refuses pages with certificate errors, so Chromium trusts exactly this server's key instead of ignoring errors.
    const spki = new X509Certificate(t.server.certificate.certPem).publicKey.export({ type: 'spki', format: 'der' });
    const pin = createHash('sha256').update(spki).digest('base64');
    profile = mkdtempSync(join(tmpdir(), 'flotilla-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--ignore-certificate-errors-spki-list=${pin}`],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (/Content[- ]Security[- ]Policy/i.test(m.text())) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });
  }, 120_000);
  afterAll(async () => {
    await context?.close();
    await t?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('registers and renames a passkey, then signs in with it alone and as the second step', async () => {
    // A passkey belongs to a domain name: localhost, not 127.0.0.1.
    await page.goto(`https://localhost:${t.server.port}/`);
    await signIn(page, 'admin', STRONG_PASSWORD);
    await page.getByRole('heading', { name: 'Fleet overview' }).waitFor();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My account' }).click();
    await page.getByText('No passkeys yet').waitFor();
    await page.getByLabel('Passkey name').fill('Test key');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.getByText('Added the passkey Test key.').waitFor();
    const table = page.getByRole('table', { name: 'Your passkeys' });
    await table.getByRole('cell', { name: 'Test key' }).waitFor();

    await table.getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('New name for Test key').fill('Laptop key');
    await page.getByRole('button', { name: 'Save' }).click();
    await table.getByRole('cell', { name: 'Laptop key' }).waitFor();
    await page.screenshot({ path: join(SCREENSHOT_DIR, '42-passkeys.png'), fullPage: true });

    await page.getByRole('banner').getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.getByRole('heading', { name: 'Fleet overview' }).waitFor();
    await page.getByText('admin (admin)').waitFor();

    // With a passkey on the account, the password alone is no longer enough: the passkey is the second step.
    await page.getByRole('banner').getByRole('button', { name: 'Sign out' }).click();
    await signIn(page, 'admin', STRONG_PASSWORD);
    await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
    await page.screenshot({ path: join(SCREENSHOT_DIR, '43-passkey-mfa.png'), fullPage: true });
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await page.getByRole('heading', { name: 'Fleet overview' }).waitFor();
    expect(problems).toEqual([]);
  });
});
