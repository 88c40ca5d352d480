/**
 * The bundled common-password list: `passwords-common` of @zxcvbn-ts/language-common
 * (about 49,000 lowercase entries, maintained upstream).
 */
import { createRequire } from 'node:module';

type LanguageCommon = typeof import('@zxcvbn-ts/language-common');

let common: ReadonlySet<string> | undefined;

/**
 * Loaded on first use, not at import: the package decompresses its lists when
 * loaded (tens of milliseconds), which commands that never check a password skip.
 */
export function commonPasswords(): ReadonlySet<string> {
  if (!common) {
    const require = createRequire(import.meta.url);
    const { dictionary } = require('@zxcvbn-ts/language-common') as LanguageCommon;
    common = new Set(dictionary['passwords-common']);
  }
  return common;
}

/** Case-insensitive, as the list itself is lowercase. */
export function isCommonPassword(candidate: string): boolean {
  return commonPasswords().has(candidate.toLowerCase());
}
