import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Config, Secrets } from '../config/schema.js';
import type { EventBus } from '../identity/events.js';
import type { Clock } from '../lib/clock.js';
import { JobLease } from '../store/kv/lease.js';
import type { EgressGuard } from '../protocol/egress.js';
import type { BlockList } from '../perimeter/scanner.js';
import type { PerimeterEvent, PerimeterStats } from '../perimeter/stats.js';
import type { Kv } from '../store/kv/kv.js';
import type { SqlStore } from '../store/sql/db.js';
import { fanOut, logAlerter, type Alerter } from './alerts/alerter.js';
import type { Channel } from './alerts/channel.js';
import { emailChannel } from './alerts/email.js';
import { backgroundNotifier, type Notifier } from './alerts/notifier.js';
import { pagerDutyChannel } from './alerts/pagerduty.js';
import { slackChannel } from './alerts/slack.js';
import { webhookChannel } from './alerts/webhook.js';
import type { HeadStore } from './audit/head.js';
import { FileHeadStore, headPathOf } from './audit/head-file.js';
import { KvHeadStore } from './audit/head-kv.js';
import { deriveAuditKeys, type AuditKeys } from './audit/keys.js';
import { AuditService } from './audit/service.js';
import type { AuditRecord, AuditSink } from './audit/sink.js';
import { perimeterBlocker, type IpBlocker } from './blocks.js';
import { DetectionEngine, type ResponseHooks } from './detection/engine.js';
import { auditRecordOf } from './identity-events.js';
import { SecurityMetrics, type AgentCounts } from './metrics/metrics.js';
import { SecurityRecorder } from './recorder.js';
import { NullSecurityLog, SecurityLogFile, type SecurityLogSink } from './seclog/file.js';

const RETENTION_EVERY_MS = 6 * 3_600_000;
const RETENTION_LOCK = 'audit:retention';

export interface SecurityLog {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface Security {
  /** The sink other domains record through (audit chain, security log, metrics, detection). */
  recorder: AuditSink;
  audit: AuditService;
  metrics: SecurityMetrics;
  detection: DetectionEngine;
  securityLog: SecurityLogSink;
  alerter: Alerter;
  blocker: IpBlocker;
  /** Periodic checkpoints and retention (server only, never a CLI command). */
  start(): void;
  stop(): Promise<void>;
  close(): Promise<void>;
}

export interface SecurityOptions {
  sql: SqlStore;
  kv: Kv;
  clock: Clock;
  config: Config;
  secrets: Secrets;
  log: SecurityLog;
  /** The perimeter's block list: automatic blocks land there, where the perimeter enforces them. */
  blocks: Pick<BlockList, 'block' | 'isBlocked'>;
  /** The perimeter's egress guard: every notification goes through it. */
  egress: Pick<EgressGuard, 'check'>;
  /** The perimeter's refusals and blocks, turned into metrics and audit entries. */
  perimeterEvents: Pick<PerimeterStats, 'subscribe'>;
  /** Every identity event is recorded; detection acts on identity through `hooks` (session revocation). */
  identity: { events: EventBus; hooks: ResponseHooks };
  /** The fleet's agent counts, read when `flotilla_agents` is scraped. */
  agentCounts: () => Promise<AgentCounts>;
  /** Extra notifiers (tests). */
  alerters?: Alerter[];
}

function securityLogOf(config: Config, log: SecurityLog): SecurityLogSink {
  const { enabled, path, stdout } = config.securityLog;
  if (!enabled) return new NullSecurityLog(stdout);
  return new SecurityLogFile(path ?? join(config.dataDir, 'logs', 'security.log'), {
    stdout,
    ownDir: path === undefined,
    onError: (err) => log.error({ err }, 'security log write failed'),
  });
}

/** The configured channels; every URL and address is checked here, at start-up. */
function channelsOf(opts: SecurityOptions): Channel[] {
  const { config, clock, egress } = opts;
  const { webhookUrl, webhookSecret, webhookTimeoutMs, slackWebhookUrl, pagerduty, email, timeoutMs } = config.alerts;
  const channels: Channel[] = [];
  if (webhookUrl) {
    if (!webhookSecret) throw new Error('alerts.webhookSecret is required with alerts.webhookUrl (it signs every body)');
    channels.push(webhookChannel({ url: webhookUrl, secret: webhookSecret, timeoutMs: webhookTimeoutMs, clock, egress }));
  }
  if (slackWebhookUrl) channels.push(slackChannel({ url: slackWebhookUrl, timeoutMs, egress }));
  if (pagerduty.routingKey) {
    const source = config.server.publicUrl ? new URL(config.server.publicUrl).hostname : hostname();
    channels.push(pagerDutyChannel({ routingKey: pagerduty.routingKey, url: pagerduty.url, source, timeoutMs, egress }));
  }
  if (email) {
    if (email.password && !email.username) throw new Error('alerts.email.password is set without alerts.email.username');
    const { caFile, ...smtp } = email;
    let ca: string | undefined;
    try {
      ca = caFile ? readFileSync(caFile, 'utf8') : undefined;
    } catch (err) {
      throw new Error(`alerts.email.caFile cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
    }
    channels.push(emailChannel({ ...smtp, timeoutMs, egress, ...(ca ? { ca } : {}) }));
  }
  return channels;
}

/**
 * The log always; the configured channels in the background, each outcome
 * audited as `alert_notified` on resource `notification_channel:<name>`.
 */
function alerterOf(opts: SecurityOptions, record: (entry: AuditRecord) => Promise<void>): { alerter: Alerter; notifier: Notifier } {
  const { config, log } = opts;
  const notifier = backgroundNotifier(channelsOf(opts), {
    retry: config.alerts.retry,
    onOutcome: ({ channel, alert, delivered, attempts, reason }) => {
      // Reason codes only: never a URL, key, body or the receiver's answer.
      if (!delivered) log.warn({ channel, kind: alert.kind, attempts, reason }, 'alert not delivered');
      void record({
        action: 'alert_notified',
        actorType: 'system',
        actorId: null,
        resourceType: 'notification_channel',
        resourceId: channel,
        after: { kind: alert.kind, severity: alert.severity, subject: alert.subject, count: attempts },
        success: delivered,
        error: reason,
      });
    },
  });
  const alerters: Alerter[] = [logAlerter(log), ...(opts.alerters ?? []), notifier];
  return { alerter: fanOut(alerters, (err, alert) => log.warn({ err: { message: (err as Error).message }, kind: alert.kind }, 'alert not delivered')), notifier };
}

/**
 * One head every writer advances: the shared Kv when nodes share one (a
 * file per node would let each node's head lag the others' appends), else a
 * file next to the checkpoints, where a CLI command on the data dir reads it.
 */
function headStoreOf(kv: Kv, checkpointPath: string, keys: AuditKeys): HeadStore {
  return kv.shared ? new KvHeadStore(kv, keys) : new FileHeadStore(headPathOf(checkpointPath), keys);
}

export function createSecurity(opts: SecurityOptions): Security {
  const { sql, kv, clock, config, secrets, log } = opts;
  const keys = deriveAuditKeys(secrets.audit);
  const metrics = new SecurityMetrics({ onError: (err) => log.warn({ err }, 'metric update failed'), agents: opts.agentCounts });
  const checkpointPath = config.audit.checkpointFile ?? join(config.dataDir, 'audit-checkpoints.jsonl');
  const audit = new AuditService({
    sql,
    clock,
    keys,
    checkpointPath,
    retentionDays: config.audit.retentionDays,
    head: headStoreOf(kv, checkpointPath, keys),
    onAppendFailure: (err, lost) => {
      metrics.count('flotilla_audit_append_failures_total', {}, lost);
      log.error({ err, lost }, 'audit append failed');
    },
    onHeadFailure: (err) => {
      metrics.count('flotilla_audit_head_failures_total');
      log.error({ err }, 'audit head not advanced');
    },
  });
  // Config checks that can throw come before the log file is opened.
  const { alerter, notifier } = alerterOf(opts, (entry) => recorder.record(entry));
  const blocker = perimeterBlocker(opts.blocks, config.detection.exemptCidrs);
  const securityLog = securityLogOf(config, log);
  // Detection records what it does through the recorder, which feeds it every event: `record` is only called once both exist.
  const detection = new DetectionEngine({ kv, clock, settings: config.detection, blocker, alerter, metrics, hooks: opts.identity.hooks, record: (e): Promise<void> => recorder.record(e), log });
  const recorder = new SecurityRecorder({ audit, securityLog, metrics, detection, clock, log });

  const retentionLease = new JobLease(kv, RETENTION_LOCK, 600_000);
  const timers: Array<ReturnType<typeof setInterval>> = [];
  const recordPerimeterEvent = (event: PerimeterEvent) => {
    if (event.type === 'refused') {
      if (event.reason === 'rate_limited') metrics.count('flotilla_rate_limited_total');
      else metrics.count('flotilla_blocked_requests_total', { reason: event.reason });
    } else if (event.type === 'ip_blocked') {
      void recorder.record({ action: 'ip_blocked', actorType: 'system', actorIp: null, resourceType: 'ip', resourceId: event.subject, after: { trigger: event.trigger, count: event.count, until: event.expiresAt } });
    } else {
      void recorder.record({ action: 'ip_unblocked', actorType: event.by ? 'user' : 'system', actorId: event.by, resourceType: 'ip', resourceId: event.subject });
    }
  };
  const unsubscribes: Array<() => void> = [
    opts.identity.events.subscribe((event) => void recorder.record(auditRecordOf(event))),
    opts.perimeterEvents.subscribe(recordPerimeterEvent),
  ];
  const checkpoint = () => audit.checkpoint().catch((err: unknown) => log.warn({ err }, 'audit checkpoint failed'));
  const retention = async () => {
    // One node prunes at a time; the chain lock keeps it consistent anyway.
    await retentionLease.run(async () => void (await audit.applyRetention()));
  };
  let started = false;
  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      for (const timer of timers.splice(0)) clearInterval(timer);
      for (const unsubscribe of unsubscribes.splice(0)) unsubscribe();
      // Outcomes of deliveries still running are audited before the last flush.
      await notifier.close();
      await audit.flush();
      // A server's last checkpoint at shutdown, so a tail cut while it was down shows. CLI commands never write one.
      if (started) await checkpoint();
    })();
    return stopped;
  };

  return {
    recorder,
    audit,
    metrics,
    detection,
    securityLog,
    alerter,
    blocker,
    start() {
      if (started) return;
      started = true;
      const every = (ms: number, job: () => Promise<unknown>) => {
        const timer = setInterval(() => void job().catch((err: unknown) => log.warn({ err }, 'audit job failed')), ms);
        timer.unref();
        timers.push(timer);
      };
      void audit
        .adoptHead()
        .then(({ started, seq }) => {
          if (started) log.warn({ seq }, 'audit chain had no signed head: started one at the end of the database');
        })
        .catch((err: unknown) => log.warn({ err }, 'audit head adoption failed'));
      every(config.audit.checkpointIntervalSeconds * 1000, checkpoint);
      every(RETENTION_EVERY_MS, retention);
      void retention().catch((err: unknown) => log.warn({ err }, 'audit retention failed'));
    },
    stop,
    async close() {
      await stop();
      securityLog.close();
    },
  };
}
