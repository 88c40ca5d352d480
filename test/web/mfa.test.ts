/**
 * With the product default (security.requireMfaForAdmins), the first admin
 * must set up an authenticator app in the dashboard before anything else,
 * and later sign-ins ask for the second factor.
 */
import { Secret, TOTP } from 'otpauth';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestServer, STRONG_PASSWORD, type TestServer } from '../harness/server.js';
import { chromiumAvailable, launchBrowser, type TestBrowser, type WatchedPage } from './browser.js';
import { changeFirstPassword, expectClean, signIn } from './flows.js';

const runnable = chromiumAvailable() || process.env.FLOTILLA_REQUIRE_SERVICES === '1';

describe.skipIf(!runnable)('dashboard two-step verification in Chromium', () => {
  let t: TestServer;
  let browser: TestBrowser;
  let w: WatchedPage;

  beforeAll(async () => {
    expect(chromiumAvailable(), '/usr/bin/chromium is required (FLOTILLA_REQUIRE_SERVICES=1)').toBe(true);
    expect(inject('webBuildError'), 'the dashboard build failed').toBeNull();
    t = await startTestServer({ env: { FLOTILLA_SECURITY_REQUIRE_MFA_FOR_ADMINS: 'true' } });
    browser = await launchBrowser();
    w = await browser.open();
  });
  afterEach(() => expectClean(w));
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('makes the admin set up an authenticator app, then asks for a code (or a backup code) at sign-in', async () => {
    await w.page.goto(t.server.url);
    await signIn(w.page, 'admin', t.adminPassword);
    await changeFirstPassword(w.page, t.adminPassword, STRONG_PASSWORD);

    await w.page.getByRole('heading', { name: 'Set up two-step verification' }).waitFor();
    await w.page.getByRole('img', { name: 'QR code for the authenticator app' }).waitFor();
    const key = (await w.page.locator('.manual-key').textContent()) ?? '';
    await w.screenshot('20-mfa-setup');
    const totp = new TOTP({ secret: Secret.fromBase32(key.replace(/\s+/g, '')), digits: 6, period: 30, algorithm: 'SHA1' });
    await w.page.getByLabel('Code from the app').fill(totp.generate());
    await w.page.getByRole('button', { name: 'Turn on two-step verification' }).click();

    const codes = w.page.getByRole('list', { name: 'Backup codes' }).locator('code');
    await codes.first().waitFor();
    expect(await codes.count()).toBe(10);
    const backup = (await codes.first().textContent()) ?? '';
    await w.screenshot('21-mfa-backup-codes');
    await w.page.getByRole('button', { name: 'I have saved them' }).click();
    await w.page.getByRole('heading', { name: 'Fleet overview' }).waitFor();
    await w.page.getByText('No machines yet').waitFor();

    await w.page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(w.page, 'admin', STRONG_PASSWORD);
    await w.page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
    await w.screenshot('22-mfa-login');
    // A wrong code is refused with a clear message; the backup code then signs in.
    await w.page.getByLabel('Code from your authenticator app').fill('000000');
    await w.page.getByRole('button', { name: 'Verify' }).click();
    await w.page.getByRole('alert').filter({ hasText: 'not valid' }).waitFor();
    await w.page.getByRole('button', { name: 'Use a backup code' }).click();
    await w.page.getByLabel('Backup code').fill(backup);
    await w.page.getByRole('button', { name: 'Verify' }).click();
    await w.page.getByRole('heading', { name: 'Fleet overview' }).waitFor();
    await w.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My account' }).click();
    await w.page.getByText('Backup codes left: 9.').waitFor();
  });
});
