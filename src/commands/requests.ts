import type { Kysely, Transaction } from 'kysely';
import type { Clock } from '../lib/clock.js';
import { decodeCursor, toPage, type Page } from '../lib/cursor.js';
import { isId, newId } from '../lib/ids.js';
import { canonicalJson } from '../protocol/canonical.js';
import type { CommandSigner } from '../protocol/signing.js';
import type { CommandApprovalsTable, CommandRequestsTable, Database } from '../store/sql/tables.js';
import type { CommandAudit } from './audit.js';
import { checkParams, isAction, riskOf, scriptShaOf } from './catalog.js';
import { commandError } from './errors.js';
import { issueCommands } from './issue.js';
import { parseTarget, resolveTargets, targetText, type Target } from './targets.js';
import { requestView, type Actor, type CommandRequestView } from './view.js';

export interface CommandSettings {
  approvals: number;
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
  approvalWindowSeconds: number;
  maxTargets: number;
}

export interface RequestDeps {
  db: Kysely<Database>;
  clock: Clock;
  signer: CommandSigner;
  audit: CommandAudit;
  settings: CommandSettings;
  /** Told after commands for these agents are queued (delivery marks them). */
  onQueued: (agentIds: string[], expiresAt: number) => Promise<void>;
}

export interface NewRequest {
  action: string;
  params: Record<string, unknown>;
  targets: Target;
  ttlSeconds?: number;
}

export interface ListQuery {
  state?: string;
  machine?: string;
  requester?: string;
  limit?: number;
  cursor?: string;
}

type Decision = 'approved' | 'rejected';
type Outcome = { kind: 'decided'; request: CommandRequestsTable; signed: string[]; approvals: number } | { kind: 'expired'; request: CommandRequestsTable };

/**
 * Command requests: creation, the two-person rule, cancellation and reads.
 * Every decision takes the request's row first, so two admins deciding at
 * once are serialised and a request is signed exactly once.
 */
export class RequestService {
  constructor(private readonly deps: RequestDeps) {}

  async create(actor: Actor, input: NewRequest): Promise<CommandRequestView> {
    const { db, clock, settings } = this.deps;
    if (!isAction(input.action)) throw commandError('invalid_params', { message: `unknown action "${input.action.slice(0, 64)}"` });
    const params = checkParams(input.action, input.params);
    const ttlSeconds = input.ttlSeconds ?? settings.defaultTtlSeconds;
    if (ttlSeconds > settings.maxTtlSeconds) throw commandError('ttl_too_long');
    const machines = await resolveTargets(db, input.targets, { strict: true, max: settings.maxTargets });
    if (machines.length === 0) throw commandError('no_targets');
    const now = clock.nowMs();
    const low = riskOf(input.action) === 'low';
    const row: CommandRequestsTable = {
      id: newId(),
      action: input.action,
      params: canonicalJson(params),
      scriptSha256: scriptShaOf(input.action, params),
      target: targetText(input.targets),
      requestedBy: actor.userId,
      // A low-risk action is approved by its requester at once.
      state: low ? 'approved' : 'pending_approval',
      approvalsRequired: low ? 0 : settings.approvals,
      ttlSeconds,
      approvalExpiresAt: now + settings.approvalWindowSeconds * 1000,
      approvedAt: low ? now : null,
      createdAt: now,
      updatedAt: now,
    };
    const signed = await db.transaction().execute(async (trx) => {
      await trx.insertInto('commandRequests').values(row).execute();
      return low ? (await issueCommands(trx, this.deps.signer, row, machines, now)).map((c) => c.agentId) : [];
    });
    this.audit('command_requested', actor, row, low ? signed : machines, now);
    if (low) await this.signed(actor, row, signed, now);
    return requestView(row, [], actor, now);
  }

  approve(actor: Actor, id: string, comment?: string): Promise<CommandRequestView> {
    return this.decide(actor, id, 'approved', comment);
  }

  reject(actor: Actor, id: string, comment?: string): Promise<CommandRequestView> {
    return this.decide(actor, id, 'rejected', comment);
  }

  private async decide(actor: Actor, id: string, decision: Decision, comment?: string): Promise<CommandRequestView> {
    const now = this.deps.clock.nowMs();
    const outcome = await this.deps.db.transaction().execute(async (trx): Promise<Outcome> => {
      const request = await this.takeRequest(trx, id, now);
      if (request.requestedBy === actor.userId) throw commandError('own_request');
      if (request.state !== 'pending_approval') throw commandError('not_pending');
      if (now >= request.approvalExpiresAt) {
        await trx.updateTable('commandRequests').set({ state: 'expired', updatedAt: now }).where('id', '=', id).execute();
        return { kind: 'expired', request: { ...request, state: 'expired' } };
      }
      const earlier = await trx.selectFrom('commandApprovals').select('decision').where('requestId', '=', id).where('userId', '=', actor.userId).executeTakeFirst();
      if (earlier) throw commandError('already_decided');
      await trx.insertInto('commandApprovals').values({ requestId: id, userId: actor.userId, decision, comment: comment ?? null, at: now }).execute();
      if (decision === 'rejected') {
        await trx.updateTable('commandRequests').set({ state: 'rejected', updatedAt: now }).where('id', '=', id).execute();
        return { kind: 'decided', request: { ...request, state: 'rejected' }, signed: [], approvals: 0 };
      }
      const approvals = await this.approvalCount(trx, id);
      if (approvals < request.approvalsRequired) return { kind: 'decided', request, signed: [], approvals };
      await trx.updateTable('commandRequests').set({ state: 'approved', approvedAt: now, updatedAt: now }).where('id', '=', id).execute();
      const machines = await resolveTargets(trx, parseTarget(request.target), { strict: false, max: this.deps.settings.maxTargets });
      const signed = await issueCommands(trx, this.deps.signer, request, machines, now);
      return { kind: 'decided', request: { ...request, state: 'approved', approvedAt: now }, signed: signed.map((c) => c.agentId), approvals };
    });
    if (outcome.kind === 'expired') {
      this.audit(decision === 'approved' ? 'command_approved' : 'command_rejected', actor, outcome.request, this.listedMachines(outcome.request), now, 'approval_expired');
      throw commandError('approval_expired');
    }
    this.audit(decision === 'approved' ? 'command_approved' : 'command_rejected', actor, outcome.request, this.listedMachines(outcome.request), now, null, { count: outcome.approvals });
    if (outcome.request.state === 'approved') await this.signed(actor, outcome.request, outcome.signed, now);
    return this.show(actor, id);
  }

  async cancel(actor: Actor, id: string): Promise<CommandRequestView> {
    const now = this.deps.clock.nowMs();
    const { request, cancelled } = await this.deps.db.transaction().execute(async (trx) => {
      const request = await this.takeRequest(trx, id, now);
      if (request.requestedBy !== actor.userId && actor.role !== 'admin') throw commandError('forbidden');
      if (request.state !== 'pending_approval' && request.state !== 'approved') throw commandError('not_cancellable');
      // Cancel first, then look: a delivery that ran before us shows up here and undoes the cancel;
      // one that runs after finds nothing queued.
      const result = await trx.updateTable('commands').set({ state: 'cancelled', updatedAt: now }).where('requestId', '=', id).where('state', '=', 'queued').executeTakeFirst();
      const reached = await trx
        .selectFrom('commands')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('requestId', '=', id)
        .where('state', 'not in', ['queued', 'cancelled', 'expired'])
        .executeTakeFirstOrThrow();
      if (Number(reached.n) > 0) throw commandError('already_delivered');
      await trx.updateTable('commandRequests').set({ state: 'cancelled', updatedAt: now }).where('id', '=', id).execute();
      return { request: { ...request, state: 'cancelled' }, cancelled: Number(result.numUpdatedRows) };
    });
    this.audit('command_cancelled', actor, request, this.listedMachines(request), now, null, { count: cancelled });
    return this.show(actor, id);
  }

  async show(actor: Actor, id: string): Promise<CommandRequestView> {
    const row = isId(id) ? await this.deps.db.selectFrom('commandRequests').selectAll().where('id', '=', id).executeTakeFirst() : undefined;
    if (!row) throw commandError('request_not_found');
    const approvals = await this.approvalsOf([id]);
    return requestView(row, approvals.get(id) ?? [], actor, this.deps.clock.nowMs());
  }

  async list(actor: Actor, query: ListQuery): Promise<Page<CommandRequestView>> {
    const limit = query.limit ?? 50;
    const after = decodeCursor(query.cursor);
    if (query.cursor !== undefined && (after === null || !isId(after))) throw commandError('invalid_cursor');
    let q = this.deps.db.selectFrom('commandRequests').selectAll();
    if (query.state) q = q.where('state', '=', query.state);
    if (query.requester) q = q.where('requestedBy', '=', query.requester);
    if (query.machine) {
      const machine = query.machine;
      // Signed requests name the machine in their commands; pending ones only in their target list.
      q = q.where((eb) =>
        eb.or([
          eb.exists(eb.selectFrom('commands').select('commands.id').whereRef('commands.requestId', '=', 'commandRequests.id').where('commands.agentId', '=', machine)),
          eb('target', 'like', `%"${machine}"%`),
        ]),
      );
    }
    if (after) q = q.where('id', '<', after);
    const rows = await q.orderBy('id', 'desc').limit(limit + 1).execute();
    const page = toPage(rows, limit, (r) => r.id);
    const approvals = await this.approvalsOf(page.items.map((r) => r.id));
    const now = this.deps.clock.nowMs();
    return { items: page.items.map((r) => requestView(r, approvals.get(r.id) ?? [], actor, now)), next: page.next };
  }

  /** Locks the request's row for this transaction (PostgreSQL row lock; SQLite has one writer). */
  private async takeRequest(trx: Transaction<Database>, id: string, now: number): Promise<CommandRequestsTable> {
    if (!isId(id)) throw commandError('request_not_found');
    const touched = await trx.updateTable('commandRequests').set({ updatedAt: now }).where('id', '=', id).executeTakeFirst();
    if (Number(touched.numUpdatedRows) === 0) throw commandError('request_not_found');
    return trx.selectFrom('commandRequests').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  }

  private async approvalCount(trx: Transaction<Database>, id: string): Promise<number> {
    const row = await trx
      .selectFrom('commandApprovals')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('requestId', '=', id)
      .where('decision', '=', 'approved')
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  private async approvalsOf(ids: string[]): Promise<Map<string, CommandApprovalsTable[]>> {
    const out = new Map<string, CommandApprovalsTable[]>();
    if (ids.length === 0) return out;
    const rows = await this.deps.db.selectFrom('commandApprovals').selectAll().where('requestId', 'in', ids).orderBy('at').execute();
    for (const row of rows) out.set(row.requestId, [...(out.get(row.requestId) ?? []), row]);
    return out;
  }

  private listedMachines(request: CommandRequestsTable): string[] {
    const target = parseTarget(request.target);
    return 'machines' in target ? target.machines : [];
  }

  private async signed(actor: Actor, request: CommandRequestsTable, machines: string[], now: number): Promise<void> {
    this.audit('command_signed', actor, request, machines, now, null, { count: machines.length });
    if (machines.length > 0) await this.deps.onQueued(machines, now + request.ttlSeconds * 1000);
  }

  private audit(action: string, actor: Actor, request: CommandRequestsTable, machines: string[], now: number, error: string | null = null, extra: Record<string, unknown> = {}): void {
    const target = parseTarget(request.target);
    void this.deps.audit.record({
      action,
      actorType: 'user',
      actorId: actor.userId,
      actorIp: actor.ip,
      resourceType: 'command_request',
      resourceId: request.id,
      after: {
        action: request.action,
        scriptSha256: request.scriptSha256,
        state: request.state,
        machines,
        ...('tag' in target ? { tags: [target.tag] } : {}),
        ...extra,
      },
      success: error === null,
      error,
      at: now,
    });
  }
}
