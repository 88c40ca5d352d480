import { afterEach, describe, expect, it } from 'vitest';
import type { DomainError } from '../../src/lib/errors.js';
import { locationPrefix, MAX_LOCATIONS_PER_USER } from '../../src/identity/locations.js';
import { kvBackend, kvBackends } from '../harness/backends.js';
import { identityFixture, type IdentityFixture } from './fixture.js';

const PASSWORD = 'Account-Defense-Pass-1';
const at = (ip: string) => ({ ip, userAgent: 'vitest' });

async function failureCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return (err as DomainError).code;
  }
  return 'succeeded';
}

for (const backend of kvBackends()) {
  describe.skipIf(!backend.available)(`account defense (kv: ${backend.name})`, () => {
    let f: IdentityFixture;
    afterEach(async () => {
      await f?.close();
    });

    it('locks an account after 5 failures for 900 s, refusing even the right password meanwhile', async () => {
      f = await identityFixture(backend);
      const id = await f.user('lock-me', PASSWORD);
      for (let i = 0; i < 5; i++) expect(await failureCode(f.identity.login({ username: 'lock-me', password: `wrong-${i}` }, at('10.0.0.1')))).toBe('invalid_credentials');
      const view = await f.identity.users.get(id);
      expect(view.status).toBe('locked');
      expect(view.lockedUntil).toBe(f.clock.nowMs() + 900_000);
      expect(f.events.filter((e) => e.type === 'account_locked')).toHaveLength(1);

      expect(await failureCode(f.identity.login({ username: 'lock-me', password: PASSWORD }, at('10.0.0.1')))).toBe('invalid_credentials');
      expect(f.events.at(-1)).toMatchObject({ type: 'login_failed', reason: 'account_locked' });
      f.clock.advance(899_000);
      expect(await failureCode(f.identity.login({ username: 'lock-me', password: PASSWORD }, at('10.0.0.1')))).toBe('invalid_credentials');
      f.clock.advance(2_000);
      const ok = await f.identity.login({ username: 'lock-me', password: PASSWORD }, at('10.0.0.1'));
      expect(ok.mfaRequired).toBe(false);
      expect((await f.identity.users.get(id)).status).toBe('active');
    });

    it('reserves before verifying: 100 attempts at once get exactly the 5 verifications 100 in a row would', async () => {
      f = await identityFixture(backend);
      await f.user('flooded', PASSWORD);
      const attempts = Array.from({ length: 100 }, (_, i) => failureCode(f.identity.login({ username: 'flooded', password: `guess-${i}` }, at('10.0.0.2'))));
      expect(new Set(await Promise.all(attempts))).toEqual(new Set(['invalid_credentials']));
      const failed = f.events.filter((e) => e.type === 'login_failed');
      expect(failed).toHaveLength(100);
      expect(failed.filter((e) => e.reason === 'bad_credentials')).toHaveLength(5);
      expect(failed.filter((e) => e.reason === 'account_locked')).toHaveLength(95);
    });

    it('suspends after more than 10 failures in an hour, until an admin reactivates the account', async () => {
      f = await identityFixture(backend);
      const id = await f.user('suspend-me', PASSWORD);
      const fail = async () => expect(await failureCode(f.identity.login({ username: 'suspend-me', password: 'Wrong-Password-0' }, at('10.0.0.3')))).toBe('invalid_credentials');
      for (let i = 0; i < 5; i++) await fail();
      f.clock.advance(901_000);
      for (let i = 0; i < 5; i++) await fail();
      expect((await f.identity.users.get(id)).status).toBe('locked');
      f.clock.advance(901_000);
      await fail(); // the 11th within the hour
      expect((await f.identity.users.get(id)).status).toBe('suspended');
      expect(f.events.filter((e) => e.type === 'account_suspended')).toHaveLength(1);
      f.clock.advance(2 * 3_600_000);
      expect(await failureCode(f.identity.login({ username: 'suspend-me', password: PASSWORD }, at('10.0.0.3')))).toBe('invalid_credentials');

      const admin = await f.user('the-admin', PASSWORD, 'admin');
      await f.identity.users.update(id, { status: 'active' }, { id: admin, ip: null });
      expect((await f.identity.login({ username: 'suspend-me', password: PASSWORD }, at('10.0.0.3'))).mfaRequired).toBe(false);
    });

    it('a success clears the attempt window, so failures must be consecutive to lock', async () => {
      f = await identityFixture(backend);
      const id = await f.user('forgetful', PASSWORD);
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < 4; i++) expect(await failureCode(f.identity.login({ username: 'forgetful', password: 'Wrong-Password-0' }, at('10.0.0.4')))).toBe('invalid_credentials');
        expect((await f.identity.login({ username: 'forgetful', password: PASSWORD }, at('10.0.0.4'))).mfaRequired).toBe(false);
      }
      expect((await f.identity.users.get(id)).status).toBe('active');
    });

    it('a stolen password buys no extra second-factor guesses: the whole login shares the 5 slots', async () => {
      f = await identityFixture(backend);
      const id = await f.user('otp-guess', PASSWORD);
      const code = await f.enrollTotp(id, 'otp-guess');
      const wrong = code() === '000000' ? '111111' : '000000';
      let refused = false;
      for (let i = 0; i < 5 && !refused; i++) {
        const outcome = await f.identity.login({ username: 'otp-guess', password: PASSWORD }, at('10.0.0.5')).catch(() => null);
        if (outcome === null) refused = true;
        else if (outcome.mfaRequired) expect(await failureCode(f.identity.loginSecondFactor({ mfaTicket: outcome.mfaTicket, code: wrong }, at('10.0.0.5')))).toBe('invalid_mfa_code');
      }
      expect(refused).toBe(true);
      expect(f.events.filter((e) => e.reason === 'bad_mfa_code').length).toBeLessThanOrEqual(2);
      expect((await f.identity.users.get(id)).status).toBe('locked');
      expect(f.events.filter((e) => e.type === 'account_locked')).toHaveLength(1);
      // Locked: neither the password nor a right code gets through now.
      expect(await failureCode(f.identity.login({ username: 'otp-guess', password: PASSWORD }, at('10.0.0.5')))).toBe('invalid_credentials');
    });

    it('burns a ticket after 5 wrong codes and refuses a spent ticket', async () => {
      f = await identityFixture(backend, { FLOTILLA_SECURITY_MAX_LOGIN_ATTEMPTS: '50' });
      const id = await f.user('ticket-user', PASSWORD);
      const code = await f.enrollTotp(id, 'ticket-user');
      const first = await f.identity.login({ username: 'ticket-user', password: PASSWORD }, at('10.0.0.6'));
      if (!first.mfaRequired) throw new Error('expected a second factor');
      const wrong = code() === '999999' ? '888888' : '999999';
      for (let i = 0; i < 5; i++) expect(await failureCode(f.identity.loginSecondFactor({ mfaTicket: first.mfaTicket, code: wrong }, at('10.0.0.6')))).toBe('invalid_mfa_code');
      expect(await failureCode(f.identity.loginSecondFactor({ mfaTicket: first.mfaTicket, code: code() }, at('10.0.0.6')))).toBe('invalid_mfa_ticket');

      const second = await f.identity.login({ username: 'ticket-user', password: PASSWORD }, at('10.0.0.6'));
      if (!second.mfaRequired) throw new Error('expected a second factor');
      const session = await f.identity.loginSecondFactor({ mfaTicket: second.mfaTicket, code: code() }, at('10.0.0.6'));
      expect(await f.identity.sessions.authenticate(session.tokens.accessToken, 'bearer')).toMatchObject({ userId: id, amr: ['pwd', 'otp', 'mfa'] });
      f.clock.advance(30_000);
      expect(await failureCode(f.identity.loginSecondFactor({ mfaTicket: second.mfaTicket, code: code() }, at('10.0.0.6')))).toBe('invalid_mfa_ticket');
    });
  });
}

describe('new locations', () => {
  const memory = kvBackend('memory');
  let f: IdentityFixture;
  afterEach(async () => {
    await f?.close();
  });

  it('groups addresses by /24 and /64', () => {
    expect(locationPrefix('203.0.113.7')).toBe('203.0.113.0/24');
    expect(locationPrefix('::ffff:203.0.113.99')).toBe('203.0.113.0/24');
    expect(locationPrefix('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(locationPrefix('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(locationPrefix(null)).toBe('unknown');
    expect(locationPrefix('not-an-ip')).toBe('unknown');
  });

  it('asks for the second factor at a new location even where policy skips it at known ones', async () => {
    f = await identityFixture(memory, { FLOTILLA_SECURITY_SKIP_MFA_AT_KNOWN_LOCATIONS: 'true' });
    const id = await f.user('traveller', PASSWORD, 'operator');
    const code = await f.enrollTotp(id, 'traveller');
    const home = await f.identity.login({ username: 'traveller', password: PASSWORD }, at('198.51.100.10'));
    if (!home.mfaRequired) throw new Error('a first login must ask for the second factor');
    await f.identity.loginSecondFactor({ mfaTicket: home.mfaTicket, code: code() }, at('198.51.100.10'));
    // Same /24: known, the policy may skip the second factor.
    expect((await f.identity.login({ username: 'traveller', password: PASSWORD }, at('198.51.100.77'))).mfaRequired).toBe(false);
    // Another network: the second factor is due again, and the login says why.
    const away = await f.identity.login({ username: 'traveller', password: PASSWORD }, at('192.0.2.5'));
    expect(away.mfaRequired).toBe(true);
    expect(f.events.filter((e) => e.type === 'login_mfa_required').at(-1)?.detail?.newLocation).toBe(true);
    expect((await f.identity.login({ username: 'traveller', password: PASSWORD }, at('2001:db8:5:6::1'))).mfaRequired).toBe(true);
  });

  it('always asks by default, and always asks an admin under requireMfaForAdmins', async () => {
    /** Whether each of two logins from one address asked for the second factor. */
    const twiceFromOnePlace = async (username: string, code: (stepsAhead?: number) => string) => {
      const asked: boolean[] = [];
      for (let i = 0; i < 2; i++) {
        const outcome = await f.identity.login({ username, password: PASSWORD }, at('198.51.100.10'));
        asked.push(outcome.mfaRequired);
        if (outcome.mfaRequired) await f.identity.loginSecondFactor({ mfaTicket: outcome.mfaTicket, code: code(i) }, at('198.51.100.10'));
      }
      return asked;
    };
    f = await identityFixture(memory);
    const user = await f.user('regular', PASSWORD);
    expect(await twiceFromOnePlace('regular', await f.enrollTotp(user, 'regular'))).toEqual([true, true]);
    await f.close();

    f = await identityFixture(memory, { FLOTILLA_SECURITY_SKIP_MFA_AT_KNOWN_LOCATIONS: 'true' });
    const boss = await f.user('boss', PASSWORD, 'admin');
    expect(await twiceFromOnePlace('boss', await f.enrollTotp(boss, 'boss'))).toEqual([true, true]);
  });

  it('lets a user without MFA in from a new location and reports it; keeps at most 50 locations', async () => {
    f = await identityFixture(memory);
    const id = await f.user('no-mfa', PASSWORD);
    await f.identity.login({ username: 'no-mfa', password: PASSWORD }, at('198.51.100.1'));
    expect(f.events.some((e) => e.type === 'new_location')).toBe(false); // the first login anywhere is not "new"
    const second = await f.identity.login({ username: 'no-mfa', password: PASSWORD }, at('192.0.2.1'));
    expect(second.mfaRequired).toBe(false);
    expect(f.events.filter((e) => e.type === 'new_location')).toEqual([
      expect.objectContaining({ userId: id, actorIp: '192.0.2.1', detail: { prefix: '192.0.2.0/24', mfa: false } }),
    ]);
    for (let i = 0; i < MAX_LOCATIONS_PER_USER + 5; i++) {
      f.clock.advance(1000);
      await f.identity.locations.record(id, `10.${i}.0.0/24`, f.clock.nowMs());
    }
    const kept = await f.identity.locations.list(id);
    expect(kept).toHaveLength(MAX_LOCATIONS_PER_USER);
    expect(kept.map((l) => l.prefix)).not.toContain('198.51.100.0/24'); // the oldest went first
    expect(kept[0]?.prefix).toBe(`10.${MAX_LOCATIONS_PER_USER + 4}.0.0/24`);
  });
});
