import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashBackupCode, newBackupCode, normalizeBackupCode } from '../../src/identity/mfa/backup-codes.js';
import { matchTotpStep, newTotpSecret, totpCodeForStep, totpStepAt, totpUri } from '../../src/identity/mfa/totp.js';
import { decryptField, deriveAtRestKey, encryptField } from '../../src/protocol/at-rest.js';
import { findOnPath } from '../harness/services.js';

// RFC 6238 appendix B, SHA-1 rows: the key is ASCII "12345678901234567890". The
// RFC prints 8 digits; a 6-digit code is the same number modulo 10^6.
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const RFC_VECTORS: Array<[number, string]> = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

describe('TOTP (SHA-1, 6 digits, 30 s)', () => {
  it('matches the RFC 6238 SHA-1 test vectors', () => {
    for (const [seconds, eight] of RFC_VECTORS) {
      expect(totpCodeForStep(RFC_SECRET, totpStepAt(seconds * 1000)), `T=${seconds}`).toBe(eight.slice(2));
    }
  });

  it.skipIf(!findOnPath('oathtool'))('agrees with the oathtool CLI', () => {
    const secret = newTotpSecret();
    for (const seconds of [0, 59, 1_700_000_000, 1_767_225_600, 2_000_000_029]) {
      const now = new Date(seconds * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
      const expected = execFileSync('oathtool', ['--totp=sha1', '--digits=6', '--time-step-size=30s', '--base32', `--now=${now}`, secret], { encoding: 'utf8' }).trim();
      expect(totpCodeForStep(secret, totpStepAt(seconds * 1000)), now).toBe(expected);
    }
  });

  it('accepts a code one step either side of now and nothing further, returning its step', () => {
    const secret = newTotpSecret();
    const now = Date.UTC(2026, 0, 1, 12, 0, 10);
    const step = totpStepAt(now);
    for (const delta of [-1, 0, 1]) expect(matchTotpStep(secret, totpCodeForStep(secret, step + delta), now)).toBe(step + delta);
    for (const delta of [-3, -2, 2, 3]) expect(matchTotpStep(secret, totpCodeForStep(secret, step + delta), now)).toBeNull();
    expect(matchTotpStep(secret, '12345', now)).toBeNull();
    expect(matchTotpStep(secret, 'abcdef', now)).toBeNull();
  });

  it('builds an otpauth:// URI with the issuer and the fixed parameters', () => {
    const secret = newTotpSecret();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new URL(totpUri(secret, 'Acme Fleet', 'alice'));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Acme Fleet:alice');
    expect(Object.fromEntries(uri.searchParams)).toEqual({ issuer: 'Acme Fleet', secret, algorithm: 'SHA1', digits: '6', period: '30' });
  });
});

describe('backup codes', () => {
  it('are 50-bit codes that normalize and hash per user', () => {
    const codes = new Set(Array.from({ length: 200 }, newBackupCode));
    expect(codes.size).toBe(200);
    const code = [...codes][0] as string;
    expect(code).toMatch(/^[a-z2-9]{5}-[a-z2-9]{5}$/);
    expect(normalizeBackupCode(` ${code.toUpperCase()} `)).toBe(code.replace('-', ''));
    expect(normalizeBackupCode('short')).toBeNull();
    const key = randomBytes(32);
    const n = normalizeBackupCode(code) as string;
    expect(hashBackupCode(key, 'u1', n)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashBackupCode(key, 'u1', n)).not.toBe(hashBackupCode(key, 'u2', n));
    expect(hashBackupCode(key, 'u1', n)).not.toBe(hashBackupCode(randomBytes(32), 'u1', n));
  });
});

describe('encryption at rest', () => {
  const key = deriveAtRestKey(randomBytes(32).toString('base64url'));
  const ctx = { table: 'mfa_totp', column: 'secret_enc', rowId: 'user-1' };

  it('round-trips and never stores the plaintext', () => {
    const stored = encryptField(key, ctx, 'JBSWY3DPEHPK3PXP');
    expect(stored).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    expect(stored).not.toContain('JBSWY3DPEHPK3PXP');
    expect(encryptField(key, ctx, 'JBSWY3DPEHPK3PXP')).not.toBe(stored);
    expect(decryptField(key, ctx, stored)).toBe('JBSWY3DPEHPK3PXP');
  });

  it('binds the value to its table, column and row, and refuses tampering or another key', () => {
    const stored = encryptField(key, ctx, 'secret-value');
    expect(() => decryptField(key, { ...ctx, rowId: 'user-2' }, stored)).toThrow(/does not open/);
    expect(() => decryptField(key, { ...ctx, column: 'other' }, stored)).toThrow(/does not open/);
    expect(() => decryptField(key, { ...ctx, table: 'other' }, stored)).toThrow(/does not open/);
    expect(() => decryptField(deriveAtRestKey(randomBytes(32).toString('base64url')), ctx, stored)).toThrow(/does not open/);
    const flipped = stored.slice(0, -2) + (stored.endsWith('A') ? 'B' : 'A') + stored.slice(-1);
    expect(() => decryptField(key, ctx, flipped)).toThrow();
    expect(() => decryptField(key, ctx, 'plaintext')).toThrow(/malformed/);
  });

  it('derives the key with HKDF from secrets.db (different secrets, different keys)', () => {
    const a = randomBytes(32).toString('base64url');
    expect(Buffer.from(deriveAtRestKey(a))).toEqual(Buffer.from(deriveAtRestKey(a)));
    expect(Buffer.from(deriveAtRestKey(a))).not.toEqual(Buffer.from(deriveAtRestKey(randomBytes(32).toString('base64url'))));
    expect(Buffer.from(deriveAtRestKey(a))).not.toEqual(Buffer.from(a, 'base64url'));
  });
});
