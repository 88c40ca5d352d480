/**
 * What a domain needs to put something on the audit record. Fleet (enrollment,
 * agent revocation), the perimeter (blocks) and anything else depend on this
 * interface only; server/services.ts hands them the real one.
 */
export type ActorType = 'user' | 'agent' | 'system' | 'anonymous';

/** A JSON value of whitelisted state; see audit/redact.ts for what is kept. */
export type AuditState = Readonly<Record<string, unknown>>;

export interface AuditRecord {
  /** snake_case verb, e.g. `agent_revoked`, `ip_blocked`. */
  action: string;
  /** Default: `user` with an actorId, `anonymous` with only an IP, else `system`. */
  actorType?: ActorType;
  actorId?: string | null;
  actorIp?: string | null;
  resourceType?: string | null;
  resourceId?: string | null;
  /** State before/after the change. Only whitelisted keys are kept; secrets and hashes never are. */
  before?: AuditState | null;
  after?: AuditState | null;
  /** Default true. */
  success?: boolean;
  /** A short reason code for a failure, e.g. `bad_credentials`. */
  error?: string | null;
  /** When it happened (ms); default now. */
  at?: number;
  /** A username to show in the security log (e.g. the one presented at login). Not stored in the chain as such. */
  username?: string | null;
}

export interface AuditSink {
  /**
   * Appends in the background. The promise settles once the entry is durable
   * (or the failure was logged); it never rejects, so callers may ignore it.
   */
  record(entry: AuditRecord): Promise<void>;
}
