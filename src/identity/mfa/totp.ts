/**
 * TOTP (RFC 6238) as the README's security model fixes it: SHA-1, 6 digits, 30 s steps, a code
 * accepted one step either side of now. The caller decides replay: it gets the
 * matching step back and must refuse any step not above the last one used.
 */
import { timingSafeEqual } from 'node:crypto';
import { HOTP, Secret, TOTP } from 'otpauth';

export const TOTP_ALGORITHM = 'SHA1';
export const TOTP_DIGITS = 6;
export const TOTP_PERIOD_SECONDS = 30;
/** Steps accepted either side of the current one (clock drift, typing time). */
export const TOTP_WINDOW = 1;
/** 160-bit secrets, the size RFC 4226 recommends for SHA-1. */
const SECRET_BYTES = 20;
const CODE = /^[0-9]{6}$/;

export function newTotpSecret(): string {
  return new Secret({ size: SECRET_BYTES }).base32;
}

/** The `otpauth://totp/…` URI authenticator apps read from the QR code. */
export function totpUri(secretBase32: string, issuer: string, account: string): string {
  return new TOTP({
    issuer,
    label: account,
    secret: Secret.fromBase32(secretBase32),
    algorithm: TOTP_ALGORITHM,
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
  }).toString();
}

export function totpStepAt(nowMs: number): number {
  return Math.floor(nowMs / 1000 / TOTP_PERIOD_SECONDS);
}

export function totpCodeForStep(secretBase32: string, step: number): string {
  return HOTP.generate({ secret: Secret.fromBase32(secretBase32), algorithm: TOTP_ALGORITHM, digits: TOTP_DIGITS, counter: step });
}

/** The time step `code` belongs to within the window around `nowMs`, or null. */
export function matchTotpStep(secretBase32: string, code: string, nowMs: number): number | null {
  if (!CODE.test(code)) return null;
  const now = totpStepAt(nowMs);
  const given = Buffer.from(code);
  let matched: number | null = null;
  // Every candidate is computed and compared in constant time, so timing does not say which step matched.
  for (let step = now - TOTP_WINDOW; step <= now + TOTP_WINDOW; step++) {
    if (timingSafeEqual(Buffer.from(totpCodeForStep(secretBase32, step)), given) && matched === null) matched = step;
  }
  return matched;
}
