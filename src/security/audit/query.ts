import type { Kysely, SelectQueryBuilder } from 'kysely';
import type { Database } from '../../store/sql/tables.js';
import type { AuditRow } from './entry.js';
import { keysetBatches } from '../../store/sql/keyset.js';

export interface AuditFilter {
  actorId?: string;
  actorIp?: string;
  /** One action, or any of several (security events). */
  action?: string | readonly string[];
  resourceType?: string;
  resourceId?: string;
  success?: boolean;
  /** Inclusive bounds on ts, ms. */
  from?: number;
  to?: number;
}

type AuditQuery = SelectQueryBuilder<Database, 'auditLog', AuditRow>;

function filtered(db: Kysely<Database>, f: AuditFilter): AuditQuery {
  let q = db.selectFrom('auditLog').selectAll() as AuditQuery;
  if (f.actorId !== undefined) q = q.where('actorId', '=', f.actorId);
  if (f.actorIp !== undefined) q = q.where('actorIp', '=', f.actorIp);
  if (typeof f.action === 'string') q = q.where('action', '=', f.action);
  else if (f.action !== undefined) q = f.action.length === 0 ? q.where((eb) => eb.val(1), '=', 0) : q.where('action', 'in', [...f.action]);
  if (f.resourceType !== undefined) q = q.where('resourceType', '=', f.resourceType);
  if (f.resourceId !== undefined) q = q.where('resourceId', '=', f.resourceId);
  if (f.success !== undefined) q = q.where('success', '=', f.success ? 1 : 0);
  if (f.from !== undefined) q = q.where('ts', '>=', f.from);
  if (f.to !== undefined) q = q.where('ts', '<=', f.to);
  return q;
}

/** Newest first, keyset on seq: `before` is the last seq of the previous page. */
export function newestFirst(db: Kysely<Database>, f: AuditFilter, opts: { limit: number; before?: number }): Promise<AuditRow[]> {
  let q = filtered(db, f);
  if (opts.before !== undefined) q = q.where('seq', '<', opts.before);
  return q.orderBy('seq', 'desc').limit(opts.limit).execute();
}

/** Oldest first in batches of whole rows (filtered). */
export function batchesInOrder(db: Kysely<Database>, opts: { batchSize: number; filter?: AuditFilter; afterSeq?: number }): AsyncGenerator<AuditRow[]> {
  const page = (after: number) => filtered(db, opts.filter ?? {}).where('seq', '>', after).orderBy('seq', 'asc').limit(opts.batchSize).execute();
  return keysetBatches(opts.batchSize, page, (row) => row.seq, opts.afterSeq);
}
