import { describe, expect, it } from 'vitest';
import type { PasswordPolicy } from '../../src/config/schema.js';
import { commonPasswords, isCommonPassword } from '../../src/identity/passwords/common.js';
import { MAX_PASSWORD_LENGTH, checkPasswordPolicy } from '../../src/identity/passwords/policy.js';

/** The password policy's defaults, as src/config/schema.ts sets them. */
const DEFAULTS: PasswordPolicy = { minLength: 12, requireUpper: true, requireLower: true, requireDigit: true, requireSymbol: true };
/** Only length, common list and username apply. */
const LENGTH_ONLY: PasswordPolicy = { minLength: 8, requireUpper: false, requireLower: false, requireDigit: false, requireSymbol: false };
const COMMON = 'is too common (a well-known password, perhaps with digits or symbols added)';

describe('common-password list', () => {
  it('is the maintained zxcvbn list, loaded once', () => {
    const list = commonPasswords();
    expect(list.size).toBeGreaterThanOrEqual(10_000);
    for (const word of ['password', 'qwerty', '123456', 'letmein', 'trustno1']) expect(list.has(word)).toBe(true);
    expect(commonPasswords()).toBe(list);
  });

  it('matches case-insensitively', () => {
    expect(isCommonPassword('PassWord')).toBe(true);
    expect(isCommonPassword('QWERTY')).toBe(true);
    expect(isCommonPassword('Vexing-Quartz-7-Lamp')).toBe(false);
  });
});

describe('checkPasswordPolicy', () => {
  it('accepts a good password', () => {
    expect(checkPasswordPolicy('Vexing-Quartz-7-Lamp', 'alice', DEFAULTS)).toEqual([]);
    expect(checkPasswordPolicy('Ärger über Öl 42', 'alice', DEFAULTS)).toEqual([]); // non-ASCII letters, space as symbol
  });

  it('requires the minimum length, counted in code points', () => {
    expect(checkPasswordPolicy('Vex-Quartz7', 'alice', DEFAULTS)).toEqual(['must be at least 12 characters long']);
    // 11 code points but 16 UTF-16 units: still too short.
    expect(checkPasswordPolicy('🦊🦊🦊🦊🦊Vx-7yz', 'alice', DEFAULTS)).toEqual(['must be at least 12 characters long']);
    expect(checkPasswordPolicy('🦊🦊🦊🦊🦊🦊Vx-7yz', 'alice', DEFAULTS)).toEqual([]);
    expect(checkPasswordPolicy('Vex-Quartz7', 'alice', { ...DEFAULTS, minLength: 11 })).toEqual([]);
  });

  it('requires each character class, unless configured off', () => {
    const cases: Array<[string, keyof PasswordPolicy, string]> = [
      ['vexing-quartz-7-lamp', 'requireUpper', 'must contain an uppercase letter'],
      ['VEXING-QUARTZ-7-LAMP', 'requireLower', 'must contain a lowercase letter'],
      ['Vexing-Quartz-seven-Lamp', 'requireDigit', 'must contain a digit'],
      ['VexingQuartz7Lamp', 'requireSymbol', 'must contain a symbol'],
    ];
    for (const [password, rule, problem] of cases) {
      expect(checkPasswordPolicy(password, 'alice', DEFAULTS)).toEqual([problem]);
      expect(checkPasswordPolicy(password, 'alice', { ...DEFAULTS, [rule]: false })).toEqual([]);
    }
    expect(checkPasswordPolicy('vexingquartzlamp', 'alice', DEFAULTS)).toEqual([
      'must contain an uppercase letter',
      'must contain a digit',
      'must contain a symbol',
    ]);
  });

  it(`refuses more than ${MAX_PASSWORD_LENGTH} characters`, () => {
    const base = 'Vexing-Quartz-7-';
    const atLimit = base + 'x'.repeat(MAX_PASSWORD_LENGTH - base.length);
    expect(checkPasswordPolicy(atLimit, 'alice', DEFAULTS)).toEqual([]);
    expect(checkPasswordPolicy(atLimit + 'x', 'alice', DEFAULTS)).toEqual([`must be at most ${MAX_PASSWORD_LENGTH} characters long`]);
  });

  it('refuses common passwords, case-insensitively', () => {
    for (const password of ['password', 'QWERTYUIOP', 'Iloveyou', 'baseball']) {
      expect(checkPasswordPolicy(password, 'alice', LENGTH_ONLY)).toEqual([COMMON]);
    }
  });

  it('refuses a common password with digits or symbols stuck on either end', () => {
    // Exactly what composition rules push people to, and what cracking rules try first.
    for (const password of ['Password2024!', '!!Dragon12345', '#1-Football-#1', 'Qwertyuiop123$']) {
      expect(checkPasswordPolicy(password, 'alice', DEFAULTS)).toEqual([COMMON]);
    }
    // A common word inside a longer passphrase is fine.
    expect(checkPasswordPolicy('Dragon-Vexing-Quartz-7', 'alice', DEFAULTS)).toEqual([]);
  });

  it('refuses a password containing the username, case-insensitively', () => {
    expect(checkPasswordPolicy('My-ALICE-is-Great-42', 'alice', DEFAULTS)).toEqual(['must not contain the username']);
    expect(checkPasswordPolicy('My-ALICE-is-Great-42', 'Bob.Smith', DEFAULTS)).toEqual([]);
  });

  it('never echoes the password in its messages', () => {
    const password = 'secretpw';
    const problems = checkPasswordPolicy(password, 'alice', DEFAULTS);
    expect(problems.length).toBeGreaterThan(0);
    for (const problem of problems) expect(problem).not.toContain(password);
  });
});
