import type { Kysely } from 'kysely';
import type { Clock } from '../../lib/clock.js';
import { newId } from '../../lib/ids.js';
import { mintToken, parseToken, secretMatches } from '../../lib/secret-token.js';
import type { Kv } from '../../store/kv/kv.js';
import type { Database } from '../../store/sql/tables.js';
import { csrfTokenFor, csrfTokenValid } from '../csrf.js';
import { identityError } from '../errors.js';
import type { EventSink } from '../events.js';
import { SCOPES, type Scope } from '../../protocol/route-policy.js';
import { isRole, type Role } from '../roles.js';
import type { AccessClaims, AccessTokenIssuer } from '../tokens/access-token.js';
import type { UserRow } from '../users/repo.js';
import { usersRepo } from '../users/repo.js';
import { DecoySessions } from './decoy-sessions.js';
import { currentJtiKey, jtiKey, REFRESH_PREFIX, REVOKED, sessionKey, TOUCH_EVERY_MS } from './keys.js';
import { sessionsRepo, type SessionRow } from './repo.js';
import { StepUpProofs } from './step-up.js';
import type { TokenTransport } from './delivery.js';

export { REFRESH_PREFIX } from './keys.js';

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
  /** The API scopes this credential reaches (a route's `policy.scope` must be one); a session holds every scope. */
  scopes: readonly Scope[];
  /** How the access token came: new tokens for this caller go the same way (delivery.ts). */
  via: TokenTransport;
}

/** What this process just revoked: whole sessions, or single access tokens. */
export interface Revocation {
  sessionIds: string[];
  tokenIds: string[];
}

/** A session and the access token a long-lived use of it (an event stream) was authorised with. */
export interface SessionGrant {
  sessionId: string;
  tokenId: string;
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
  /** Recognises and mints decoy session ids (honey accounts); they have no row. */
  decoys?: { isDecoySid(sid: string): boolean; newDecoySid(): string };
}

function principalOf(claims: AccessClaims, decoy: boolean, via: TokenTransport): Principal {
  return {
    userId: claims.sub,
    sessionId: claims.sid,
    jti: claims.jti,
    role: claims.role,
    amr: claims.amr,
    passwordChangeRequired: claims.pcr,
    accessExpiresAt: claims.exp * 1000,
    decoy,
    scopes: SCOPES,
    via,
  };
}

/**
 * Sessions with rotating refresh tokens. The database is the
 * record; the KV holds revocations and last activity so the per-request check
 * is one KV round trip and O(1) in the number of sessions.
 */
export class SessionService {
  private readonly revocationListeners = new Set<(revocation: Revocation) => void>();
  readonly #decoys: DecoySessions;
  readonly stepUp: StepUpProofs;

  constructor(private readonly deps: SessionServiceDeps) {
    this.stepUp = new StepUpProofs({ kv: deps.kv, clock: deps.clock });
    const decoys = deps.decoys;
    this.#decoys = new DecoySessions({
      ...deps,
      newId: () => {
        if (!decoys) throw new Error('decoy sessions need the honey accounts');
        return decoys.newDecoySid();
      },
    });
  }

  #isDecoy(sid: string): boolean {
    return this.deps.decoys?.isDecoySid(sid) ?? false;
  }

  /** Told after every revocation this process makes (after the KV holds it), e.g. to end open streams at once. */
  onRevoked(listener: (revocation: Revocation) => void): () => void {
    this.revocationListeners.add(listener);
    return () => this.revocationListeners.delete(listener);
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
    // A decoy's refresh token has an id from the decoy namespace and lives in the KV; the row lookup above ran all the same.
    if (parsed && !row && this.#isDecoy(parsed.id)) return this.#decoys.refresh(parsed, facts, csrf);
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
   * session, but a decoy session id, kept in the KV only (decoy-sessions.ts).
   */
  issueDecoy(fake: { id: string; role: Role }, sid: string, amr: string[], facts: RequestFacts): Promise<IssuedTokens> {
    return this.#decoys.issue(fake, sid, amr, facts);
  }

  /** What a decoy's own session list shows of its session. */
  decoySession(sid: string) {
    return this.#decoys.info(sid);
  }

  /**
   * The per-request check: signature, expiry, revocation, supersession (a
   * newer access token of the same session) and idle timeout.
   */
  async authenticate(accessToken: string, via: TokenTransport): Promise<Principal> {
    const { kv, clock } = this.deps;
    const claims: AccessClaims = await this.deps.tokens.verify(accessToken);
    const now = clock.nowMs();
    const [jtiState, sessionState, currentJti] = await kv.getMany([jtiKey(claims.jti), sessionKey(claims.sid), currentJtiKey(claims.sid)]);
    if (jtiState !== null || sessionState === REVOKED) throw identityError('unauthorized');
    if (currentJti !== null && currentJti !== claims.jti) throw identityError('unauthorized');
    if (this.#isDecoy(claims.sid)) {
      await this.#decoys.check(claims, sessionState ?? null);
      return principalOf(claims, true, via);
    }

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
    return principalOf(claims, false, via);
  }

  async revoke(sessionId: string, reason: string): Promise<boolean> {
    if (this.#isDecoy(sessionId)) {
      await this.#decoys.revoke(sessionId);
      return true;
    }
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
    this.announce({ sessionIds: [], tokenIds: [jti] });
  }

  /**
   * Whether each grant's session and token still stand: not revoked, not
   * idle. One KV read for the whole batch, as `authenticate` reads per request;
   * the database only for sessions whose cached state has lapsed, which are
   * then cached again (only where absent, so a revocation is never overwritten).
   */
  async stillValid(grants: readonly SessionGrant[]): Promise<boolean[]> {
    const { kv, clock } = this.deps;
    const now = clock.nowMs();
    const idleMs = this.deps.idleTimeoutSeconds * 1000;
    const states = await kv.getMany(grants.flatMap((g) => [jtiKey(g.tokenId), sessionKey(g.sessionId)]));
    const uncached = new Set<string>();
    const cachedVerdicts = grants.map((g, i) => {
      const [jtiState, sessionState] = [states[2 * i] ?? null, states[2 * i + 1] ?? null];
      if (jtiState !== null || sessionState === REVOKED) return false;
      if (sessionState === null) {
        uncached.add(g.sessionId);
        return null;
      }
      return now - Number(sessionState) <= idleMs;
    });
    const fromDb = new Map<string, boolean>();
    for (const row of await sessionsRepo.byIds(this.deps.db, [...uncached])) {
      const live = row.revokedAt === null && row.expiresAt > now && now - row.lastSeenAt <= idleMs;
      fromDb.set(row.id, live);
      if (live) await kv.setIfAbsent(sessionKey(row.id), String(row.lastSeenAt), TOUCH_EVERY_MS);
    }
    return grants.map((g, i) => cachedVerdicts[i] ?? fromDb.get(g.sessionId) ?? false);
  }

  listForUser(userId: string): Promise<SessionRow[]> {
    return sessionsRepo.activeForUser(this.deps.db, userId, this.deps.clock.nowMs());
  }

  private async markRevoked(rows: SessionRow[]): Promise<void> {
    const now = this.deps.clock.nowMs();
    for (const row of rows) {
      await this.deps.kv.set(sessionKey(row.id), REVOKED, Math.max(1000, row.expiresAt - now));
    }
    if (rows.length > 0) this.announce({ sessionIds: rows.map((r) => r.id), tokenIds: [] });
  }

  private announce(revocation: Revocation): void {
    for (const listener of this.revocationListeners) listener(revocation);
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
