import type { Kysely, Selectable } from 'kysely';
import type { Clock } from '../lib/clock.js';
import { decodeCursor, toPage, type Page } from '../lib/cursor.js';
import { isId } from '../lib/ids.js';
import { hashSecret, mintToken, parseToken, secretMatches } from '../lib/secret-token.js';
import type { AgentsTable, Database } from '../store/sql/tables.js';
import { fleetError } from './errors.js';
import type { AgentAuthenticator, AgentPrincipal } from './principal.js';
import { machineStatus, type MachineStatus } from './status.js';

import { AGENT_KEY_PREFIX } from '../protocol/agent-key.js';

export { AGENT_KEY_PREFIX };
const DUMMY_HASH = hashSecret('flotilla-no-such-agent');
const DUMMY_SECRET = 'A'.repeat(43);

export type AgentRow = Selectable<AgentsTable>;

export interface AgentView {
  id: string;
  hostname: string;
  kid: number;
  intervalSeconds: number;
  enrolledAt: number;
  lastSeenAt: number | null;
  lastIp: string | null;
  revokedAt: number | null;
  status: MachineStatus;
}

export interface Rotated {
  agentId: string;
  kid: number;
  /** Only when a new API key was asked for: shown once, the old one stops at once. */
  apiKey?: string;
}

export interface AgentDeps {
  db: Kysely<Database>;
  clock: Clock;
  keyGraceSeconds: number;
}

/**
 * Agents: API-key authentication, revocation, key rotation, decommissioning.
 * The key check reads the agent row by primary key on every request rather
 * than a cache, so a revocation holds at once on every node with nothing to
 * invalidate; the report path reads that row anyway.
 */
export class AgentService implements AgentAuthenticator {
  constructor(private readonly deps: AgentDeps) {}

  async authenticate(apiKey: string | null): Promise<AgentPrincipal> {
    const parsed = apiKey === null ? null : parseToken(AGENT_KEY_PREFIX, apiKey);
    const row = parsed ? await this.byId(parsed.id) : undefined;
    // Unknown agents are compared against a dummy hash, so both paths cost the same.
    const matches = secretMatches(parsed?.secret ?? DUMMY_SECRET, row?.keyHash ?? DUMMY_HASH);
    if (!parsed || !row || !matches || row.revokedAt !== null) throw fleetError('unauthorized');
    return { agentId: row.id, row };
  }

  byId(id: string): Promise<AgentRow | undefined> {
    return this.deps.db.selectFrom('agents').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async list(opts: { limit: number; cursor?: string }): Promise<Page<AgentView>> {
    const after = decodeCursor(opts.cursor);
    if (opts.cursor !== undefined && (after === null || !isId(after))) throw fleetError('invalid_cursor');
    let query = this.deps.db
      .selectFrom('agents as a')
      .innerJoin('machines as m', 'm.id', 'a.id')
      .select(['a.id', 'm.hostname', 'a.kid', 'a.intervalSeconds', 'a.enrolledAt', 'm.lastSeenAt', 'a.lastIp', 'a.revokedAt', 'm.decommissionedAt'])
      .orderBy('a.id')
      .limit(opts.limit + 1);
    if (after !== null) query = query.where('a.id', '>', after);
    const now = this.deps.clock.nowMs();
    const page = toPage(await query.execute(), opts.limit, (row) => row.id);
    return {
      items: page.items.map(({ decommissionedAt, ...row }) => ({ ...row, status: machineStatus({ ...row, decommissionedAt }, now) })),
      next: page.next,
    };
  }

  async get(id: string): Promise<AgentView> {
    const row = await this.deps.db
      .selectFrom('agents as a')
      .innerJoin('machines as m', 'm.id', 'a.id')
      .select(['a.id', 'm.hostname', 'a.kid', 'a.intervalSeconds', 'a.enrolledAt', 'm.lastSeenAt', 'a.lastIp', 'a.revokedAt', 'm.decommissionedAt'])
      .where('a.id', '=', id)
      .executeTakeFirst();
    if (!row) throw fleetError('agent_not_found');
    const { decommissionedAt, ...view } = row;
    return { ...view, status: machineStatus({ ...view, decommissionedAt }, this.deps.clock.nowMs()) };
  }

  /** Refuses the agent's key from now on; idempotent. */
  async revoke(id: string): Promise<AgentView> {
    const now = this.deps.clock.nowMs();
    await this.deps.db.updateTable('agents').set({ revokedAt: now, updatedAt: now }).where('id', '=', id).where('revokedAt', 'is', null).execute();
    return this.get(id);
  }

  /**
   * Bumps the sealing key version. The previous version stays accepted for
   * keyGraceSeconds, and the answer to the agent's next report carries the new
   * key sealed under the old one (docs/protocol.md). A version rotated out twice
   * within the grace is dropped: only one previous version is kept.
   * With `newApiKey`, the API key is replaced too and the old one stops at
   * once; the agent cannot learn a new API key over the wire, so the operator
   * redeploys it.
   */
  async rotate(id: string, opts: { newApiKey: boolean }): Promise<Rotated> {
    const now = this.deps.clock.nowMs();
    const minted = opts.newApiKey ? mintToken(AGENT_KEY_PREFIX, id) : null;
    const updated = await this.deps.db
      .updateTable('agents')
      .set((eb) => ({
        prevKid: eb.ref('kid'),
        prevKidUntil: now + this.deps.keyGraceSeconds * 1000,
        kid: eb('kid', '+', 1),
        ...(minted ? { keyHash: minted.secretHash } : {}),
        updatedAt: now,
      }))
      .where('id', '=', id)
      .where('revokedAt', 'is', null)
      .returning(['id', 'kid'])
      .executeTakeFirst();
    if (!updated) {
      const exists = await this.byId(id);
      throw fleetError(exists ? 'agent_revoked' : 'agent_not_found');
    }
    return { agentId: updated.id, kid: updated.kid, ...(minted ? { apiKey: minted.token } : {}) };
  }

  /** Revokes the agent and marks its machine decommissioned; its history stays until retention. */
  async decommission(id: string): Promise<void> {
    const now = this.deps.clock.nowMs();
    await this.deps.db.transaction().execute(async (trx) => {
      const found = await trx.selectFrom('agents').select('id').where('id', '=', id).executeTakeFirst();
      if (!found) throw fleetError('machine_not_found');
      await trx.updateTable('agents').set({ revokedAt: now, updatedAt: now }).where('id', '=', id).where('revokedAt', 'is', null).execute();
      await trx.updateTable('machines').set({ decommissionedAt: now, updatedAt: now }).where('id', '=', id).where('decommissionedAt', 'is', null).execute();
    });
  }
}
