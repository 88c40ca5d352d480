import type { AuditState } from './sink.js';

/**
 * `before`/`after` keep only these keys: a whitelist, so a field added to some
 * row later stays out of the log until someone decides it belongs there.
 */
const ALLOWED = new Set([
  'id', 'username', 'role', 'status', 'reason', 'state', 'name', 'note',
  'method', 'route', 'statusCode', 'ip', 'prefix', 'until', 'lockedUntil', 'expiresAt', 'ttlSeconds',
  'userId', 'sessionId', 'sessions', 'agentId', 'machineId', 'tokenId', 'commandId', 'hostname',
  'kid', 'maxUses', 'uses', 'count', 'from', 'to', 'mfa', 'methods', 'action', 'previousIp', 'enabled', 'tags',
  'rule', 'kind', 'severity', 'summary', 'subject', 'trigger',
  'machines', 'requestId', 'scriptSha256', 'exitCode',
]);
/** Belt and braces: even a whitelisted name is dropped if it looks like a credential. */
const CREDENTIAL = /pass(word)?|hash|secret|salt|pepper|cookie|authoriz|credential|private|apikey|sealing/i;
const MAX_STRING = 256;
const MAX_ARRAY = 32;
const MAX_DEPTH = 3;

function clean(value: unknown, depth: number): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string') return value.length > MAX_STRING ? value.slice(0, MAX_STRING) : value;
  if (depth >= MAX_DEPTH) return undefined;
  if (Array.isArray(value)) return value.slice(0, MAX_ARRAY).map((v) => clean(v, depth + 1) ?? null);
  if (typeof value === 'object') return redactState(value as AuditState, depth + 1);
  return undefined;
}

/** The whitelisted, bounded copy of a state object that goes into the chain. */
export function redactState(state: AuditState, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(state)) {
    if (!ALLOWED.has(key) || CREDENTIAL.test(key)) continue;
    const kept = clean(value, depth);
    if (kept !== undefined) out[key] = kept;
  }
  return out;
}
