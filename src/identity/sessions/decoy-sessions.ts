/**
 * Decoy (honey-account) sessions behave like real ones: the same idle
 * timeout and lifetime, rotating single-use refresh tokens, a reused refresh
 * token ending the session, logout ending it. Their state lives in the KV
 * only (no row anywhere), under the same session key a real session's
 * activity uses, so the per-request check stays one KV round trip.
 */
import type { Clock } from '../../lib/clock.js';
import { mintToken, secretMatches, type ParsedToken } from '../../lib/secret-token.js';
import type { Kv } from '../../store/kv/kv.js';
import { csrfTokenFor, csrfTokenValid } from '../csrf.js';
import { identityError } from '../errors.js';
import type { EventSink } from '../events.js';
import type { Role } from '../roles.js';
import type { AccessClaims, AccessTokenIssuer } from '../tokens/access-token.js';
import type { DecoySessionInfo } from '../decoy/reads.js';
import { currentJtiKey, REFRESH_PREFIX, REVOKED, sessionKey, TOUCH_EVERY_MS } from './keys.js';

const refreshKey = (id: string) => `decoy:refresh:${id}`;
const refreshUsedKey = (id: string) => `decoy:refresh-used:${id}`;

export interface DecoySessionDeps {
  kv: Kv;
  clock: Clock;
  tokens: AccessTokenIssuer;
  csrfKey: Uint8Array;
  events: EventSink;
  refreshTtlSeconds: number;
  idleTimeoutSeconds: number;
  /** A fresh id in the decoy namespace (honey.ts). */
  newId(): string;
}

/** The KV record of a decoy session: what a real session keeps in its row. */
interface DecoyRecord {
  sub: string;
  role: Role;
  amr: string[];
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  ip: string | null;
  userAgent: string | null;
}

interface RefreshRecord {
  sid: string;
  hash: string;
}

export interface DecoyTokens {
  accessToken: string;
  refreshToken: string;
  csrfToken: string;
  sessionId: string;
  expiresIn: number;
  accessExpiresAt: number;
  refreshExpiresAt: number;
}

function parseRecord(raw: string | null): DecoyRecord | null {
  if (raw === null || raw === REVOKED) return null;
  try {
    const record = JSON.parse(raw) as DecoyRecord;
    return typeof record.sub === 'string' && typeof record.lastSeenAt === 'number' ? record : null;
  } catch {
    return null;
  }
}

export class DecoySessions {
  constructor(private readonly deps: DecoySessionDeps) {}

  async issue(fake: { id: string; role: Role }, sid: string, amr: string[], facts: { ip: string | null; userAgent: string | null }): Promise<DecoyTokens> {
    const now = this.deps.clock.nowMs();
    const record: DecoyRecord = {
      sub: fake.id,
      role: fake.role,
      amr,
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + this.deps.refreshTtlSeconds * 1000,
      ip: facts.ip,
      userAgent: facts.userAgent?.slice(0, 512) ?? null,
    };
    await this.#store(sid, record, now);
    return this.#mint(sid, record, now);
  }

  /** The per-request check for a decoy sid, given its session key's value (already read with the jti). */
  async check(claims: AccessClaims, sessionState: string | null): Promise<void> {
    const now = this.deps.clock.nowMs();
    const record = parseRecord(sessionState);
    if (!record || record.expiresAt <= now) throw identityError('unauthorized');
    if (now - record.lastSeenAt > this.deps.idleTimeoutSeconds * 1000) {
      await this.revoke(claims.sid);
      throw identityError('session_expired');
    }
    if (now - record.lastSeenAt >= TOUCH_EVERY_MS) await this.#store(claims.sid, { ...record, lastSeenAt: now }, now);
  }

  /** A refresh token from the decoy namespace: rotated and single use, like a real one. */
  async refresh(parsed: ParsedToken, facts: { ip: string | null; userAgent: string | null }, csrf?: { presented: string | undefined }): Promise<DecoyTokens> {
    const { kv, clock, events } = this.deps;
    const now = clock.nowMs();
    let stored: RefreshRecord | null = null;
    try {
      stored = JSON.parse((await kv.get(refreshKey(parsed.id))) ?? 'null') as RefreshRecord | null;
    } catch {
      stored = null;
    }
    if (!stored || !secretMatches(parsed.secret, stored.hash)) throw identityError('invalid_refresh_token');
    if (csrf && !csrfTokenValid(this.deps.csrfKey, stored.sid, csrf.presented)) throw identityError('csrf_failed');
    const record = parseRecord(await kv.get(sessionKey(stored.sid)));
    if (!record || record.expiresAt <= now) throw identityError('invalid_refresh_token');
    const hit = (reason: string) =>
      events.emit({ type: 'honey_hit', at: now, actorId: null, actorIp: facts.ip, userId: null, reason, detail: { userAgent: facts.userAgent, sessionId: stored.sid } });
    if (!(await kv.setIfAbsent(refreshUsedKey(parsed.id), '1', Math.max(1000, record.expiresAt - now)))) {
      await this.revoke(stored.sid);
      hit('honey_refresh_token_reused');
      throw identityError('invalid_refresh_token');
    }
    if (now - record.lastSeenAt > this.deps.idleTimeoutSeconds * 1000) {
      await this.revoke(stored.sid);
      throw identityError('session_expired');
    }
    const active = { ...record, lastSeenAt: now };
    await this.#store(stored.sid, active, now);
    hit('honey_token_refreshed');
    return this.#mint(stored.sid, active, now);
  }

  async revoke(sid: string): Promise<void> {
    await this.deps.kv.set(sessionKey(sid), REVOKED, this.deps.refreshTtlSeconds * 1000);
  }

  /** What `/api/me/sessions` shows of this session; null once it is over. */
  async info(sid: string): Promise<DecoySessionInfo | null> {
    const record = parseRecord(await this.deps.kv.get(sessionKey(sid)));
    if (!record) return null;
    const now = this.deps.clock.nowMs();
    if (record.expiresAt <= now || now - record.lastSeenAt > this.deps.idleTimeoutSeconds * 1000) return null;
    return { createdAt: record.createdAt, lastSeenAt: record.lastSeenAt, expiresAt: record.expiresAt, ip: record.ip, userAgent: record.userAgent, amr: record.amr };
  }

  async #store(sid: string, record: DecoyRecord, now: number): Promise<void> {
    await this.deps.kv.set(sessionKey(sid), JSON.stringify(record), Math.max(1000, record.expiresAt - now));
  }

  async #mint(sid: string, record: DecoyRecord, now: number): Promise<DecoyTokens> {
    const access = await this.deps.tokens.sign({ sub: record.sub, sid, role: record.role, amr: record.amr, pcr: false });
    const refreshId = this.deps.newId();
    const refresh = mintToken(REFRESH_PREFIX, refreshId);
    const stored: RefreshRecord = { sid, hash: refresh.secretHash };
    await this.deps.kv.set(refreshKey(refreshId), JSON.stringify(stored), Math.max(1000, record.expiresAt - now));
    // As for a real session, only the newest access token is accepted.
    await this.deps.kv.set(currentJtiKey(sid), access.jti, Math.max(1000, record.expiresAt - now));
    return {
      accessToken: access.token,
      refreshToken: refresh.token,
      csrfToken: csrfTokenFor(this.deps.csrfKey, sid),
      sessionId: sid,
      expiresIn: Math.round((access.expiresAt - now) / 1000),
      accessExpiresAt: access.expiresAt,
      refreshExpiresAt: record.expiresAt,
    };
  }
}
