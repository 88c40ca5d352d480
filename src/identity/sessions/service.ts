import type { Kysely } from 'kysely';
import type { Clock } from '../../lib/clock.js';
import { newId } from '../../lib/ids.js';
import { mintToken, parseToken, secretMatches } from '../../lib/secret-token.js';
import type { Kv } from '../../store/kv/kv.js';
import type { Database } from '../../store/sql/tables.js';
import { csrfTokenFor, csrfTokenValid } from '../csrf.js';
import { identityError } from '../errors.js';
import type { EventSink } from '../events.js';
import { isRole, type Role } from '../roles.js';
import type { AccessClaims, AccessTokenIssuer } from '../tokens/access-token.js';
import type { UserRow } from '../users/repo.js';
import { usersRepo } from '../users/repo.js';
import { sessionsRepo, type SessionRow } from './repo.js';
import { StepUpProofs } from './step-up.js';

export const REFRESH_PREFIX = 'flr';
/**
 * Activity is written back at most this often per session, and the cached
 * state lives no longer, so a revocation made by another process straight in
 * the database (the CLI on an embedded server) takes effect within a minute.
 */
const TOUCH_EVERY_MS = 60_000;
const REVOKED = 'revoked';

export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  csrfToken: string;
  sessionId: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
  accessExpiresAt: number;
  refreshExpiresAt: number;
}

export interface Principal {
  userId: string;
  sessionId: string;
  jti: string;
  role: Role;
  amr: string[];
  passwordChangeRequired: boolean;
  accessExpiresAt: number;
  /** A honey-account session: sees fabricated data, changes nothing (see honey.ts). */
  decoy: boolean;
}

export interface RequestFacts {
  ip: string | null;
  userAgent: string | null;
}

export interface SessionServiceDeps {
  db: Kysely<Database>;
  kv: Kv;
  clock: Clock;
  tokens: AccessTokenIssuer;
  csrfKey: Uint8Array;
  events: EventSink;
  refreshTtlSeconds: number;
  idleTimeoutSeconds: number;
  /** Recognises decoy session ids (honey accounts); they have no row. */
  decoys?: { isDecoySid(sid: string): boolean };
}

const sessionKey = (sid: string) => `sess:${sid}`;

function principalOf(claims: AccessClaims, decoy: boolean): Principal {
  return {
    userId: claims.sub,
    sessionId: claims.sid,
    jti: claims.jti,
    role: claims.role,
    amr: claims.amr,
    passwordChangeRequired: claims.pcr,
    accessExpiresAt: claims.exp * 1000,
    decoy,
  };
}
const jtiKey = (jti: string) => `jti:${jti}`;
/** The jti of the session's current access token (the cached `accessJti` column). */
const currentJtiKey = (sid: string) => `sess-jti:${sid}`;

/**
 * Sessions with rotating refresh tokens (DESIGN.md §7). The database is the
 * record; the KV holds revocations and last activity so the per-request check
 * is one KV round trip and O(1) in the number of sessions.
 */
export class SessionService {
  readonly stepUp: StepUpProofs;

  constructor(private readonly deps: SessionServiceDeps) {
    this.stepUp = new StepUpProofs({ kv: deps.kv, clock: deps.clock });
  }

  async issue(user: UserRow, amr: string[], facts: RequestFacts): Promise<IssuedTokens> {
    const { db, clock } = this.deps;
    const now = clock.nowMs();
    const session: SessionRow = {
      id: newId(),
      userId: user.id,
      amr: JSON.stringify(amr),
      ip: facts.ip,
      userAgent: facts.userAgent?.slice(0, 512) ?? null,
      createdAt: now,
      updatedAt: now,
      lastSeenAt: now,
      expiresAt: now + this.deps.refreshTtlSeconds * 1000,
      revokedAt: null,
      revokedReason: null,
      accessJti: null,
    };
    await sessionsRepo.insert(db, session);
    const tokens = await this.mint(session, user);
    // The login that made the session is itself a fresh proof of the user.
    await this.stepUp.record(session.id);
    return tokens;
  }

  /**
   * Exchanges a refresh token for a new pair; a reused token revokes its whole
   * family. A token from the browser's cookie comes with `csrf`: the header
   * must match the token's session, checked before the token is spent, so a
   * forged request can neither renew nor burn it.
   */
  async refresh(refreshToken: string, facts: RequestFacts, csrf?: { presented: string | undefined }): Promise<IssuedTokens> {
    const { db, clock, events } = this.deps;
    const now = clock.nowMs();
    const parsed = parseToken(REFRESH_PREFIX, refreshToken);
    const row = parsed ? await sessionsRepo.refreshById(db, parsed.id) : undefined;
    if (!parsed || !row || !secretMatches(parsed.secret, row.tokenHash)) throw identityError('invalid_refresh_token');
    if (csrf && !csrfTokenValid(this.deps.csrfKey, row.sessionId, csrf.presented)) throw identityError('csrf_failed');
    const session = await sessionsRepo.byId(db, row.sessionId);
    if (!session || session.revokedAt !== null || session.expiresAt <= now || row.expiresAt <= now) throw identityError('invalid_refresh_token');

    if (!(await sessionsRepo.claimRefresh(db, row.id, now))) {
      // Someone presented a token that was already exchanged: one of the two holders is a thief.
      await this.revoke(session.id, 'refresh_token_reuse');
      events.emit({ type: 'refresh_token_reused', at: now, actorId: session.userId, actorIp: facts.ip, userId: session.userId, detail: { sessionId: session.id } });
      throw identityError('invalid_refresh_token');
    }
    if (await this.idleExpired(session, now)) {
      await this.revoke(session.id, 'idle');
      throw identityError('session_expired');
    }
    const user = await usersRepo.byId(db, session.userId);
    if (!user || user.status !== 'active') {
      await this.revoke(session.id, 'user_inactive');
      throw identityError('invalid_refresh_token');
    }
    await this.markActive(session, now);
    events.emit({ type: 'token_refreshed', at: now, actorId: user.id, actorIp: facts.ip, userId: user.id });
    return this.mint(session, user);
  }

  /**
   * New tokens for an existing session (after a password change, or with
   * `amr` after the user enrolled a second factor in it); old refresh tokens retire.
   */
  async reissue(sessionId: string, user: UserRow, oldJti: string, oldAccessExpiresAt: number, amr?: string[]): Promise<IssuedTokens> {
    const { db, clock } = this.deps;
    let session = await sessionsRepo.byId(db, sessionId);
    if (!session || session.revokedAt !== null) throw identityError('session_expired');
    if (amr) {
      session = { ...session, amr: JSON.stringify(amr) };
      await sessionsRepo.setAmr(db, sessionId, session.amr, clock.nowMs());
    }
    await sessionsRepo.retireRefreshOfSession(db, sessionId, clock.nowMs());
    await this.revokeAccessToken(oldJti, oldAccessExpiresAt);
    return this.mint(session, user);
  }

  /**
   * Tokens for a honey-account login: real signatures and the shape of a real
   * session, but a decoy session id and no row; the refresh token is never stored.
   */
  async issueDecoy(fake: { id: string; role: Role }, sid: string): Promise<IssuedTokens> {
    const now = this.deps.clock.nowMs();
    const access = await this.deps.tokens.sign({ sub: fake.id, sid, role: fake.role, amr: ['pwd'], pcr: false });
    const refresh = mintToken(REFRESH_PREFIX, newId());
    const refreshExpiresAt = now + this.deps.refreshTtlSeconds * 1000;
    return {
      accessToken: access.token,
      refreshToken: refresh.token,
      csrfToken: csrfTokenFor(this.deps.csrfKey, sid),
      sessionId: sid,
      expiresIn: Math.round((access.expiresAt - now) / 1000),
      accessExpiresAt: access.expiresAt,
      refreshExpiresAt,
    };
  }

  /**
   * The per-request check: signature, expiry, revocation, supersession (a
   * newer access token of the same session) and idle timeout.
   */
  async authenticate(accessToken: string): Promise<Principal> {
    const { kv, clock } = this.deps;
    const claims: AccessClaims = await this.deps.tokens.verify(accessToken);
    const now = clock.nowMs();
    const [jtiState, sessionState, currentJti] = await kv.getMany([jtiKey(claims.jti), sessionKey(claims.sid), currentJtiKey(claims.sid)]);
    if (jtiState !== null || sessionState === REVOKED) throw identityError('unauthorized');
    if (currentJti !== null && currentJti !== claims.jti) throw identityError('unauthorized');
    if (this.deps.decoys?.isDecoySid(claims.sid)) return principalOf(claims, true);

    let lastSeen: number;
    if (sessionState === null) {
      // Not cached (first use, or the in-process KV restarted): the database decides.
      const session = await sessionsRepo.byId(this.deps.db, claims.sid);
      if (!session || session.revokedAt !== null || session.expiresAt <= now) {
        await kv.set(sessionKey(claims.sid), REVOKED, Math.max(1000, (claims.exp * 1000) - now));
        throw identityError('unauthorized');
      }
      if (session.accessJti !== null && session.accessJti !== claims.jti) throw identityError('unauthorized');
      // Only if absent: a refresh racing this read may already have cached a newer jti.
      if (session.accessJti !== null && currentJti === null) await kv.setIfAbsent(currentJtiKey(claims.sid), session.accessJti, session.expiresAt - now);
      lastSeen = session.lastSeenAt;
    } else {
      lastSeen = Number(sessionState);
    }
    if (now - lastSeen > this.deps.idleTimeoutSeconds * 1000) {
      await this.revoke(claims.sid, 'idle');
      throw identityError('session_expired');
    }
    if (sessionState === null || now - lastSeen >= TOUCH_EVERY_MS) {
      await kv.set(sessionKey(claims.sid), String(now), TOUCH_EVERY_MS);
      await sessionsRepo.touch(this.deps.db, claims.sid, now);
    }
    return principalOf(claims, false);
  }

  async revoke(sessionId: string, reason: string): Promise<boolean> {
    const rows = await sessionsRepo.revoke(this.deps.db, { id: sessionId }, this.deps.clock.nowMs(), reason);
    await this.markRevoked(rows);
    return rows.length > 0;
  }

  /** Revokes every live session of a user (role change, suspension, password reset). */
  async revokeAllForUser(userId: string, reason: string, exceptSessionId?: string): Promise<number> {
    const rows = await sessionsRepo.revoke(this.deps.db, { userId, exceptId: exceptSessionId }, this.deps.clock.nowMs(), reason);
    await this.markRevoked(rows);
    return rows.length;
  }

  async revokeAccessToken(jti: string, expiresAt: number): Promise<void> {
    const ttl = expiresAt - this.deps.clock.nowMs();
    if (ttl > 0) await this.deps.kv.set(jtiKey(jti), REVOKED, ttl);
  }

  listForUser(userId: string): Promise<SessionRow[]> {
    return sessionsRepo.activeForUser(this.deps.db, userId, this.deps.clock.nowMs());
  }

  private async markRevoked(rows: SessionRow[]): Promise<void> {
    const now = this.deps.clock.nowMs();
    for (const row of rows) {
      await this.deps.kv.set(sessionKey(row.id), REVOKED, Math.max(1000, row.expiresAt - now));
    }
  }

  private async markActive(session: SessionRow, now: number): Promise<void> {
    await this.deps.kv.set(sessionKey(session.id), String(now), TOUCH_EVERY_MS);
    await sessionsRepo.touch(this.deps.db, session.id, now);
  }

  private async idleExpired(session: SessionRow, now: number): Promise<boolean> {
    const cached = await this.deps.kv.get(sessionKey(session.id));
    const lastSeen = cached !== null && cached !== REVOKED ? Math.max(Number(cached), session.lastSeenAt) : session.lastSeenAt;
    return now - lastSeen > this.deps.idleTimeoutSeconds * 1000;
  }

  private async mint(session: SessionRow, user: UserRow): Promise<IssuedTokens> {
    const { db, clock } = this.deps;
    const now = clock.nowMs();
    if (!isRole(user.role)) throw identityError('unauthorized');
    const access = await this.deps.tokens.sign({
      sub: user.id,
      sid: session.id,
      role: user.role,
      amr: JSON.parse(session.amr) as string[],
      pcr: user.mustChangePassword === 1,
    });
    // From here on only this access token speaks for the session; the one it replaces is refused.
    await sessionsRepo.setAccessJti(db, session.id, access.jti, now);
    await this.deps.kv.set(currentJtiKey(session.id), access.jti, Math.max(1000, session.expiresAt - now));
    const refreshId = newId();
    const refresh = mintToken(REFRESH_PREFIX, refreshId);
    await sessionsRepo.insertRefresh(db, {
      id: refreshId,
      sessionId: session.id,
      tokenHash: refresh.secretHash,
      createdAt: now,
      updatedAt: now,
      expiresAt: session.expiresAt,
      usedAt: null,
    });
    return {
      accessToken: access.token,
      refreshToken: refresh.token,
      csrfToken: csrfTokenFor(this.deps.csrfKey, session.id),
      sessionId: session.id,
      expiresIn: Math.round((access.expiresAt - now) / 1000),
      accessExpiresAt: access.expiresAt,
      refreshExpiresAt: session.expiresAt,
    };
  }
}
