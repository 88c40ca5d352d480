import type { Kysely } from 'kysely';
import type { Clock } from '../../lib/clock.js';
import { newId } from '../../lib/ids.js';
import { decryptField, encryptField, type FieldContext } from '../../protocol/at-rest.js';
import type { Database } from '../../store/sql/tables.js';
import { identityError } from '../errors.js';
import type { EventSink } from '../events.js';
import { BACKUP_CODE_COUNT, hashBackupCode, newBackupCode, normalizeBackupCode } from './backup-codes.js';
import { matchTotpStep, newTotpSecret, totpUri } from './totp.js';

export type MfaMethod = 'totp' | 'backup' | 'webauthn';

export interface MfaStatus {
  totp: boolean;
  backupCodesRemaining: number;
  passkeys: number;
}

export interface TotpSetup {
  otpauthUri: string;
  /** The same URI as a QR code, an SVG document. */
  qrSvg: string;
  /** The base32 key, for typing into an app that cannot scan. */
  manualEntryKey: string;
}

export interface MfaServiceDeps {
  db: Kysely<Database>;
  clock: Clock;
  events: EventSink;
  /** At-rest key (secrets.db) for TOTP secrets. */
  atRestKey: Uint8Array;
  /** HMAC key for backup codes. */
  backupCodeKey: Uint8Array;
  issuer: string;
}

const secretContext = (userId: string): FieldContext => ({ table: 'mfa_totp', column: 'secret_enc', rowId: userId });

/** TOTP and backup codes: enrollment, verification and removal. */
export class MfaService {
  constructor(private readonly deps: MfaServiceDeps) {}

  /** The second factors a user can use now, in the order the login answer lists them. */
  async methodsFor(userId: string): Promise<MfaMethod[]> {
    const status = await this.status(userId);
    const methods: MfaMethod[] = [];
    if (status.totp) methods.push('totp');
    if (status.backupCodesRemaining > 0 && (status.totp || status.passkeys > 0)) methods.push('backup');
    if (status.passkeys > 0) methods.push('webauthn');
    return methods;
  }

  async status(userId: string): Promise<MfaStatus> {
    const { db } = this.deps;
    const [totp, codes, passkeys] = await Promise.all([
      db.selectFrom('mfaTotp').select('confirmedAt').where('userId', '=', userId).executeTakeFirst(),
      db.selectFrom('mfaBackupCodes').select((eb) => eb.fn.countAll<number>().as('n')).where('userId', '=', userId).where('usedAt', 'is', null).executeTakeFirstOrThrow(),
      db.selectFrom('webauthnCredentials').select((eb) => eb.fn.countAll<number>().as('n')).where('userId', '=', userId).executeTakeFirstOrThrow(),
    ]);
    return { totp: totp?.confirmedAt != null, backupCodesRemaining: Number(codes.n), passkeys: Number(passkeys.n) };
  }

  /** Starts (or restarts) TOTP enrollment; the secret is inactive until confirmed with a code. */
  async setupTotp(userId: string, username: string): Promise<TotpSetup> {
    const { db, clock } = this.deps;
    const existing = await db.selectFrom('mfaTotp').select('confirmedAt').where('userId', '=', userId).executeTakeFirst();
    if (existing?.confirmedAt != null) throw identityError('totp_already_enrolled');
    const secret = newTotpSecret();
    const now = clock.nowMs();
    const secretEnc = encryptField(this.deps.atRestKey, secretContext(userId), secret);
    if (existing) {
      await db.updateTable('mfaTotp').set({ secretEnc, lastUsedStep: null, updatedAt: now }).where('userId', '=', userId).where('confirmedAt', 'is', null).execute();
    } else {
      await db.insertInto('mfaTotp').values({ userId, secretEnc, confirmedAt: null, lastUsedStep: null, createdAt: now, updatedAt: now }).execute();
    }
    const otpauthUri = totpUri(secret, this.deps.issuer, username);
    // Loaded on first use, so CLI commands do not pay for it.
    const { default: QRCode } = await import('qrcode');
    const qrSvg = await QRCode.toString(otpauthUri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    return { otpauthUri, qrSvg, manualEntryKey: secret };
  }

  /** Activates a pending TOTP secret with a valid code; returns the first set of backup codes. */
  async confirmTotp(userId: string, code: string, actorIp: string | null): Promise<string[]> {
    const { db, clock } = this.deps;
    const row = await db.selectFrom('mfaTotp').selectAll().where('userId', '=', userId).executeTakeFirst();
    if (!row) throw identityError('totp_not_pending');
    if (row.confirmedAt !== null) throw identityError('totp_already_enrolled');
    if (!(await this.acceptTotp(userId, row.secretEnc, code))) throw identityError('invalid_mfa_code');
    const now = clock.nowMs();
    await db.updateTable('mfaTotp').set({ confirmedAt: now, updatedAt: now }).where('userId', '=', userId).execute();
    this.emit('mfa_enrolled', userId, actorIp, { method: 'totp' });
    return this.replaceBackupCodes(userId);
  }

  /** Whether `code` is the user's current TOTP code and its step was never used. */
  async verifyTotp(userId: string, code: string): Promise<boolean> {
    const row = await this.deps.db.selectFrom('mfaTotp').selectAll().where('userId', '=', userId).executeTakeFirst();
    if (!row || row.confirmedAt === null) return false;
    return this.acceptTotp(userId, row.secretEnc, code);
  }

  /** Spends one unused backup code; true when it was valid. */
  async useBackupCode(userId: string, code: string, actorIp: string | null): Promise<boolean> {
    const { db, clock } = this.deps;
    const normalized = normalizeBackupCode(code);
    if (normalized === null) return false;
    const codeHash = hashBackupCode(this.deps.backupCodeKey, userId, normalized);
    const now = clock.nowMs();
    // One conditional update claims the code: two requests racing with it cannot both win.
    const result = await db
      .updateTable('mfaBackupCodes')
      .set({ usedAt: now, updatedAt: now })
      .where('userId', '=', userId)
      .where('codeHash', '=', codeHash)
      .where('usedAt', 'is', null)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) return false;
    const { backupCodesRemaining } = await this.status(userId);
    this.emit('backup_code_used', userId, actorIp, { remaining: backupCodesRemaining });
    return true;
  }

  /** A new set of backup codes; the old set stops working. Needs an enrolled second factor. */
  async regenerateBackupCodes(userId: string, actorIp: string | null): Promise<string[]> {
    const status = await this.status(userId);
    if (!status.totp && status.passkeys === 0) throw identityError('totp_not_enrolled');
    const codes = await this.replaceBackupCodes(userId);
    this.emit('mfa_enrolled', userId, actorIp, { method: 'backup_codes' });
    return codes;
  }

  /** The user removes their authenticator app; backup codes go too when no passkey remains. */
  async removeTotp(userId: string, actorIp: string | null): Promise<void> {
    const { db } = this.deps;
    const result = await db.deleteFrom('mfaTotp').where('userId', '=', userId).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) throw identityError('totp_not_enrolled');
    if ((await this.status(userId)).passkeys === 0) await db.deleteFrom('mfaBackupCodes').where('userId', '=', userId).execute();
    this.emit('mfa_removed', userId, actorIp, { method: 'totp' });
  }

  /** Removes every second factor (an admin's reset for a user who lost them). */
  async removeAll(userId: string): Promise<void> {
    const { db } = this.deps;
    await db.deleteFrom('mfaTotp').where('userId', '=', userId).execute();
    await db.deleteFrom('mfaBackupCodes').where('userId', '=', userId).execute();
    await db.deleteFrom('webauthnCredentials').where('userId', '=', userId).execute();
  }

  private async acceptTotp(userId: string, secretEnc: string, code: string): Promise<boolean> {
    const { db, clock } = this.deps;
    const secret = decryptField(this.deps.atRestKey, secretContext(userId), secretEnc);
    const step = matchTotpStep(secret, code, clock.nowMs());
    if (step === null) return false;
    // Replay protection: the step must be above the last one used. The
    // conditional update makes the check and the write one atomic step, so
    // the same code sent twice at once is still accepted only once.
    const result = await db
      .updateTable('mfaTotp')
      .set({ lastUsedStep: step, updatedAt: clock.nowMs() })
      .where('userId', '=', userId)
      .where((eb) => eb.or([eb('lastUsedStep', 'is', null), eb('lastUsedStep', '<', step)]))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  private async replaceBackupCodes(userId: string): Promise<string[]> {
    const { db, clock } = this.deps;
    const now = clock.nowMs();
    const codes = Array.from({ length: BACKUP_CODE_COUNT }, newBackupCode);
    await db.transaction().execute(async (trx) => {
      await trx.deleteFrom('mfaBackupCodes').where('userId', '=', userId).execute();
      await trx
        .insertInto('mfaBackupCodes')
        .values(
          codes.map((code) => ({
            id: newId(),
            userId,
            codeHash: hashBackupCode(this.deps.backupCodeKey, userId, normalizeBackupCode(code) as string),
            usedAt: null,
            createdAt: now,
            updatedAt: now,
          })),
        )
        .execute();
    });
    return codes;
  }

  private emit(type: 'mfa_enrolled' | 'mfa_removed' | 'backup_code_used', userId: string, actorIp: string | null, detail: Record<string, string | number>): void {
    this.deps.events.emit({ type, at: this.deps.clock.nowMs(), actorId: userId, actorIp, userId, detail });
  }
}
