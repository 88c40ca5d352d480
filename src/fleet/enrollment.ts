import type { Kysely, Selectable } from 'kysely';
import type { Clock } from '../lib/clock.js';
import { decodeCursor, toPage, type Page } from '../lib/cursor.js';
import { isId, newId } from '../lib/ids.js';
import { hashSecret, mintToken, parseToken, secretMatches } from '../lib/secret-token.js';
import { toBase64url } from '../protocol/base64url.js';
import type { Database, EnrollmentTokensTable } from '../store/sql/tables.js';
import { AGENT_KEY_PREFIX } from './agents.js';
import { fleetError } from './errors.js';
import type { FleetKeys } from './keys.js';
import { newMachineRow } from './machines.js';
import type { Facts } from '../protocol/report.js';

export const ENROLLMENT_TOKEN_PREFIX = 'fle';
const FIRST_KID = 1;
/** Compared against when the token names no row, so unknown ids cost what known ones do. */
const DUMMY_HASH = hashSecret('flotilla-no-such-enrollment-token');
const DUMMY_SECRET = 'A'.repeat(43);

export type EnrollmentTokenRow = Selectable<EnrollmentTokensTable>;
export type EnrollmentTokenState = 'active' | 'expired' | 'used_up' | 'revoked';

export interface EnrollmentTokenView {
  id: string;
  note: string | null;
  maxUses: number;
  uses: number;
  expiresAt: number;
  revokedAt: number | null;
  createdBy: string | null;
  createdAt: number;
  state: EnrollmentTokenState;
}

export interface Enrolled {
  agentId: string;
  apiKey: string;
  kid: number;
  sealingKey: string;
  commandPublicKey: string;
  intervalSeconds: number;
}

export interface EnrollmentDeps {
  db: Kysely<Database>;
  clock: Clock;
  keys: FleetKeys;
  intervalSeconds: () => number;
}

function stateOf(row: EnrollmentTokenRow, now: number): EnrollmentTokenState {
  if (row.revokedAt !== null) return 'revoked';
  if (row.expiresAt <= now) return 'expired';
  return row.uses >= row.maxUses ? 'used_up' : 'active';
}

/** Enrollment tokens (`fle_<id>_<secret>`, stored hashed) and the enrollment that spends them (docs/protocol.md). */
export class EnrollmentService {
  constructor(private readonly deps: EnrollmentDeps) {}

  async createToken(input: { ttlSeconds: number; maxUses: number; note?: string | null }, createdBy: string | null): Promise<{ id: string; token: string; expiresAt: number; maxUses: number }> {
    const now = this.deps.clock.nowMs();
    const id = newId();
    const minted = mintToken(ENROLLMENT_TOKEN_PREFIX, id);
    const expiresAt = now + input.ttlSeconds * 1000;
    await this.deps.db
      .insertInto('enrollmentTokens')
      .values({ id, secretHash: minted.secretHash, note: input.note ?? null, maxUses: input.maxUses, uses: 0, expiresAt, revokedAt: null, createdBy, createdAt: now, updatedAt: now })
      .execute();
    return { id, token: minted.token, expiresAt, maxUses: input.maxUses };
  }

  /** Newest first; `cursor` is the last id seen. */
  async listTokens(opts: { limit: number; cursor?: string }): Promise<Page<EnrollmentTokenView>> {
    const after = decodeCursor(opts.cursor);
    if (opts.cursor !== undefined && (after === null || !isId(after))) throw fleetError('invalid_cursor');
    let query = this.deps.db.selectFrom('enrollmentTokens').selectAll().orderBy('id', 'desc').limit(opts.limit + 1);
    if (after !== null) query = query.where('id', '<', after);
    const now = this.deps.clock.nowMs();
    const rows = await query.execute();
    const page = toPage(rows, opts.limit, (row) => row.id);
    return {
      items: page.items.map((row) => ({
        id: row.id,
        note: row.note,
        maxUses: row.maxUses,
        uses: row.uses,
        expiresAt: row.expiresAt,
        revokedAt: row.revokedAt,
        createdBy: row.createdBy,
        createdAt: row.createdAt,
        state: stateOf(row, now),
      })),
      next: page.next,
    };
  }

  /** Revokes a token; revoking twice is not an error. */
  async revokeToken(id: string): Promise<void> {
    const now = this.deps.clock.nowMs();
    const row = await this.deps.db.selectFrom('enrollmentTokens').select(['id', 'revokedAt']).where('id', '=', id).executeTakeFirst();
    if (!row) throw fleetError('enrollment_token_not_found');
    if (row.revokedAt !== null) return;
    await this.deps.db.updateTable('enrollmentTokens').set({ revokedAt: now, updatedAt: now }).where('id', '=', id).where('revokedAt', 'is', null).execute();
  }

  /**
   * Spends one use of a token and creates the agent and its machine, all in
   * one transaction. The use is taken by a conditional UPDATE, so concurrent
   * enrollments can never exceed maxUses; the secret is checked first, so
   * knowing a token's id (it is listed to admins) is not enough to burn uses.
   * Unknown, wrong, expired, used-up and revoked tokens get the same answer.
   */
  async enroll(input: { token: string; facts: Facts }, ip: string | null): Promise<Enrolled> {
    const { db, clock, keys } = this.deps;
    const parsed = parseToken(ENROLLMENT_TOKEN_PREFIX, input.token);
    const row = parsed ? await db.selectFrom('enrollmentTokens').select(['id', 'secretHash']).where('id', '=', parsed.id).executeTakeFirst() : undefined;
    const matches = secretMatches(parsed?.secret ?? DUMMY_SECRET, row?.secretHash ?? DUMMY_HASH);
    if (!parsed || !row || !matches) throw fleetError('enrollment_refused');

    const now = clock.nowMs();
    const agentId = newId();
    const apiKey = mintToken(AGENT_KEY_PREFIX, agentId);
    const intervalSeconds = this.deps.intervalSeconds();
    await db.transaction().execute(async (trx) => {
      const claimed = await trx
        .updateTable('enrollmentTokens')
        .set((eb) => ({ uses: eb('uses', '+', 1), updatedAt: now }))
        .where('id', '=', row.id)
        .whereRef('uses', '<', 'maxUses')
        .where('revokedAt', 'is', null)
        .where('expiresAt', '>', now)
        .executeTakeFirst();
      if (Number(claimed.numUpdatedRows) !== 1) throw fleetError('enrollment_refused');
      await trx
        .insertInto('agents')
        .values({
          id: agentId,
          keyHash: apiKey.secretHash,
          kid: FIRST_KID,
          prevKid: null,
          prevKidUntil: null,
          lastSeq: 0,
          lastResultSeq: 0,
          intervalSeconds,
          enrollmentTokenId: row.id,
          enrolledAt: now,
          revokedAt: null,
          lastIp: ip,
          createdAt: now,
          updatedAt: now,
        })
        .execute();
      await trx.insertInto('machines').values(newMachineRow(agentId, input.facts, now)).execute();
    });
    return {
      agentId,
      apiKey: apiKey.token,
      kid: FIRST_KID,
      // Sent this once over TLS; the server re-derives it and never stores it.
      sealingKey: toBase64url(keys.sealingKey(agentId, FIRST_KID)),
      commandPublicKey: keys.commandSigner.publicKeyRaw,
      intervalSeconds,
    };
  }
}
