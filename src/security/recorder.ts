import type { Clock } from '../lib/clock.js';
import { normalizeIp } from '../protocol/ip.js';
import type { PendingEntry } from './audit/chain.js';
import { redactState } from './audit/redact.js';
import type { AuditService } from './audit/service.js';
import type { ActorType, AuditRecord, AuditSink } from './audit/sink.js';
import type { DetectionEngine } from './detection/engine.js';
import type { SecurityMetrics } from './metrics/metrics.js';
import { securityLine, type FieldValue } from './seclog/line.js';
import type { SecurityLogSink } from './seclog/file.js';

const ACTION = /^[a-z][a-z0-9_.]{0,63}$/;
const MAX_TEXT = 256;

const clip = (value: string | null | undefined): string | null => (value === undefined || value === null ? null : value.slice(0, MAX_TEXT));

function actorTypeOf(entry: AuditRecord): ActorType {
  if (entry.actorType) return entry.actorType;
  if (entry.actorId) return 'user';
  return entry.actorIp ? 'anonymous' : 'system';
}

/** Bounded, whitelisted, normalized: what is hashed into the chain. */
export function prepareEntry(entry: AuditRecord, now: number): PendingEntry {
  if (!ACTION.test(entry.action)) throw new Error(`audit: "${entry.action.slice(0, 70)}" is not an action name`);
  const ip = entry.actorIp ? (normalizeIp(entry.actorIp) ?? clip(entry.actorIp)) : null;
  return {
    ts: entry.at ?? now,
    actorType: actorTypeOf(entry),
    actorId: clip(entry.actorId),
    actorIp: ip,
    action: entry.action,
    resourceType: clip(entry.resourceType),
    resourceId: clip(entry.resourceId),
    before: entry.before ? redactState(entry.before) : null,
    after: entry.after ? redactState(entry.after) : null,
    success: entry.success ?? true,
    error: clip(entry.error),
  };
}

/** `event` and `client_ip` first, always: the fail2ban filter anchors on them. */
function logFields(entry: PendingEntry, username: string | null | undefined): Array<[string, FieldValue]> {
  return [
    ['event', entry.action],
    ['client_ip', entry.actorIp],
    ['user', username ? username.slice(0, 64) : undefined],
    ['action', entry.action.split(/[_.]/)[0]],
    ['success', entry.success],
    ['reason', entry.error ?? undefined],
    ['actor', entry.actorId ?? undefined],
    ['resource', entry.resourceType && entry.resourceId ? `${entry.resourceType}:${entry.resourceId}` : undefined],
  ];
}

export interface RecorderDeps {
  audit: AuditService;
  securityLog: SecurityLogSink;
  metrics: SecurityMetrics;
  detection: DetectionEngine;
  clock: Clock;
  log: { error(obj: object, msg: string): void };
}

/**
 * The one pipeline every security event goes through, whichever domain it
 * comes from: a security-log line and the metric at once (synchronous, cheap),
 * then detection and the audit append in the background. The returned promise
 * settles when the entry is durable and never rejects.
 */
export class SecurityRecorder implements AuditSink {
  constructor(private readonly deps: RecorderDeps) {}

  record(entry: AuditRecord): Promise<void> {
    const { clock, securityLog, metrics, detection, log } = this.deps;
    let pending: PendingEntry;
    try {
      pending = prepareEntry(entry, clock.nowMs());
      securityLog.write(securityLine(pending.ts, logFields(pending, entry.username)));
    } catch (err) {
      log.error({ err }, 'security event not recorded');
      return Promise.resolve();
    }
    if (pending.action === 'login_failed') metrics.count('flotilla_failed_logins_total');
    if (pending.action === 'honey_hit') metrics.count('flotilla_honey_token_triggered_total');
    void detection.handle({ ...entry, actorIp: pending.actorIp, resourceType: pending.resourceType, resourceId: pending.resourceId });
    return this.deps.audit.append(pending);
  }
}
