/** Shapes of the audit and perimeter admin APIs (src/security/routes/schemas.ts, src/perimeter/routes.ts). */

export interface AuditEntry {
  seq: number;
  ts: number;
  actorType: string;
  actorId: string | null;
  actorIp: string | null;
  action: string;
  resourceType: string | null;
  resourceId: string | null;
  before: unknown;
  after: unknown;
  success: boolean;
  error: string | null;
}

export interface VerifyResult {
  ok: boolean;
  count: number;
  firstSeq: number | null;
  lastSeq: number | null;
  head: string | null;
  checkpoints: number;
  broken: { seq: number; reason: string } | null;
}

export interface IpBlock {
  ip: string;
  reason: 'not_found' | 'auth_failures';
  count: number;
  blockedAt: number;
  expiresAt: number;
}
