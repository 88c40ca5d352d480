import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IdentityEvent } from '../../src/identity/events.js';
import { ManualClock } from '../../src/lib/clock.js';
import type { HttpsClient } from '../harness/client.js';
import { adminClient, modes, startTestServer, STRONG_PASSWORD, type TestServer } from '../harness/server.js';
import { createUser, PERIMETER_RELAXED } from './mfa-helpers.js';

const PASSWORD = 'Lockout-Password-99';

for (const { mode, available } of modes()) {
  describe.skipIf(!available)(`account lockout and suspension over HTTPS (${mode})`, () => {
    let t: TestServer;
    let admin: HttpsClient;
    const clock = new ManualClock(Date.now());
    const events: IdentityEvent[] = [];

    beforeAll(async () => {
      t = await startTestServer({ mode, clock, env: PERIMETER_RELAXED });
      t.server.services.identity.events.subscribe((e) => events.push(e));
      admin = await adminClient(t);
    });
    afterAll(async () => {
      await t?.close();
    });

    const login = (username: string, password: string) => t.client().post('/api/auth/login', { username, password });
    // The test moves the clock by hours: refresh the admin's 30-minute access token first.
    const statusOf = async (id: string) => {
      await admin.send('POST', '/api/auth/refresh');
      return (await admin.get(`/api/admin/users/${id}`)).json;
    };

    it('locks after 5 failures for 900 s: the right password is refused meanwhile, with the same answer as any failure', async () => {
      const { id } = await createUser(t, admin, 'lock-target', 'viewer', PASSWORD);
      for (let i = 0; i < 5; i++) expect((await login('lock-target', `Wrong-Guess-${i}`)).status).toBe(401);
      const view = await statusOf(id);
      expect(view.status).toBe('locked');
      expect(view.lockedUntil).toBe(clock.nowMs() + 900_000);

      const suspended = await createUser(t, admin, 'suspended-one', 'viewer', PASSWORD);
      expect((await admin.send('PATCH', `/api/admin/users/${suspended.id}`, { status: 'suspended' })).status).toBe(200);
      const answers = [
        await login('no-such-user', PASSWORD),
        await login('suspended-one', 'Wrong-Guess-x'),
        await login('lock-target', PASSWORD), // locked: right password
        await login('suspended-one', PASSWORD), // suspended: right password
      ];
      for (const answer of answers) {
        expect(answer.status).toBe(401);
        expect(answer.text).toBe('{"error":{"code":"invalid_credentials","message":"invalid username or password"}}');
        expect(answer.setCookies).toEqual([]);
        expect(Object.keys(answer.headers).sort()).toEqual(Object.keys(answers[0]?.headers ?? {}).sort());
      }

      clock.advance(901_000);
      const back = await login('lock-target', PASSWORD);
      expect(back.status).toBe(200);
      expect((await statusOf(id)).status).toBe('active');
      expect(events.filter((e) => e.type === 'account_locked' && e.userId === id)).toHaveLength(1);
    });

    it('limits 100 simultaneous guesses exactly like 100 in a row (reserve, then verify)', async () => {
      const { id } = await createUser(t, admin, 'flood-target', 'viewer', PASSWORD);
      const before = events.length;
      const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => login('flood-target', `Flood-Guess-${i}`)));
      expect(new Set(answers.map((a) => a.status))).toEqual(new Set([401]));
      const failed = events.slice(before).filter((e) => e.type === 'login_failed' && e.userId === id);
      expect(failed).toHaveLength(100);
      expect(failed.filter((e) => e.reason === 'bad_credentials')).toHaveLength(5);
      expect((await statusOf(id)).status).toBe('locked');
      expect((await login('flood-target', PASSWORD)).status).toBe(401);
    });

    it('suspends after more than 10 failures within an hour until an admin reactivates the account', async () => {
      const { id } = await createUser(t, admin, 'suspend-target', 'viewer', PASSWORD);
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < (round < 2 ? 5 : 1); i++) await login('suspend-target', `Wrong-Guess-${round}-${i}`);
        if (round < 2) clock.advance(901_000);
      }
      expect((await statusOf(id)).status).toBe('suspended');
      expect(events.filter((e) => e.type === 'account_suspended' && e.userId === id)).toHaveLength(1);
      clock.advance(7_200_000);
      expect((await login('suspend-target', PASSWORD)).status).toBe(401);
      admin = t.client(); // idle for two hours: a fresh admin session
      expect((await admin.post('/api/auth/login', { username: 'admin', password: STRONG_PASSWORD })).status).toBe(200);
      expect((await admin.send('PATCH', `/api/admin/users/${id}`, { status: 'active' })).status).toBe(200);
      expect((await login('suspend-target', PASSWORD)).status).toBe(200);
    });
  });
}

describe('login timing does not tell whether a user exists', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ env: PERIMETER_RELAXED });
    await createUser(t, await adminClient(t), 'timing-known', 'viewer', PASSWORD);
  });
  afterAll(async () => {
    await t?.close();
  });

  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return ((sorted[Math.floor((sorted.length - 1) / 2)] ?? 0) + (sorted[Math.ceil((sorted.length - 1) / 2)] ?? 0)) / 2;
  };

  it('takes as long for an unknown user as for a known one with a wrong password (30 each, interleaved)', async () => {
    const c = t.client();
    const timed = async (username: string) => {
      const start = process.hrtime.bigint();
      const res = await c.post('/api/auth/login', { username, password: 'Some-Wrong-Password-1' }, { cookies: false });
      expect(res.status).toBe(401);
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    for (let i = 0; i < 3; i++) await timed(`warm-up-${i}`);
    const unknown: number[] = [];
    const known: number[] = [];
    for (let i = 0; i < 30; i++) {
      // Interleaved, so load on the machine falls on both samples alike.
      unknown.push(await timed(`ghost-${i % 3}`));
      known.push(await timed('timing-known'));
    }
    const [mu, mk] = [median(unknown), median(known)];
    // Both paths run one argon2id verification (~tens of ms); skipping it for
    // unknown users would make them several times faster. 35% absorbs noise.
    expect(Math.abs(mu - mk) / Math.max(mu, mk), `median unknown ${mu.toFixed(1)} ms, known ${mk.toFixed(1)} ms`).toBeLessThan(0.35);
    expect(Math.min(mu, mk)).toBeGreaterThan(5);
  });
});
