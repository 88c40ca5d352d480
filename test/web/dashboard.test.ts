/**
 * The dashboard in a real browser against the real server over HTTPS: sign-in
 * and the first password change, the server's own host reported by the local
 * agent, the live overview with a simulated machine whose name is markup, its detail page with charts, enrollment tokens, and a
 * viewer who cannot reach admin pages. Every page is checked for CSP
 * violations, uncaught errors and JavaScript dialogs, and screenshotted under
 * test-results/web/.
 */
import { hostname } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { simulateFleet } from '../../src/agent/simulate.js';
import { startLocalAgent, type LocalAgent } from '../../src/cli/local-agent.js';
import type { HttpsClient } from '../harness/client.js';
import { startTestServer, STRONG_PASSWORD, type TestServer } from '../harness/server.js';
import { chromiumAvailable, launchBrowser, type TestBrowser, type WatchedPage } from './browser.js';
import { changeFirstPassword, expectClean, signIn } from './flows.js';

// Functions passed to page.evaluate run in the browser; the Node test program has no DOM types, so these few are declared here.
interface BrowserElement {
  getAttribute(name: string): string | null;
}
declare const document: { activeElement: BrowserElement; body: BrowserElement; documentElement: { scrollWidth: number }; querySelector(selector: string): BrowserElement | null };
declare function getComputedStyle(element: BrowserElement): { outlineStyle: string; backgroundColor: string };

const XSS_NAME = '<img src=x onerror=alert(1)>';
const VIEWER = { username: 'viewer-one', initial: 'Viewer-Initial-Pass-7', password: 'Viewer-Chosen-Pass-8' };

const required = process.env.FLOTILLA_REQUIRE_SERVICES === '1';
const runnable = chromiumAvailable() || required;

if (!chromiumAvailable() && !required) console.warn('[web tests] /usr/bin/chromium not found; browser tests are skipped');

describe.skipIf(!runnable)('dashboard in Chromium', () => {
  let t: TestServer;
  let browser: TestBrowser;
  let w: WatchedPage;
  let admin: HttpsClient;
  const simulation = new AbortController();
  let simulated: Promise<unknown> = Promise.resolve();
  let local: LocalAgent | null = null;
  const opened: WatchedPage[] = [];
  /** Every state-changing API request the main page made, and whether it carried the CSRF header. */
  const changes: Array<{ request: string; csrf: boolean }> = [];

  const open = async (opts?: Parameters<TestBrowser['open']>[0]) => {
    const page = await browser.open(opts);
    opened.push(page);
    return page;
  };

  beforeAll(async () => {
    expect(chromiumAvailable(), '/usr/bin/chromium is required (FLOTILLA_REQUIRE_SERVICES=1)').toBe(true);
    expect(inject('webBuildError'), 'the dashboard build failed').toBeNull();
    t = await startTestServer();
    browser = await launchBrowser();
    w = await open();
    w.page.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname.startsWith('/api/') && !['GET', 'HEAD'].includes(request.method())) {
        changes.push({ request: `${request.method()} ${url.pathname}`, csrf: typeof request.headers()['x-csrf-token'] === 'string' });
      }
    });
  });

  afterEach(() => {
    for (const page of opened) expectClean(page);
  });

  afterAll(async () => {
    simulation.abort();
    await simulated.catch(() => undefined);
    await local?.stop();
    await browser?.close();
    await t?.close();
  });

  it('signs in, forces the first password change, and serves the document with a strict CSP', async () => {
    const response = await w.page.goto(t.server.url);
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(response?.headers()['cache-control']).toBe('no-store');

    await w.page.getByRole('heading', { name: 'Sign in' }).waitFor();
    // Keyboard: Tab reaches the username field, and focus is visible.
    await w.page.keyboard.press('Tab');
    const focus = await w.page.evaluate(() => {
      const el = document.activeElement;
      return { name: el.getAttribute('name'), outline: getComputedStyle(el).outlineStyle };
    });
    expect(focus).toEqual({ name: 'username', outline: 'solid' });
    await w.screenshot('01-login');

    // A wrong password gets the one message, saying what it may mean.
    await signIn(w.page, 'admin', 'Not-The-Password-1!');
    await w.page.getByRole('alert').filter({ hasText: 'locked or suspended' }).waitFor();

    await signIn(w.page, 'admin', t.adminPassword);
    await w.page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    await w.screenshot('02-password-change');
    await changeFirstPassword(w.page, t.adminPassword, STRONG_PASSWORD);
    await w.page.getByRole('heading', { name: 'Fleet overview' }).waitFor();
    await w.page.getByText('No machines yet').waitFor();
    await w.screenshot('03-overview-empty');

    admin = t.client();
    expect((await admin.post('/api/auth/login', { username: 'admin', password: STRONG_PASSWORD })).status).toBe(200);
  });

  it('shows the server\'s own host, enrolled by the local agent, with charts of its real measurements', { timeout: 90_000 }, async () => {
    // What `flotilla server` does after start-up (the harness starts the server without the CLI).
    local = await startLocalAgent(t.server);
    const link = w.page.getByRole('link', { name: hostname(), exact: true });
    await link.waitFor({ timeout: 30_000 });
    await w.screenshot('03a-overview-local-agent');
    await link.click();
    await w.page.getByRole('heading', { level: 1, name: hostname(), exact: true }).waitFor();
    await w.page.getByRole('heading', { name: 'Facts' }).waitFor();
    // Two reports, one interval (10 s by default) apart, draw the first line.
    await w.page.waitForFunction(() => Number(document.querySelector('figure.chart')?.getAttribute('data-points') ?? 0) >= 2, undefined, { timeout: 45_000 });
    expect(await w.page.locator('figure.chart').first().textContent()).toMatch(/CPU: latest \d/);
    await w.screenshot('03b-machine-detail-local-agent');
    await w.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Overview' }).click();
    await w.page.getByRole('heading', { name: 'Fleet overview' }).waitFor();
  });

  it('shows a newly enrolled machine live, with the markup in its name as plain text', async () => {
    const token = await admin.send('POST', '/api/admin/enrollment-tokens', { ttlSeconds: 3600, maxUses: 5, note: 'browser test' });
    expect(token.status).toBe(201);
    simulated = simulateFleet({
      serverUrl: t.server.url,
      token: token.json.token,
      trust: { kind: 'pin', fingerprint: t.server.certificate.fingerprint },
      count: 1,
      hostname: XSS_NAME,
      intervalSeconds: 1,
      signal: simulation.signal,
    });

    // No reload: the row arrives through the event stream.
    const link = w.page.getByRole('link', { name: XSS_NAME, exact: true });
    await link.waitFor({ timeout: 30_000 });
    expect(await link.textContent()).toBe(XSS_NAME);
    await w.page.locator('.live-live').waitFor();
    expect(await w.page.locator('img[src="x"]').count()).toBe(0);
    await w.screenshot('04-overview-live');
  });

  it('opens the machine detail page with facts and charts that have data', async () => {
    await w.page.getByRole('link', { name: XSS_NAME, exact: true }).click();
    await w.page.getByRole('heading', { level: 1, name: XSS_NAME, exact: true }).waitFor();
    await w.page.getByRole('heading', { name: 'Facts' }).waitFor();
    // At least two points, so the CPU line is drawn (the 1 h view grows with each live report).
    await w.page.locator('figure.chart[data-points]').first().waitFor();
    await w.page.waitForFunction(() => Number(document.querySelector('figure.chart')?.getAttribute('data-points') ?? 0) >= 2, undefined, { timeout: 30_000 });
    expect(await w.page.locator('figure.chart canvas').count()).toBeGreaterThanOrEqual(4);
    expect(await w.page.locator('figure.chart').first().textContent()).toMatch(/CPU: latest \d/);
    expect(await w.page.locator('img[src="x"]').count()).toBe(0);
    await w.page.getByRole('button', { name: '24 h' }).click();
    await w.page.getByRole('button', { name: '24 h', pressed: true }).waitFor();
    await w.page.getByRole('button', { name: '1 h' }).click();
    await w.page.waitForFunction(() => Number(document.querySelector('figure.chart')?.getAttribute('data-points') ?? 0) >= 2);
    await w.screenshot('05-machine-detail');

    // Operators and admins edit tags; the change is sent with the CSRF token.
    await w.page.getByLabel('New tag').fill('web-test');
    await w.page.getByRole('button', { name: 'Add tag' }).click();
    await w.page.getByRole('button', { name: 'Remove tag web-test' }).waitFor();
    const machines = await admin.get('/api/fleet/machines?tag=web-test');
    expect(machines.json.items.map((m: { hostname: string }) => m.hostname)).toEqual([XSS_NAME]);
  });

  it('creates an enrollment token and shows the exact enroll command, which works', async () => {
    await w.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Enrollment' }).click();
    await w.page.getByRole('heading', { name: 'Enrollment tokens' }).waitFor();
    await w.page.getByLabel('Note (optional)').fill('lab machines');
    await w.page.getByRole('button', { name: 'Create token' }).click();
    const command = await w.page.getByLabel('Run this on the machine to enroll').inputValue();
    const match = /^flotilla agent enroll --server (\S+) --token (fle_\S+) --pin (sha256:[0-9a-f]{64})$/.exec(command);
    expect(match, command).not.toBeNull();
    expect(match?.[1]).toBe(t.server.url);
    expect(match?.[3]).toBe(t.server.certificate.fingerprint);
    await w.page.getByRole('cell', { name: 'lab machines' }).waitFor();
    await w.screenshot('06-enrollment');

    const enrolled = await t.client().post('/api/agent/enroll', { token: match?.[2], facts: { hostname: 'from-command', os: 'linux', platform: 'Debian 12', arch: 'x64' } }, { cookies: false });
    expect(enrolled.status).toBe(201);
  });

  it('lists agents and my sessions, and renews an expired access token silently', async () => {
    await w.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Agents' }).click();
    await w.page.getByRole('heading', { name: 'Agents' }).waitFor();
    await w.page.getByRole('cell', { name: XSS_NAME }).waitFor();
    await w.page.getByRole('cell', { name: 'from-command' }).waitFor();
    await w.screenshot('07-agents');

    // Without the access cookie the next call gets a 401, refreshes once and succeeds.
    await w.context.clearCookies({ name: '__Host-flotilla_access' });
    await w.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My account' }).click();
    await w.page.getByRole('heading', { name: 'My sessions' }).waitFor();
    await w.page.getByText('(this session)').waitFor();
    const cookies = await w.context.cookies();
    expect(cookies.some((c) => c.name === '__Host-flotilla_access')).toBe(true);
    await w.screenshot('08-account');
  });

  it('creates a viewer, who cannot see or use the admin pages', async () => {
    await w.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
    await w.page.getByRole('heading', { name: 'Users', exact: true }).waitFor();
    await w.page.getByLabel('Username').fill(VIEWER.username);
    await w.page.getByLabel('Initial password').fill(VIEWER.initial);
    await w.page.getByLabel('Role', { exact: true }).selectOption('viewer');
    await w.page.getByRole('button', { name: 'Create user' }).click();
    await w.page.getByText(`Created ${VIEWER.username}.`).waitFor();
    await w.page.getByRole('cell', { name: VIEWER.username }).first().waitFor();
    await w.screenshot('09-users');

    await w.page.getByRole('button', { name: 'Sign out' }).click();
    await w.page.getByText('You are signed out.').waitFor();
    expect(new URL(w.page.url()).pathname).toBe('/');
    await signIn(w.page, VIEWER.username, VIEWER.initial);
    await changeFirstPassword(w.page, VIEWER.initial, VIEWER.password);
    await w.page.getByRole('heading', { name: 'Fleet overview' }).waitFor();
    await w.page.getByRole('link', { name: XSS_NAME, exact: true }).waitFor();
    const nav = w.page.getByRole('navigation', { name: 'Main' });
    for (const name of ['Enrollment', 'Agents', 'Users']) expect(await nav.getByRole('link', { name }).count(), name).toBe(0);
    await w.screenshot('10-viewer-overview');

    await w.page.goto(`${t.server.url}/admin/users`);
    await w.page.getByRole('heading', { name: 'Not allowed' }).waitFor();
    expect(await w.page.getByRole('table').count()).toBe(0);
    const status = await w.page.evaluate(async () => (await fetch('/api/admin/users')).status);
    expect(status).toBe(403);
    await w.screenshot('11-viewer-admin-denied');

    // A viewer sees tags but cannot edit them.
    await w.page.goto(t.server.url);
    await w.page.getByRole('link', { name: XSS_NAME, exact: true }).click();
    await w.page.getByRole('heading', { name: 'Tags' }).waitFor();
    expect(await w.page.getByLabel('New tag').count()).toBe(0);
  });

  it('sent the CSRF token with every change it made', () => {
    // Login, MFA and refresh run before there is a session (refresh proves itself with its SameSite cookie).
    const needed = changes.filter((c) => !/^POST \/api\/auth\/(login|login\/mfa|refresh)$/.test(c.request));
    const names = needed.map((c) => c.request.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, ':id'));
    expect(names).toEqual(expect.arrayContaining(['POST /api/me/password', 'PUT /api/fleet/machines/:id/tags', 'POST /api/admin/enrollment-tokens', 'POST /api/admin/users', 'POST /api/auth/logout']));
    expect(needed.filter((c) => !c.csrf)).toEqual([]);
  });

  it('catches what it guards against: an inline script (CSP) and a dialog', async () => {
    const probe = await browser.open();
    await probe.page.goto(t.server.url);
    await probe.page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await probe.page.evaluate('{ const s = document.createElement("script"); s.textContent = "window.ran = 1"; document.body.appendChild(s); }');
    await probe.page.waitForFunction('true');
    expect(await probe.page.evaluate('window.ran')).toBeUndefined();
    await expect.poll(() => probe.cspViolations.length).toBeGreaterThan(0);
    await probe.page.evaluate('setTimeout(() => alert(1), 0)');
    await expect.poll(() => probe.dialogs).toEqual(['alert: 1']);
  });

  it('fits a 375 px wide phone and follows the dark colour scheme', async () => {
    const phone = await open({ width: 375, height: 800, colorScheme: 'dark' });
    await phone.page.goto(t.server.url);
    await signIn(phone.page, 'admin', STRONG_PASSWORD);
    await phone.page.getByRole('heading', { name: 'Fleet overview' }).waitFor();
    await phone.page.getByRole('link', { name: XSS_NAME, exact: true }).waitFor();
    const width = await phone.page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(375);
    const background = await phone.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(background).toBe('rgb(15, 20, 26)');
    await phone.screenshot('12-phone-dark-overview');
    await phone.page.getByRole('link', { name: XSS_NAME, exact: true }).click();
    await phone.page.locator('figure.chart canvas').first().waitFor();
    expect(await phone.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await phone.screenshot('13-phone-dark-machine');
  });

  it('signs out after the idle timeout without activity', async () => {
    const idle = await open();
    await idle.page.clock.install();
    await idle.page.goto(t.server.url);
    await signIn(idle.page, 'admin', STRONG_PASSWORD);
    await idle.page.getByRole('heading', { name: 'Fleet overview' }).waitFor();
    await idle.page.clock.fastForward('01:01:00');
    await idle.page.getByText('You were signed out after 60 minutes without activity.').waitFor();
    await idle.page.getByRole('heading', { name: 'Sign in' }).waitFor();
    // The server session is gone too.
    const me = await idle.page.evaluate(async () => (await fetch('/api/me')).status);
    expect(me).toBe(401);
  });

  it('stays usable with 10,000 simulated machines: a window of rows in the DOM, further pages fetched by cursor, search on the server', { timeout: 600_000 }, async () => {
    const count = 10_000;
    const before = (await admin.get('/api/fleet/summary')).json.total as number;
    const token = await admin.send('POST', '/api/admin/enrollment-tokens', { ttlSeconds: 3600, maxUses: count });
    await simulateFleet({
      serverUrl: t.server.url,
      token: token.json.token,
      trust: { kind: 'pin', fingerprint: t.server.certificate.fingerprint },
      count,
      hostname: 'bulk',
      // Enrolled only: the list's cost is in its length, not in reports.
      rounds: 0,
      concurrency: 32,
    });
    const total = (await admin.get('/api/fleet/summary')).json.total as number;
    expect(total).toBe(before + count);

    const big = await open();
    const pages: string[] = [];
    big.page.on('request', (request) => {
      if (request.url().includes('/api/fleet/machines?')) pages.push(request.url());
    });
    await big.page.goto(t.server.url);
    await signIn(big.page, 'admin', STRONG_PASSWORD);
    await big.page.getByRole('heading', { name: 'Fleet overview' }).waitFor();
    await big.page.getByText('200 machines loaded, scroll for more').waitFor();
    await big.page.locator('.tiles .tile').first().locator('dd', { hasText: total.toLocaleString('en-US') }).waitFor();
    const rendered = await big.page.locator('.machine-body [role="row"]').count();
    expect(rendered).toBeGreaterThan(5);
    expect(rendered).toBeLessThan(60);
    await big.page.locator('.machine-body').evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await big.page.getByText('400 machines loaded, scroll for more').waitFor();
    expect(pages.length).toBe(2);
    expect(pages[1]).toContain('cursor=');
    expect(await big.page.locator('.machine-body [role="row"]').count()).toBeLessThan(60);
    await big.screenshot('14-overview-many');

    // The last machine enrolled is found by the server, not by paging through the list.
    await big.page.getByLabel('Search').fill(`bulk-${count}`);
    await big.page.getByText('1 machine loaded').waitFor();
    await big.page.getByRole('link', { name: `bulk-${count}`, exact: true }).waitFor();
    // It never reported, so it is offline, and a status filter on the server takes it out.
    await big.page.getByLabel('Status').selectOption('online');
    await big.page.getByText('No machines match these filters').waitFor();
  });
});
