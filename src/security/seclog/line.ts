/**
 * The security log's line format: a UTC timestamp, `flotilla`,
 * then `key=value` fields, `event` and `client_ip` always first so a fail2ban
 * filter can anchor on them:
 *
 *   2026-11-26T12:00:00Z flotilla event=login_failed client_ip=203.0.113.9 user=bob action=login success=false reason=bad_credentials
 *
 * Values a client controls (a username) are escaped so they can never end the
 * line or start a field of their own: anything beyond a plain token is quoted,
 * with `"` `\` and every control character escaped.
 */
export type FieldValue = string | number | boolean | null | undefined;

/** Characters that may stand unquoted: never a space, `=`, quote, backslash or control character. */
const BARE = /^[A-Za-z0-9._:/@+-]+$/;

export function escapeValue(value: string): string {
  if (BARE.test(value)) return value;
  let out = '"';
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    // C0, DEL, C1 and the Unicode line/paragraph separators.
    else if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** Keys are ours, but checked anyway: a bad key is a bug, not input. */
const KEY = /^[a-z][a-z0-9_]{0,39}$/;

export function securityLine(at: number, fields: ReadonlyArray<readonly [string, FieldValue]>): string {
  const time = new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const parts = [time, 'flotilla'];
  for (const [key, value] of fields) {
    if (!KEY.test(key)) throw new Error(`security log: bad field name ${key}`);
    if (value === undefined) continue;
    parts.push(`${key}=${value === null ? '-' : escapeValue(String(value))}`);
  }
  return parts.join(' ');
}
