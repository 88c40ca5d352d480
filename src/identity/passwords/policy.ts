/** The password policy (README, security.passwordPolicy), checked when a password is set. */
import type { PasswordPolicy } from '../../config/schema.js';
import { isCommonPassword } from './common.js';

/** Bounds argon2 input; longer is refused rather than truncated. */
export const MAX_PASSWORD_LENGTH = 1024;

// Not a letter or number (spaces and punctuation count as symbols).
const SYMBOL = /[^\p{L}\p{N}]/u;
// Digits and symbols at either end, the mangling users add to a word to pass
// composition rules ("Password2024!") and cracking rules try first.
const EDGE_MANGLING = /^[^\p{L}]+|[^\p{L}]+$/gu;

/**
 * Returns what is wrong with a password, each item safe to show the user
 * (it never echoes the password); an empty list means the password is accepted.
 */
export function checkPasswordPolicy(password: string, username: string, policy: PasswordPolicy): string[] {
  const length = codePoints(password);
  // Checked first and alone: no point scanning a megabyte with regexes.
  if (length > MAX_PASSWORD_LENGTH) return [`must be at most ${MAX_PASSWORD_LENGTH} characters long`];

  const problems: string[] = [];
  if (length < policy.minLength) problems.push(`must be at least ${policy.minLength} characters long`);
  if (policy.requireUpper && !/\p{Lu}/u.test(password)) problems.push('must contain an uppercase letter');
  if (policy.requireLower && !/\p{Ll}/u.test(password)) problems.push('must contain a lowercase letter');
  if (policy.requireDigit && !/\p{Nd}/u.test(password)) problems.push('must contain a digit');
  if (policy.requireSymbol && !SYMBOL.test(password)) problems.push('must contain a symbol');

  const core = password.replace(EDGE_MANGLING, '');
  if (isCommonPassword(password) || (core !== '' && isCommonPassword(core))) {
    problems.push('is too common (a well-known password, perhaps with digits or symbols added)');
  }
  const name = username.toLowerCase();
  if (name !== '' && password.toLowerCase().includes(name)) problems.push('must not contain the username');
  return problems;
}

/** Length as the user counts it: an emoji is one character, not two UTF-16 units. */
function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}
