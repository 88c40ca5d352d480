import type { Kysely } from 'kysely';
import { decodeCursor, toPage } from '../lib/cursor.js';
import { isId } from '../lib/ids.js';
import type { Clock } from '../lib/clock.js';
import type { Database } from '../store/sql/tables.js';
import { commandError } from './errors.js';
import { commandState, emptyProgress, machineResultView, machineStateView } from './view.js';

/** Reads of the commands of a request or a machine. */
export class CommandReads {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
  ) {}

  /** Counts per state and each machine's state (no output: viewers see this). */
  async progress(requestId: string) {
    const rows = await this.db
      .selectFrom('commands')
      .select(['id', 'agentId', 'state', 'expiresAt', 'exitCode', 'startedAt', 'finishedAt', 'reason'])
      .where('requestId', '=', requestId)
      .orderBy('agentId')
      .execute();
    const now = this.clock.nowMs();
    const machines = rows.map((row) => machineStateView(row, now));
    const progress = emptyProgress();
    for (const machine of machines) progress[machine.state] += 1;
    return { progress, machines };
  }

  async results(requestId: string) {
    const rows = await this.db.selectFrom('commands').selectAll().where('requestId', '=', requestId).orderBy('agentId').execute();
    const now = this.clock.nowMs();
    return { items: rows.map((row) => machineResultView(row, now)) };
  }

  /** A machine's commands, newest first: states only. */
  async ofMachine(machineId: string, query: { limit?: number; cursor?: string }) {
    const limit = query.limit ?? 50;
    const after = decodeCursor(query.cursor);
    if (query.cursor !== undefined && (after === null || !isId(after))) throw commandError('invalid_cursor');
    const machine = await this.db.selectFrom('machines').select('id').where('id', '=', machineId).executeTakeFirst();
    if (!machine) throw commandError('machine_not_found');
    let q = this.db
      .selectFrom('commands as c')
      .innerJoin('commandRequests as r', 'r.id', 'c.requestId')
      .select(['c.id', 'c.requestId', 'r.action', 'r.scriptSha256', 'c.state', 'c.issuedAt', 'c.expiresAt', 'c.deliveredAt', 'c.startedAt', 'c.finishedAt', 'c.exitCode', 'c.reason'])
      .where('c.agentId', '=', machineId);
    if (after) q = q.where('c.id', '<', after);
    const rows = await q.orderBy('c.id', 'desc').limit(limit + 1).execute();
    const page = toPage(rows, limit, (r) => r.id);
    const now = this.clock.nowMs();
    return { items: page.items.map(({ id, state, ...rest }) => ({ commandId: id, state: commandState({ state, expiresAt: rest.expiresAt }, now), ...rest })), next: page.next };
  }
}
