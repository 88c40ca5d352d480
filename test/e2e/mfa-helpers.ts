/** Shared steps of the MFA end-to-end suites. */
import { totpCodeForStep, totpStepAt } from '../../src/identity/mfa/totp.js';
import type { Clock } from '../../src/lib/clock.js';
import type { HttpsClient } from '../harness/client.js';
import { STRONG_PASSWORD, type TestServer } from '../harness/server.js';

/**
 * These suites make many failed logins from 127.0.0.1 on purpose; the
 * perimeter's per-IP limits (tested on their own) would otherwise answer 429.
 */
export const PERIMETER_RELAXED: Record<string, string> = {
  FLOTILLA_PERIMETER_RATE_LIMIT_LOGIN_LIMIT: '100000',
  FLOTILLA_PERIMETER_RATE_LIMIT_IP_LIMIT: '100000',
  FLOTILLA_PERIMETER_RATE_LIMIT_USER_LIMIT: '100000',
  FLOTILLA_PERIMETER_SCANNER_AUTH_FAILURE_LIMIT: '100000',
  FLOTILLA_PERIMETER_SCANNER_NOT_FOUND_LIMIT: '100000',
};

/** The claims of the access token in a client's cookie jar (or a bearer token). */
export function claimsOf(clientOrToken: HttpsClient | string): Record<string, unknown> {
  const token = typeof clientOrToken === 'string' ? clientOrToken : (clientOrToken.jar.get('__Host-flotilla_access') ?? '');
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

export const totpNow = (secret: string, clock: Clock, steps = 0) => totpCodeForStep(secret, totpStepAt(clock.nowMs()) + steps);

/** Proves the user again (step-up), as the dashboard does before a second-factor or account change. */
export async function reauth(client: HttpsClient, proof: { password: string } | { code: string }): Promise<void> {
  const res = await client.send('POST', '/api/me/reauth', proof);
  if (res.status !== 200) throw new Error(`reauth: ${res.status} ${res.text}`);
}

/** A signed-in user whose one-time password is already changed; the admin signed in with STRONG_PASSWORD unless told. */
export async function createUser(
  t: TestServer,
  admin: HttpsClient,
  username: string,
  role: 'admin' | 'operator' | 'viewer',
  password: string,
  adminPassword = STRONG_PASSWORD,
): Promise<{ id: string; client: HttpsClient }> {
  const initial = `${password}-init`;
  await reauth(admin, { password: adminPassword });
  const created = await admin.send('POST', '/api/admin/users', { username, password: initial, role });
  if (created.status !== 201) throw new Error(`create ${username}: ${created.status} ${created.text}`);
  const client = t.client();
  await client.post('/api/auth/login', { username, password: initial });
  const changed = await client.send('POST', '/api/me/password', { currentPassword: initial, newPassword: password });
  if (changed.status !== 200) throw new Error(`password change for ${username}: ${changed.status} ${changed.text}`);
  return { id: created.json.id as string, client };
}

/** Enrolls TOTP through the API; returns the base32 key and the backup codes. */
export async function enrollTotp(client: HttpsClient, clock: Clock): Promise<{ secret: string; backupCodes: string[] }> {
  const setup = await client.send('POST', '/api/me/mfa/totp/setup', {});
  if (setup.status !== 200) throw new Error(`totp setup: ${setup.status} ${setup.text}`);
  const secret = setup.json.manualEntryKey as string;
  const confirmed = await client.send('POST', '/api/me/mfa/totp/confirm', { code: totpNow(secret, clock) });
  if (confirmed.status !== 200) throw new Error(`totp confirm: ${confirmed.status} ${confirmed.text}`);
  return { secret, backupCodes: confirmed.json.backupCodes as string[] };
}
