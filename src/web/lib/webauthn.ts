/**
 * WebAuthn ceremonies. @simplewebauthn/browser is imported on demand so the
 * first page stays within its script budget; the API answers with the options
 * JSON the library expects.
 */
import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/browser';
import { api } from '../api/client.js';

export interface Passkey {
  id: string;
  name: string;
  deviceType: string;
  backedUp: boolean;
  transports: string[];
  createdAt: number;
  lastUsedAt: number | null;
}

export interface PasskeyRegistered {
  passkey: Passkey;
  csrfToken?: string;
  expiresIn?: number;
}

export const webauthnSupported = (): boolean => typeof window.PublicKeyCredential === 'function';

/** Creates a passkey on this device and stores it for the signed-in user. */
export async function registerPasskey(name?: string): Promise<PasskeyRegistered> {
  const { startRegistration } = await import('@simplewebauthn/browser');
  const optionsJSON = await api<PublicKeyCredentialCreationOptionsJSON>('POST', '/api/me/passkeys/register/options', { body: {} });
  const response = await startRegistration({ optionsJSON });
  return api<PasskeyRegistered>('POST', '/api/me/passkeys/register/verify', { body: { response, ...(name ? { name } : {}) } });
}

/** Signs in with a passkey: passwordless, or as the second factor of a password sign-in (`mfaTicket`). */
export async function authenticateWithPasskey<T>(mfaTicket?: string): Promise<T> {
  const { startAuthentication } = await import('@simplewebauthn/browser');
  const ticket = mfaTicket ? { mfaTicket } : {};
  const optionsJSON = await api<PublicKeyCredentialRequestOptionsJSON>('POST', '/api/auth/webauthn/login/options', { body: ticket });
  const response = await startAuthentication({ optionsJSON });
  return api<T>('POST', '/api/auth/webauthn/login/verify', { body: { response, ...ticket } });
}

/** The browser's own refusals (the user cancelled, timed out, or has no passkey here) in words. */
export function describeWebauthnError(err: unknown): string | null {
  if (err instanceof Error && (err.name === 'NotAllowedError' || err.name === 'AbortError')) return 'The passkey request was cancelled or timed out.';
  if (err instanceof Error && err.name === 'InvalidStateError') return 'This device already holds a passkey for this account.';
  if (err instanceof Error && err.name === 'NotSupportedError') return 'This browser cannot use passkeys.';
  return null;
}
