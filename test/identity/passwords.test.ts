import { createHash, randomBytes } from 'node:crypto';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { describe, expect, it } from 'vitest';
import { PasswordHasher, type StoredPassword } from '../../src/identity/passwords/hasher.js';
import { legacySha256 } from '../../src/identity/passwords/legacy.js';
import { Semaphore } from '../../src/lib/semaphore.js';

const PEPPER_1 = randomBytes(32).toString('base64url');
const PEPPER_2 = randomBytes(32).toString('base64url');
const PASSWORD = 'Correct-Horse-Battery-9';

/** Samples the hasher's argon2 gate every millisecond while `work` runs. */
async function peakLoad<T>(hasher: PasswordHasher, work: () => Promise<T>): Promise<{ result: T; maxActive: number; maxWaiting: number }> {
  let maxActive = 0;
  let maxWaiting = 0;
  const sample = () => {
    const { active, waiting } = hasher.argon2Load();
    maxActive = Math.max(maxActive, active);
    maxWaiting = Math.max(maxWaiting, waiting);
  };
  const timer = setInterval(sample, 1);
  try {
    const pending = work();
    await new Promise((resolve) => setImmediate(resolve));
    sample();
    return { result: await pending, maxActive, maxWaiting };
  } finally {
    clearInterval(timer);
  }
}

describe('Semaphore', () => {
  it('runs at most `limit` tasks and starts waiters in FIFO order', async () => {
    const gate = new Semaphore(2);
    const started: number[] = [];
    const releases: Array<() => void> = [];
    const tasks = [0, 1, 2, 3, 4].map((i) =>
      gate.run(async () => {
        started.push(i);
        await new Promise<void>((resolve) => releases.push(resolve));
        return i;
      }),
    );
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    expect([gate.active, gate.waiting]).toEqual([2, 3]);
    while (releases.length > 0) {
      releases.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
      expect(gate.active).toBeLessThanOrEqual(2);
    }
    expect(await Promise.all(tasks)).toEqual([0, 1, 2, 3, 4]);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect([gate.active, gate.waiting]).toEqual([0, 0]);
  });

  it('frees the slot when a task fails', async () => {
    const gate = new Semaphore(1);
    await expect(gate.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await gate.run(async () => 'next')).toBe('next');
    expect(gate.active).toBe(0);
  });

  it('refuses a limit below 1', () => {
    expect(() => new Semaphore(0)).toThrow(RangeError);
    expect(() => new Semaphore(1.5)).toThrow(RangeError);
  });
});

describe('PasswordHasher: argon2id', () => {
  it('hashes as argon2id m=65536,t=3,p=4 with a 16-byte salt and 32-byte hash under the current pepper', async () => {
    const hasher = await PasswordHasher.create({ peppers: { '1': PEPPER_1 }, concurrency: 4 });
    const stored = await hasher.hash(PASSWORD);
    expect(stored).toMatchObject({ algo: 'argon2id', salt: null, pepperVersion: 1 });
    const match = /^\$argon2id\$v=19\$m=65536,t=3,p=4\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(stored.hash);
    expect(match).not.toBeNull();
    expect(Buffer.from(match?.[1] ?? '', 'base64')).toHaveLength(16);
    expect(Buffer.from(match?.[2] ?? '', 'base64')).toHaveLength(32);
    // A fresh random salt each time.
    expect((await hasher.hash(PASSWORD)).hash).not.toBe(stored.hash);
  });

  it('verifies the right password and refuses a wrong one', async () => {
    const hasher = await PasswordHasher.create({ peppers: { '1': PEPPER_1 }, concurrency: 4 });
    const stored = await hasher.hash(PASSWORD);
    expect(await hasher.verify(stored, PASSWORD)).toEqual({ ok: true, needsRehash: false });
    expect(await hasher.verify(stored, 'Correct-Horse-Battery-8')).toEqual({ ok: false, needsRehash: false });
    expect(await hasher.verify(stored, '')).toEqual({ ok: false, needsRehash: false });
  });

  it('depends on the pepper, which is not in the stored string', async () => {
    const hasher = await PasswordHasher.create({ peppers: { '1': PEPPER_1 }, concurrency: 4 });
    const stored = await hasher.hash(PASSWORD);
    const otherPepper = await PasswordHasher.create({ peppers: { '1': PEPPER_2 }, concurrency: 4 });
    expect(await otherPepper.verify(stored, PASSWORD)).toEqual({ ok: false, needsRehash: false });
    // Without the secret, the database row alone does not verify: the pepper was really applied.
    expect(await argon2Verify(stored.hash, PASSWORD)).toBe(false);
    const pepper = Buffer.from(PEPPER_1, 'base64url');
    for (const encoding of ['base64', 'base64url', 'hex'] as const) {
      expect(stored.hash).not.toContain(pepper.toString(encoding).replace(/=+$/, ''));
    }
    expect(stored.hash).not.toMatch(/keyid=|data=/);
  });

  it('rotates peppers: old hashes verify and ask for a rehash, new ones use the highest version', async () => {
    const v1 = await PasswordHasher.create({ peppers: { '1': PEPPER_1 }, concurrency: 4 });
    const old = await v1.hash(PASSWORD);
    const rotated = await PasswordHasher.create({ peppers: { '1': PEPPER_1, '2': PEPPER_2 }, concurrency: 4 });
    expect(rotated.currentPepperVersion).toBe(2);
    expect(await rotated.verify(old, PASSWORD)).toEqual({ ok: true, needsRehash: true });
    expect(await rotated.verify(old, 'wrong-password')).toEqual({ ok: false, needsRehash: false });
    const fresh = await rotated.hash(PASSWORD);
    expect(fresh.pepperVersion).toBe(2);
    expect(await rotated.verify(fresh, PASSWORD)).toEqual({ ok: true, needsRehash: false });
    // Once version 1 is retired, its hashes fail closed instead of throwing.
    const retired = await PasswordHasher.create({ peppers: { '2': PEPPER_2 }, concurrency: 4 });
    expect(await retired.verify(old, PASSWORD)).toEqual({ ok: false, needsRehash: false });
    expect(await retired.verify(fresh, PASSWORD)).toEqual({ ok: true, needsRehash: false });
  });

  it('asks for a rehash when the stored argon2 parameters are not the current ones', async () => {
    const hasher = await PasswordHasher.create({ peppers: { '1': PEPPER_1 }, concurrency: 4 });
    const weaker = await argon2Hash(PASSWORD, {
      memoryCost: 19456,
      timeCost: 2,
      parallelism: 1,
      secret: Buffer.from(PEPPER_1, 'base64url'),
    });
    expect(weaker).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const stored: StoredPassword = { hash: weaker, algo: 'argon2id', salt: null, pepperVersion: 1 };
    expect(await hasher.verify(stored, PASSWORD)).toEqual({ ok: true, needsRehash: true });
  });

  it('fails closed on an unknown pepper version, a missing one, a malformed hash or an unknown algorithm', async () => {
    const hasher = await PasswordHasher.create({ peppers: { '1': PEPPER_1 }, concurrency: 4 });
    const stored = await hasher.hash(PASSWORD);
    const fail = { ok: false, needsRehash: false };
    expect(await hasher.verify({ ...stored, pepperVersion: 7 }, PASSWORD)).toEqual(fail);
    expect(await hasher.verify({ ...stored, pepperVersion: null }, PASSWORD)).toEqual(fail);
    expect(await hasher.verify({ ...stored, hash: '$argon2id$garbage' }, PASSWORD)).toEqual(fail);
    expect(await hasher.verify({ ...stored, hash: stored.hash.replace('$argon2id$', '$argon2i$') }, PASSWORD)).toEqual(fail);
    expect(await hasher.verify({ ...stored, algo: 'md5' as StoredPassword['algo'] }, PASSWORD)).toEqual(fail);
  });

  it('refuses bad pepper configuration without echoing the secret', () => {
    const secret = 'not/base64url+secret!';
    let message = '';
    try {
      new PasswordHasher({ peppers: { '3': secret }, concurrency: 1 });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/pepper version 3/);
    expect(message).not.toContain(secret);
    expect(() => new PasswordHasher({ peppers: { '1': 'short' }, concurrency: 1 })).toThrow(/pepper version 1/);
    expect(() => new PasswordHasher({ peppers: { '0': PEPPER_1 }, concurrency: 1 })).toThrow(/pepper versions/);
    expect(() => new PasswordHasher({ peppers: {}, concurrency: 1 })).toThrow(/at least one pepper/);
  });
});

describe('PasswordHasher: unknown users and legacy hashes', () => {
  it('verifies an unknown user against the dummy argon2id hash and refuses', async () => {
    const hasher = await PasswordHasher.create({ peppers: { '1': PEPPER_1 }, concurrency: 4 });
    const { result, maxActive } = await peakLoad(hasher, () => hasher.verify(null, PASSWORD));
    expect(result).toEqual({ ok: false, needsRehash: false });
    expect(maxActive).toBe(1); // a real argon2 verify ran
    expect(await hasher.verify(null, '')).toEqual({ ok: false, needsRehash: false });
  });

  it('works before the dummy hash is ready', async () => {
    const hasher = new PasswordHasher({ peppers: { '1': PEPPER_1 }, concurrency: 1 });
    expect(await hasher.verify(null, PASSWORD)).toEqual({ ok: false, needsRehash: false });
  });

  it('computes the old server sha256 format: a fixed vector', () => {
    // printf '%s' 'passwordsalt' | sha256sum
    expect(legacySha256('password', 'salt')).toBe('7a37b85c8918eac19a9089c0fa5a2ab4dce3f90528dcdeec108b23ddf3607b99');
  });

  it('verifies sha256+salt hashes once, asks for a rehash, and pays the argon2 cost', async () => {
    const hasher = await PasswordHasher.create({ peppers: { '1': PEPPER_1 }, concurrency: 4 });
    const salt = 'c2f1b0e9a7d4';
    // Computed independently of legacy.ts, as the Python server did.
    const hex = createHash('sha256').update(Buffer.from(`Fleet-Legacy-2018#${salt}`, 'utf8')).digest('hex');
    const stored: StoredPassword = { hash: hex, algo: 'sha256', salt, pepperVersion: null };
    const { result, maxActive } = await peakLoad(hasher, () => hasher.verify(stored, 'Fleet-Legacy-2018#'));
    expect(result).toEqual({ ok: true, needsRehash: true });
    expect(maxActive).toBe(1);
    expect(await hasher.verify(stored, 'Fleet-Legacy-2018$')).toEqual({ ok: false, needsRehash: false });
    expect(await hasher.verify({ ...stored, salt: 'other' }, 'Fleet-Legacy-2018#')).toEqual({ ok: false, needsRehash: false });
    expect(await hasher.verify({ ...stored, salt: null }, 'Fleet-Legacy-2018#')).toEqual({ ok: false, needsRehash: false });
    expect(await hasher.verify({ ...stored, hash: hex.slice(0, 63) }, 'Fleet-Legacy-2018#')).toEqual({ ok: false, needsRehash: false });

    const vector: StoredPassword = {
      hash: '7a37b85c8918eac19a9089c0fa5a2ab4dce3f90528dcdeec108b23ddf3607b99',
      algo: 'sha256',
      salt: 'salt',
      pepperVersion: null,
    };
    expect(await hasher.verify(vector, 'password')).toEqual({ ok: true, needsRehash: true });
  });

  it('verifies $2b$ and $2a$ bcrypt hashes (12 rounds) once and asks for a rehash', async () => {
    const hasher = await PasswordHasher.create({ peppers: { '1': PEPPER_1 }, concurrency: 4 });
    // Made once with libxcrypt (Python's crypt module), an implementation independent of bcryptjs.
    const b2b: StoredPassword = {
      hash: '$2b$12$EgRayP71HEH67ZarDubRFOjIa4Wgm5P8pEV3PCtj2qCzQYvrzkeNq',
      algo: 'bcrypt',
      salt: null,
      pepperVersion: null,
    };
    const b2a: StoredPassword = {
      hash: '$2a$12$L/IKs2TMDIenlikmco690OmH.6mC85MMsr9Y8BXslkPRQ4Rq6hkU.',
      algo: 'bcrypt',
      salt: null,
      pepperVersion: null,
    };
    const { result, maxActive } = await peakLoad(hasher, () => hasher.verify(b2b, 'Legacy-Fleet-2019!'));
    expect(result).toEqual({ ok: true, needsRehash: true });
    expect(maxActive).toBe(1);
    expect(await hasher.verify(b2a, 'Old$chool-Bcrypt7')).toEqual({ ok: true, needsRehash: true });
    expect(await hasher.verify(b2b, 'Legacy-Fleet-2019?')).toEqual({ ok: false, needsRehash: false });
    expect(await hasher.verify(b2a, 'Old$chool-Bcrypt8')).toEqual({ ok: false, needsRehash: false });
    expect(await hasher.verify({ ...b2b, hash: '$2y$12$' + b2b.hash.slice(7) }, 'Legacy-Fleet-2019!')).toEqual({ ok: false, needsRehash: false });
    expect(await hasher.verify({ ...b2b, hash: 'not-bcrypt' }, 'Legacy-Fleet-2019!')).toEqual({ ok: false, needsRehash: false });
  });
});

describe('PasswordHasher: bounded concurrency', () => {
  it('never runs more than `concurrency` argon2 computations at once', async () => {
    const hasher = await PasswordHasher.create({ peppers: { '1': PEPPER_1 }, concurrency: 2 });
    const stored = await hasher.hash(PASSWORD);
    const attempts = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? PASSWORD : `${PASSWORD}-${i}`));
    const { result, maxActive, maxWaiting } = await peakLoad(hasher, () =>
      Promise.all(attempts.map((pw, i) => hasher.verify(i % 5 === 4 ? null : stored, pw))),
    );
    expect(maxActive).toBe(2);
    expect(maxWaiting).toBeGreaterThanOrEqual(10);
    expect(result.map((r) => r.ok)).toEqual(attempts.map((_, i) => i % 2 === 0 && i % 5 !== 4));
    expect(hasher.argon2Load()).toEqual({ active: 0, waiting: 0 });
  });
});
