/**
 * WebAuthn passkeys with @simplewebauthn/server: registration
 * for a signed-in user, and assertions either as the second factor after a
 * password (bound to an MFA ticket) or alone for passwordless login with a
 * discoverable credential. Challenges live in the KV for five minutes and are
 * spent once; user verification is required; the signature counter must rise
 * whenever the authenticator keeps one.
 */
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Kysely, Selectable } from 'kysely';
import type { Clock } from '../../lib/clock.js';
import { newId } from '../../lib/ids.js';
import type { Kv } from '../../store/kv/kv.js';
import type { Database, WebauthnCredentialsTable } from '../../store/sql/tables.js';
import { identityError } from '../errors.js';
import type { EventSink } from '../events.js';

export type PasskeyRow = Selectable<WebauthnCredentialsTable>;
export type { AuthenticationResponseJSON, PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON };

export interface PasskeyView {
  id: string;
  name: string;
  deviceType: string;
  backedUp: boolean;
  transports: string[];
  createdAt: number;
  lastUsedAt: number | null;
}

export interface PasskeyConfig {
  rpId: string;
  rpName: string;
  /** Configured origins; empty means derive one (see originsFor). */
  origins: readonly string[];
  publicUrl?: string;
}

export interface PasskeyServiceDeps {
  db: Kysely<Database>;
  kv: Kv;
  clock: Clock;
  events: EventSink;
  config: PasskeyConfig;
}

/** What an assertion proved: whose passkey, and whether it is device-bound (hwk) or synced (swk). */
export interface PasskeyAssertion {
  userId: string;
  passkeyId: string;
  amr: 'hwk' | 'swk';
}

/**
 * Loaded on first use: the library pulls in ASN.1 and X.509 code that costs
 * every CLI command a second or more, and only the server needs it.
 */
let webauthn: Promise<typeof import('@simplewebauthn/server')> | undefined;
const simpleWebAuthn = () => (webauthn ??= import('@simplewebauthn/server'));

const CHALLENGE_TTL_MS = 5 * 60_000;
const MAX_PASSKEYS = 20;
const registrationKey = (userId: string) => `webauthn:register:${userId}`;
const assertionKey = (challenge: string) => `webauthn:assert:${challenge}`;
const spentKey = (challenge: string) => `webauthn:spent:${challenge}`;

/** The user handle stored in a discoverable credential: the user id's UTF-8 bytes. */
export const userHandleOf = (userId: string) => Buffer.from(userId, 'utf8').toString('base64url');

export function toPasskeyView(row: PasskeyRow): PasskeyView {
  return {
    id: row.id,
    name: row.name,
    deviceType: row.deviceType,
    backedUp: row.backedUp === 1,
    transports: JSON.parse(row.transports) as string[],
    createdAt: row.createdAt,
    lastUsedAt: row.lastUsedAt,
  };
}

/** The challenge a client signed, read from its clientDataJSON (verified again by the library). */
function challengeOf(clientDataJSON: string): string | null {
  try {
    const parsed = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown };
    return typeof parsed.challenge === 'string' && /^[A-Za-z0-9_-]{16,128}$/.test(parsed.challenge) ? parsed.challenge : null;
  } catch {
    return null;
  }
}

export class PasskeyService {
  constructor(private readonly deps: PasskeyServiceDeps) {}

  /**
   * Origins a ceremony may come from: the configured list, else the origin of
   * server.publicUrl, else https://<rpId>:<port the request arrived on>. The
   * port is the socket's own, never a header a client wrote.
   */
  originsFor(listenerPort: number): string[] {
    const { origins, publicUrl, rpId } = this.deps.config;
    if (origins.length > 0) return [...origins];
    if (publicUrl) return [new URL(publicUrl).origin];
    return [`https://${rpId}:${listenerPort}`];
  }

  async list(userId: string): Promise<PasskeyView[]> {
    const rows = await this.deps.db.selectFrom('webauthnCredentials').selectAll().where('userId', '=', userId).orderBy('createdAt').execute();
    return rows.map(toPasskeyView);
  }

  async registrationOptions(user: { id: string; username: string }): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const { db, kv, config } = this.deps;
    const existing = await db.selectFrom('webauthnCredentials').select(['credentialId', 'transports']).where('userId', '=', user.id).execute();
    const { generateRegistrationOptions } = await simpleWebAuthn();
    const options = await generateRegistrationOptions({
      rpName: config.rpName,
      rpID: config.rpId,
      userName: user.username,
      userID: new Uint8Array(Buffer.from(user.id, 'utf8')),
      attestationType: 'none',
      excludeCredentials: existing.map((c) => ({ id: c.credentialId, transports: JSON.parse(c.transports) as string[] })),
      // Discoverable, so the same passkey also serves passwordless login.
      authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
      timeout: CHALLENGE_TTL_MS,
    });
    await kv.set(registrationKey(user.id), options.challenge, CHALLENGE_TTL_MS);
    return options;
  }

  async register(userId: string, response: RegistrationResponseJSON, name: string | undefined, origins: string[], actorIp: string | null): Promise<PasskeyView> {
    const { db, kv, clock, config } = this.deps;
    const challenge = await kv.get(registrationKey(userId));
    if (challenge === null || !(await kv.setIfAbsent(spentKey(challenge), '1', CHALLENGE_TTL_MS))) throw identityError('passkey_failed');
    await kv.del(registrationKey(userId));
    let verified;
    try {
      const { verifyRegistrationResponse } = await simpleWebAuthn();
      verified = await verifyRegistrationResponse({ response, expectedChallenge: challenge, expectedOrigin: origins, expectedRPID: config.rpId, requireUserVerification: true });
    } catch (err) {
      throw identityError('passkey_failed', { cause: err });
    }
    if (!verified.verified) throw identityError('passkey_failed');
    const info = verified.registrationInfo;
    const count = await db.selectFrom('webauthnCredentials').select((eb) => eb.fn.countAll<number>().as('n')).where('userId', '=', userId).executeTakeFirstOrThrow();
    if (Number(count.n) >= MAX_PASSKEYS) throw identityError('passkey_failed', { message: `at most ${MAX_PASSKEYS} passkeys per user` });
    if (await db.selectFrom('webauthnCredentials').select('id').where('credentialId', '=', info.credential.id).executeTakeFirst()) throw identityError('passkey_exists');
    const now = clock.nowMs();
    const row: PasskeyRow = {
      id: newId(),
      userId,
      credentialId: info.credential.id,
      publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
      counter: info.credential.counter,
      transports: JSON.stringify(info.credential.transports ?? []),
      name: name ?? `Passkey ${new Date(now).toISOString().slice(0, 10)}`,
      deviceType: info.credentialDeviceType,
      backedUp: info.credentialBackedUp ? 1 : 0,
      lastUsedAt: null,
      createdAt: now,
      updatedAt: now,
    };
    await db.insertInto('webauthnCredentials').values(row).execute();
    this.emit('passkey_registered', userId, actorIp, row.id);
    return toPasskeyView(row);
  }

  /**
   * Options for an assertion. With a user (the second factor) the allow list
   * names that user's passkeys; without one it is empty, so the authenticator
   * offers its discoverable credentials, and user verification is required.
   */
  async authenticationOptions(bind: { userId: string | null; ticketHash: string | null }): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const { db, kv, config } = this.deps;
    const allow = bind.userId
      ? await db.selectFrom('webauthnCredentials').select(['credentialId', 'transports']).where('userId', '=', bind.userId).execute()
      : [];
    const { generateAuthenticationOptions } = await simpleWebAuthn();
    const options = await generateAuthenticationOptions({
      rpID: config.rpId,
      allowCredentials: allow.map((c) => ({ id: c.credentialId, transports: JSON.parse(c.transports) as string[] })),
      userVerification: 'required',
      timeout: CHALLENGE_TTL_MS,
    });
    await kv.set(assertionKey(options.challenge), JSON.stringify(bind), CHALLENGE_TTL_MS);
    return options;
  }

  /**
   * Verifies an assertion against the challenge it signed. `ticketHash` must
   * match what the options were bound to (null for passwordless).
   */
  async verifyAssertion(response: AuthenticationResponseJSON, ticketHash: string | null, origins: string[]): Promise<PasskeyAssertion> {
    const { db, kv, clock, config } = this.deps;
    const challenge = challengeOf(response.response.clientDataJSON);
    const bound = challenge === null ? null : await kv.get(assertionKey(challenge));
    if (challenge === null || bound === null) throw identityError('passkey_failed');
    const bind = JSON.parse(bound) as { userId: string | null; ticketHash: string | null };
    if (bind.ticketHash !== ticketHash) throw identityError('passkey_failed');
    // Spend the challenge before verifying: a replayed assertion finds it gone.
    if (!(await kv.setIfAbsent(spentKey(challenge), '1', CHALLENGE_TTL_MS))) throw identityError('passkey_failed');
    await kv.del(assertionKey(challenge));

    const row = await db.selectFrom('webauthnCredentials').selectAll().where('credentialId', '=', response.id).executeTakeFirst();
    if (!row || (bind.userId !== null && row.userId !== bind.userId)) throw identityError('passkey_failed');
    // Passwordless: the authenticator names the account; it must be this credential's owner.
    if (bind.userId === null && response.response.userHandle !== userHandleOf(row.userId)) throw identityError('passkey_failed');
    let verified;
    try {
      const { verifyAuthenticationResponse } = await simpleWebAuthn();
      verified = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: origins,
        expectedRPID: config.rpId,
        credential: { id: row.credentialId, publicKey: new Uint8Array(Buffer.from(row.publicKey, 'base64url')), counter: row.counter, transports: JSON.parse(row.transports) as string[] },
        requireUserVerification: true,
      });
    } catch (err) {
      // Includes a counter that did not rise: a cloned authenticator.
      throw identityError('passkey_failed', { cause: err });
    }
    if (!verified.verified) throw identityError('passkey_failed');
    const now = clock.nowMs();
    const { newCounter } = verified.authenticationInfo;
    // Conditional on the counter read, so two racing assertions cannot both move it.
    const updated = await db
      .updateTable('webauthnCredentials')
      .set({ counter: newCounter, lastUsedAt: now, updatedAt: now })
      .where('id', '=', row.id)
      .where('counter', '=', row.counter)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) !== 1) throw identityError('passkey_failed');
    return { userId: row.userId, passkeyId: row.id, amr: row.deviceType === 'multiDevice' ? 'swk' : 'hwk' };
  }

  async rename(userId: string, id: string, name: string, actorIp: string | null): Promise<PasskeyView> {
    const { db, clock } = this.deps;
    const result = await db.updateTable('webauthnCredentials').set({ name, updatedAt: clock.nowMs() }).where('id', '=', id).where('userId', '=', userId).executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) throw identityError('passkey_not_found');
    this.emit('passkey_renamed', userId, actorIp, id);
    const row = await db.selectFrom('webauthnCredentials').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    return toPasskeyView(row);
  }

  async remove(userId: string, id: string, actorIp: string | null): Promise<void> {
    const result = await this.deps.db.deleteFrom('webauthnCredentials').where('id', '=', id).where('userId', '=', userId).executeTakeFirst();
    if (Number(result.numDeletedRows) !== 1) throw identityError('passkey_not_found');
    this.emit('passkey_removed', userId, actorIp, id);
  }

  private emit(type: 'passkey_registered' | 'passkey_renamed' | 'passkey_removed', userId: string, actorIp: string | null, passkeyId: string): void {
    this.deps.events.emit({ type, at: this.deps.clock.nowMs(), actorId: userId, actorIp, userId, detail: { passkeyId } });
  }
}
