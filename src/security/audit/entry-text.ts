import type { AuditLogTable } from '../../store/sql/tables.js';
import { canonicalJson } from '../../protocol/canonical.js';

/** The stored columns an entry's hash covers: all but the hash and the row's bookkeeping times. */
export type HashedColumns = Omit<AuditLogTable, 'hash' | 'createdAt' | 'updatedAt'>;

// Nothing that JSON.stringify escapes: a quote, a backslash, a control
// character or a surrogate (paired ones too, to keep the test simple).
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const PLAIN = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

/** A JSON string as RFC 8785 §3.2.2.2 writes it: JSON.stringify's escaping (the canonicalize package calls it too), skipped when there is nothing to escape. */
function str(value: string | null): string {
  if (value === null) return 'null';
  return PLAIN.test(value) ? `"${value}"` : JSON.stringify(value);
}

function num(value: number): string {
  if (!Number.isFinite(value)) throw new TypeError('audit entry: seq and ts must be finite numbers');
  return String(value); // what JSON.stringify and RFC 8785 write for a finite number
}

function flag(success: number): string {
  if (success !== 0 && success !== 1) throw new TypeError('audit entry: success must be 0 or 1');
  return success === 1 ? 'true' : 'false';
}

/**
 * RFC 8785 canonical JSON of the entry without its hash, written straight from
 * its stored columns: keys in UTF-16 order, before/after spliced as their
 * stored canonical text, so nothing is parsed or re-serialized. Appending
 * hashes this text and verification recomputes it, so the two cannot drift;
 * test/security/audit-entry-text.test.ts holds it equal to canonicalize() of
 * the parsed entry.
 */
export function canonicalEntryText(c: HashedColumns): string {
  return (
    `{"action":${str(c.action)},"actorId":${str(c.actorId)},"actorIp":${str(c.actorIp)},"actorType":${str(c.actorType)},` +
    `"after":${c.after ?? 'null'},"before":${c.before ?? 'null'},"error":${str(c.error)},"prevHash":${str(c.prevHash)},` +
    `"resourceId":${str(c.resourceId)},"resourceType":${str(c.resourceType)},"seq":${num(c.seq)},"success":${flag(c.success)},"ts":${num(c.ts)}}`
  );
}

/** The key that follows `after` in the entry text, the only place two spliced texts meet. */
const BEFORE_KEY = ',"before":';

/**
 * Whether stored before/after texts can be spliced unchecked. Every other
 * value in the entry text is a JSON string, null, a number or a boolean,
 * which fixes where `after` begins and `before` ends; only the border between
 * them could move, and then one of the two texts would contain `,"before":`
 * (a copy of the key cannot overlap the key itself: it has no border). So
 * without that substring a matching HMAC fixes both texts byte for byte (a
 * NULL one reads as `null`, as it always has). With it (an object keyed
 * "before", which nothing writes today) they must pass the full check,
 * isCanonicalText.
 */
export function spliceSafe(before: string | null, after: string | null): boolean {
  return !(before?.includes(BEFORE_KEY) ?? false) && !(after?.includes(BEFORE_KEY) ?? false);
}

/** The value stored JSON text holds, if the text is exactly its canonical form (anything else was not written by us). */
export function parseCanonical(text: string | null): { ok: true; value: unknown } | { ok: false } {
  if (text === null) return { ok: true, value: null };
  try {
    const value: unknown = JSON.parse(text);
    return canonicalJson(value) === text ? { ok: true, value } : { ok: false };
  } catch {
    return { ok: false };
  }
}

export const isCanonicalText = (text: string | null): boolean => parseCanonical(text).ok;
