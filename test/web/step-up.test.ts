/**
 * The dashboard asks for the password (or a code) in place when a change needs
 * a step-up, then finishes the change; its silent refresh carries the CSRF header.
 */
import { Secret, TOTP } from 'otpauth';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.js';
import { startTestServer, STRONG_PASSWORD, type TestServer } from '../harness/server.js';
import { chromiumAvailable, launchBrowser, type TestBrowser, type WatchedPage } from './browser.js';
import { changeFirstPassword, expectClean, signIn } from './flows.js';

const runnable = chromiumAvailable() || process.env.FLOTILLA_REQUIRE_SERVICES === '1';

describe.skipIf(!runnable)('dashboard step-up in Chromium', () => {
  let t: TestServer;
  let browser: TestBrowser;
  let w: WatchedPage;
  const clock = new ManualClock(Date.now());

  beforeAll(async () => {
    expect(chromiumAvailable(), '/usr/bin/chromium is required (FLOTILLA_REQUIRE_SERVICES=1)').toBe(true);
    expect(inject('webBuildError'), 'the dashboard build failed').toBeNull();
    t = await startTestServer({ clock });
    browser = await launchBrowser();
    w = await browser.open();
  });
  afterEach(() => expectClean(w));
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('prompts for the password or a code in place, then finishes the change', async () => {
    await w.page.goto(t.server.url);
    await signIn(w.page, 'admin', t.adminPassword);
    await changeFirstPassword(w.page, t.adminPassword, STRONG_PASSWORD);
    await w.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My account' }).click();

    // Right after sign-in no prompt: the login is the proof.
    await w.page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    const key = (await w.page.locator('.manual-key').textContent()) ?? '';
    const totp = new TOTP({ secret: Secret.fromBase32(key.replace(/\s+/g, '')), digits: 6, period: 30, algorithm: 'SHA1' });
    const codeAt = () => totp.generate({ timestamp: clock.nowMs() });
    await w.page.getByLabel('Code from the app').fill(codeAt());
    await w.page.getByRole('button', { name: 'Turn on two-step verification' }).click();
    await w.page.getByRole('button', { name: 'I have saved them' }).click();
    await w.page.getByText('Backup codes left: 10.').waitFor();
    const dialog = w.page.getByRole('dialog', { name: 'Confirm it is you' });
    expect(await dialog.count()).toBe(0);

    // Six minutes on: the same change now asks for the password first, in place.
    clock.advance(360_000);
    await w.page.getByRole('button', { name: 'New backup codes' }).click();
    await w.page.getByRole('button', { name: 'Confirm', exact: true }).click();
    await dialog.waitFor();
    await w.screenshot('30-step-up-prompt');
    await dialog.getByLabel('Your password').fill('Not-The-Password-1');
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await dialog.getByRole('alert').filter({ hasText: 'wrong' }).waitFor();
    await dialog.getByLabel('Your password').fill(STRONG_PASSWORD);
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await dialog.waitFor({ state: 'detached' });
    // The waiting change went through: a fresh set of codes is on the page.
    await w.page.getByRole('list', { name: 'Backup codes' }).waitFor();

    // Later again, removing the app: this time a code from the app is the proof.
    clock.advance(360_000);
    await w.page.getByRole('button', { name: 'Remove authenticator app' }).click();
    await w.page.getByRole('button', { name: 'Confirm', exact: true }).click();
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Use a code instead' }).click();
    await dialog.getByLabel('Code from your authenticator app, or a backup code').fill(codeAt());
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await w.page.getByText('The authenticator app was removed.').waitFor();
    await w.page.getByText('Authenticator app: off').waitFor();
  });

  it('renews an expired access token with the refresh cookie and the CSRF header', async () => {
    // Past the 30-minute access token, within the hour of idle time a session may have.
    clock.advance(1_860_000);
    await w.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Overview' }).click();
    await w.page.getByText('No machines yet').waitFor();
    await w.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My account' }).click();
    await w.page.getByText('Authenticator app: off').waitFor();
    expect(await w.page.getByRole('heading', { name: 'Sign in' }).count()).toBe(0);
  });
});
