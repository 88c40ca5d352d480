import type { Kysely } from 'kysely';
import type { Clock } from '../lib/clock.js';
import type { SignedCommand } from '../protocol/signing.js';
import type { Kv } from '../store/kv/kv.js';
import type { Database } from '../store/sql/tables.js';
import type { CommandAudit } from './audit.js';

export interface DeliveryLog {
  warn(obj: object, msg: string): void;
}

export interface DeliveryDeps {
  db: Kysely<Database>;
  kv: Kv;
  clock: Clock;
  audit: CommandAudit;
  log: DeliveryLog;
}

const flagKey = (agentId: string) => `commands:pending:${agentId}`;
/** At most this many commands ride in one answer; the rest wait for the next report. */
const MAX_PER_ANSWER = 20;
const FLAG_MARGIN_MS = 3_600_000;

/**
 * Hands agents their queued commands. Reports arrive every few seconds from
 * every machine, so the database is read only for an agent flagged in the Kv
 * as having something queued (set when its commands are signed, until the
 * newest expires); every other report costs one Kv read.
 */
export class CommandDelivery {
  constructor(private readonly deps: DeliveryDeps) {}

  async markQueued(agentIds: string[], expiresAt: number): Promise<void> {
    // Kept past the expiry, so the agent's next report also turns what expired unseen into `expired`.
    const ttlMs = Math.max(1, expiresAt - this.deps.clock.nowMs()) + FLAG_MARGIN_MS;
    await Promise.all(agentIds.map((id) => this.deps.kv.set(flagKey(id), '1', ttlMs))).catch((err: unknown) => {
      this.deps.log.warn({ err: { message: (err as Error).message } }, 'command delivery flag not set');
    });
  }

  /** Re-flags agents with queued commands (the in-process Kv starts empty). */
  async restoreFlags(): Promise<void> {
    const rows = await this.deps.db
      .selectFrom('commands')
      .select(['agentId', (eb) => eb.fn.max('expiresAt').as('until')])
      .where('state', '=', 'queued')
      .groupBy('agentId')
      .execute();
    for (const row of rows) await this.markQueued([row.agentId], Number(row.until));
  }

  /**
   * The agent's queued, unexpired commands, marked delivered; expired ones
   * become `expired` and are never handed out. The one entry point for every
   * delivery path (report answers and the agent channel, src/fleet/agent-channels.ts).
   */
  async pendingFor(agentId: string): Promise<SignedCommand[]> {
    const { db, kv, clock } = this.deps;
    let flagged = true;
    try {
      flagged = (await kv.get(flagKey(agentId))) !== null;
    } catch (err) {
      // Without the Kv, read the database: a slower report beats a command that never arrives.
      this.deps.log.warn({ err: { message: (err as Error).message } }, 'command delivery flag unreadable');
    }
    if (!flagged) return [];
    const now = clock.nowMs();
    const expired = await db
      .updateTable('commands')
      .set({ state: 'expired', updatedAt: now })
      .where('agentId', '=', agentId)
      .where('state', '=', 'queued')
      .where('expiresAt', '<=', now)
      .returning(['id', 'requestId'])
      .execute();
    const queued = await db.selectFrom('commands').select('id').where('agentId', '=', agentId).where('state', '=', 'queued').orderBy('id').limit(MAX_PER_ANSWER).execute();
    // Only rows still queued at this moment are handed out, so a cancel that won the race keeps its command.
    const delivered =
      queued.length === 0
        ? []
        : await db
            .updateTable('commands')
            .set({ state: 'delivered', deliveredAt: now, updatedAt: now })
            .where('id', 'in', queued.map((r) => r.id))
            .where('state', '=', 'queued')
            .returning(['id', 'requestId', 'signed'])
            .execute();
    for (const row of expired) this.record('command_expired', agentId, row, now);
    const commands: SignedCommand[] = [];
    for (const row of delivered) {
      if (row.signed === null) continue;
      const cmd = JSON.parse(row.signed) as SignedCommand;
      commands.push(cmd);
      this.record('command_delivered', agentId, row, now, cmd);
    }
    return commands;
  }

  private record(action: string, agentId: string, row: { id: string; requestId: string }, now: number, cmd?: SignedCommand): void {
    const scriptSha256 = typeof cmd?.params.sha256 === 'string' ? cmd.params.sha256 : null;
    void this.deps.audit.record({
      action,
      actorType: 'system',
      actorId: null,
      resourceType: 'command',
      resourceId: row.id,
      after: { requestId: row.requestId, machines: [agentId], ...(cmd ? { action: cmd.action, scriptSha256 } : {}) },
      at: now,
    });
  }
}
