import type { Clock } from '../../lib/clock.js';
import type { Kv } from '../../store/kv/kv.js';
import type { Alerter } from '../alerts/alerter.js';
import type { AuditRecord } from '../audit/sink.js';
import type { IpBlocker } from '../blocks.js';
import type { SecurityMetrics } from '../metrics/metrics.js';
import { DETECTION_RULES, type DetectionRule } from './rules.js';

export interface DetectionSettings {
  ipFailureLimit: number;
  ipFailureWindowSeconds: number;
  blockTtlSeconds: number;
  honeyBlockTtlSeconds: number;
  agentIpWindowSeconds: number;
  alertDedupSeconds: number;
}

/** What the engine can do in other domains; wired in server/services.ts. */
export interface ResponseHooks {
  /** Revokes every live session of the user; returns how many. */
  revokeUserSessions(userId: string, reason: string): Promise<number>;
}

export interface DetectionDeps {
  kv: Kv;
  clock: Clock;
  settings: DetectionSettings;
  blocker: IpBlocker;
  alerter: Alerter;
  metrics: SecurityMetrics;
  hooks: ResponseHooks;
  /** Records what the engine did (audit, security log): the same pipeline as every event. */
  record(entry: AuditRecord): Promise<void>;
  log: { warn(obj: object, msg: string): void };
}

const SYSTEM = { actorType: 'system' as const, actorId: null };

/**
 * Runs the rules table against each recorded event. Counters and de-duplication
 * live in the Kv, so in cluster mode thresholds count across nodes and an
 * action fires once, whichever node saw the event.
 */
export class DetectionEngine {
  constructor(private readonly deps: DetectionDeps) {}

  /** Never throws: a failed response is logged and the event stays recorded. */
  async handle(event: AuditRecord): Promise<void> {
    for (const rule of DETECTION_RULES) {
      if (!rule.on.includes(event.action)) continue;
      try {
        const count = await this.exceeded(rule, event);
        if (count === null) continue;
        await this.respond(rule, event, count);
      } catch (err) {
        this.deps.log.warn({ err, rule: rule.name }, 'detection response failed');
      }
    }
  }

  /**
   * An agent's API key from an IP other than the one it used within the
   * window. Get-then-set is fine here: a race only delays one alert.
   */
  async agentSeen(agentId: string, ip: string): Promise<void> {
    const { kv, settings } = this.deps;
    const key = `sec:agent-ip:${agentId}`;
    try {
      const previous = await kv.get(key);
      await kv.set(key, ip, settings.agentIpWindowSeconds * 1000);
      if (previous !== null && previous !== ip) {
        await this.deps.record({ ...SYSTEM, action: 'agent_ip_changed', actorType: 'agent', actorId: agentId, actorIp: ip, resourceType: 'agent', resourceId: agentId, after: { ip, previousIp: previous } });
      }
    } catch (err) {
      this.deps.log.warn({ err }, 'agent address check failed');
    }
  }

  /** null when the rule's condition is not met; else the count that met it (1 without a threshold). */
  private async exceeded(rule: DetectionRule, event: AuditRecord): Promise<number | null> {
    if (rule.threshold !== 'ip_failures') return 1;
    if (!event.actorIp) return null;
    const { kv, clock, settings } = this.deps;
    // Records up to limit + 1 hits, so the log stays bounded however long an attack runs.
    const hit = await kv.hitWindow(`sec:fail:ip:${event.actorIp}`, settings.ipFailureWindowSeconds * 1000, settings.ipFailureLimit + 1, clock.nowMs());
    return hit.count > settings.ipFailureLimit ? hit.count : null;
  }

  private async respond(rule: DetectionRule, event: AuditRecord, count: number): Promise<void> {
    const { settings, metrics } = this.deps;
    let acted = false;
    for (const action of rule.actions) {
      if (action === 'block_ip' && event.actorIp) {
        const ttlSeconds = rule.name === 'honey_account' ? settings.honeyBlockTtlSeconds : settings.blockTtlSeconds;
        if (await this.deps.blocker.blockIp(event.actorIp, ttlSeconds * 1000, count)) {
          acted = true;
          metrics.count('flotilla_security_actions_total', { action });
          await this.deps.record({ ...SYSTEM, action: 'ip_blocked', actorIp: event.actorIp, resourceType: 'ip', resourceId: event.actorIp, after: { rule: rule.name, count, ttlSeconds } });
        }
      } else if (action === 'revoke_user_sessions' && event.resourceType === 'user' && event.resourceId) {
        const revoked = await this.deps.hooks.revokeUserSessions(event.resourceId, rule.name);
        acted = true;
        metrics.count('flotilla_security_actions_total', { action });
        await this.deps.record({ ...SYSTEM, action: 'sessions_revoked', actorIp: event.actorIp ?? null, resourceType: 'user', resourceId: event.resourceId, after: { rule: rule.name, count: revoked } });
      } else if (action === 'alert' && (acted || !rule.alertOnlyOnBlock)) {
        await this.alert(rule, event);
      }
    }
  }

  private async alert(rule: DetectionRule, event: AuditRecord): Promise<void> {
    const { kv, clock, settings } = this.deps;
    const subject = rule.name === 'agent_key_second_ip' || rule.name === 'refresh_token_reuse' || rule.name === 'account_suspended' ? (event.resourceId ?? null) : (event.actorIp ?? null);
    const fresh = await kv.setIfAbsent(`sec:alert:${rule.name}:${subject ?? '-'}`, '1', settings.alertDedupSeconds * 1000);
    if (!fresh) return;
    const at = clock.nowMs();
    const detail = { action: event.action, ip: event.actorIp ?? null, ...(event.resourceId ? { resource: `${event.resourceType ?? ''}:${event.resourceId}` } : {}) };
    this.deps.metrics.count('flotilla_security_actions_total', { action: 'alert' });
    await this.deps.record({ ...SYSTEM, action: 'alert_raised', actorIp: event.actorIp ?? null, resourceType: event.resourceType ?? null, resourceId: event.resourceId ?? null, after: { rule: rule.name, severity: rule.severity, summary: rule.summary } });
    await this.deps.alerter.send({ kind: rule.name, severity: rule.severity, summary: rule.summary, at, subject, detail });
  }
}
