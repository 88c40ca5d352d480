import type { IdentityEvent } from '../identity/events.js';
import type { AuditRecord, AuditState } from './audit/sink.js';

/** Identity events that record an attempt that failed (the rest record something that was done). */
const FAILED_ATTEMPTS = new Set(['login_failed', 'refresh_token_reused', 'honey_hit']);

/** `role/status`, as user_updated reports it, back into fields. */
function roleStatus(text: string | number | boolean | null | undefined): AuditState | null {
  if (typeof text !== 'string') return null;
  const [role, status] = text.split('/');
  return { role: role ?? null, status: status ?? null };
}

/** One identity event as an audit record; which fields survive is redact.ts's whitelist. */
export function auditRecordOf(event: IdentityEvent): AuditRecord {
  const detail = event.detail ?? {};
  const about = event.userId ?? null;
  let before: AuditState | null = null;
  let after: AuditState | null = Object.keys(detail).length > 0 ? { ...detail } : null;
  if (event.type === 'user_updated') {
    before = roleStatus(detail.before);
    after = roleStatus(detail.after);
  } else if (event.type === 'user_deleted') {
    before = { ...detail };
    after = null;
  }
  if (event.username && !about) after = { ...after, username: event.username };
  const failed = FAILED_ATTEMPTS.has(event.type);
  return {
    action: event.type,
    at: event.at,
    actorId: event.actorId,
    actorIp: event.actorIp,
    resourceType: about || event.username ? 'user' : null,
    resourceId: about,
    before,
    after,
    success: !failed,
    error: failed ? (event.reason ?? event.type) : (event.reason ?? null),
    username: event.username ?? null,
  };
}
