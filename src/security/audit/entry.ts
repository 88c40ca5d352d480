import { createHmac, type KeyObject } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { AuditLogTable } from '../../store/sql/tables.js';
import { canonicalJson } from '../../protocol/canonical.js';
import { canonicalEntryText, parseCanonical, type HashedColumns } from './entry-text.js';

export type AuditRow = Selectable<AuditLogTable>;

/** The first entry links to this. */
export const GENESIS_HASH = '0'.repeat(64);

/** An entry as it is hashed and shown: before/after as JSON values, success as a boolean. */
export interface AuditEntry {
  seq: number;
  ts: number;
  actorType: string;
  actorId: string | null;
  actorIp: string | null;
  action: string;
  resourceType: string | null;
  resourceId: string | null;
  before: unknown;
  after: unknown;
  success: boolean;
  error: string | null;
  prevHash: string;
  hash: string;
}

export type UnhashedEntry = Omit<AuditEntry, 'hash'>;

/** The plain columns of a stored row, shared by verification, listing and export. */
export function rowScalars(row: AuditRow) {
  return {
    seq: Number(row.seq),
    ts: Number(row.ts),
    actorType: row.actorType,
    actorId: row.actorId,
    actorIp: row.actorIp,
    action: row.action,
    resourceType: row.resourceType,
    resourceId: row.resourceId,
    success: row.success === 1,
    error: row.error,
  };
}

// A string with a lone surrogate is stored (UTF-8) with U+FFFD in its place;
// hash what is stored, or the entry could never verify.
const LONE_SURROGATE = /\p{Cs}/gu;
const stored = (text: string): string => text.replace(LONE_SURROGATE, '\uFFFD');
const storedOrNull = (text: string | null): string | null => (text === null ? null : stored(text));
const jsonText = (value: unknown): string | null => (value === null ? null : canonicalJson(value));

/** The columns of an entry as they are stored and hashed: before/after as canonical JSON text, success as 0/1. */
export function hashedColumns(entry: UnhashedEntry): HashedColumns {
  return {
    seq: entry.seq,
    ts: entry.ts,
    actorType: stored(entry.actorType),
    actorId: storedOrNull(entry.actorId),
    actorIp: storedOrNull(entry.actorIp),
    action: stored(entry.action),
    resourceType: storedOrNull(entry.resourceType),
    resourceId: storedOrNull(entry.resourceId),
    before: jsonText(entry.before),
    after: jsonText(entry.after),
    success: entry.success ? 1 : 0,
    error: storedOrNull(entry.error),
    prevHash: stored(entry.prevHash),
  };
}

/** What the HMAC covers: prevHash ‖ canonical(entry without hash). */
export const hashInput = (c: HashedColumns): string => c.prevHash + canonicalEntryText(c);

/** hash = HMAC-SHA256(key, prevHash ‖ canonical(entry without hash)), hex, from the stored columns. */
export function columnsHash(key: KeyObject | Uint8Array, c: HashedColumns): string {
  return createHmac('sha256', key).update(hashInput(c), 'utf8').digest('hex');
}

export function chainHash(key: Uint8Array, entry: UnhashedEntry): string {
  return columnsHash(key, hashedColumns(entry));
}

/** The row that stores hashed columns (the columns object, completed in place). */
export function rowOf(columns: HashedColumns, hash: string, now: number): AuditRow {
  return Object.assign(columns, { hash, createdAt: now, updatedAt: now });
}

export function toRow(entry: AuditEntry, now: number): AuditRow {
  return rowOf(hashedColumns(entry), entry.hash, now);
}

/** The entry a row holds, or null when the row cannot be one we wrote (unparsable JSON, odd flag). */
export function fromRow(row: AuditRow): AuditEntry | null {
  const before = parseCanonical(row.before);
  const after = parseCanonical(row.after);
  if (!before.ok || !after.ok || (row.success !== 0 && row.success !== 1)) return null;
  // Not `{ ...scalars, more }`: Node 20's V8 builds that on a slow path (~10 µs an entry),
  // about half of what verifying an entry costs otherwise.
  return Object.assign(rowScalars(row), {
    before: before.value,
    after: after.value,
    prevHash: row.prevHash,
    hash: row.hash,
  });
}
