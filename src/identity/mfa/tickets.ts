/**
 * MFA tickets: the proof, between the password and the second factor, that
 * the password was right. Opaque random strings; the KV keeps only their
 * SHA-256, for five minutes. A ticket is spent by its first successful second
 * factor (setIfAbsent claims it, so two racing requests cannot both win) and
 * burnt after a few wrong codes.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Kv } from '../../store/kv/kv.js';

export const MFA_TICKET_TTL_MS = 5 * 60_000;
/** Wrong second factors one ticket survives; after that the password is needed again. */
export const MFA_TICKET_MAX_FAILURES = 5;
const PREFIX = 'mft_';
const SHAPE = /^mft_[A-Za-z0-9_-]{43}$/;

export interface MfaTicket {
  userId: string;
  /** Methods already passed, e.g. ["pwd"]. */
  amr: string[];
  issuedAt: number;
}

const digest = (ticket: string) => createHash('sha256').update(ticket, 'utf8').digest('base64url');
const ticketKey = (hash: string) => `mfa:ticket:${hash}`;
const usedKey = (hash: string) => `mfa:ticket-used:${hash}`;
const failuresKey = (hash: string) => `mfa:ticket-failures:${hash}`;

export class MfaTickets {
  constructor(private readonly kv: Kv) {}

  async issue(data: MfaTicket): Promise<string> {
    for (;;) {
      const ticket = `${PREFIX}${randomBytes(32).toString('base64url')}`;
      if (await this.kv.setIfAbsent(ticketKey(digest(ticket)), JSON.stringify(data), MFA_TICKET_TTL_MS)) return ticket;
    }
  }

  /** The ticket's data while it is valid and unspent; null otherwise. */
  async peek(ticket: string): Promise<MfaTicket | null> {
    if (!SHAPE.test(ticket)) return null;
    const raw = await this.kv.get(ticketKey(digest(ticket)));
    if (raw === null) return null;
    try {
      const data = JSON.parse(raw) as MfaTicket;
      return typeof data.userId === 'string' && Array.isArray(data.amr) ? data : null;
    } catch {
      return null;
    }
  }

  /** Spends the ticket; false when someone else already did (or it expired). */
  async consume(ticket: string): Promise<boolean> {
    if (!SHAPE.test(ticket)) return false;
    const hash = digest(ticket);
    if (!(await this.kv.setIfAbsent(usedKey(hash), '1', MFA_TICKET_TTL_MS))) return false;
    const alive = (await this.kv.get(ticketKey(hash))) !== null;
    await this.kv.del(ticketKey(hash));
    return alive;
  }

  /** Counts a wrong second factor; the ticket dies at the limit. */
  async recordFailure(ticket: string): Promise<void> {
    if (!SHAPE.test(ticket)) return;
    const hash = digest(ticket);
    if ((await this.kv.incr(failuresKey(hash), MFA_TICKET_TTL_MS)) >= MFA_TICKET_MAX_FAILURES) await this.kv.del(ticketKey(hash));
  }
}

/** What a passkey challenge is bound to, so only this ticket's holder can spend it. */
export function ticketDigest(ticket: string): string {
  return digest(ticket);
}
