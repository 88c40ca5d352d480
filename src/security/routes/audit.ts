import { Readable } from 'node:stream';
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AuditService } from '../audit/service.js';
import type { AuditFilter } from '../audit/query.js';
import { securityError } from '../errors.js';
import { AuditExportQuery, AuditListQuery, AuditPage, FileBody, VerifyResultSchema } from './schemas.js';

interface FilterQuery {
  actor?: string;
  actorIp?: string;
  action?: string;
  resourceType?: string;
  resourceId?: string;
  success?: boolean;
  from?: number;
  to?: number;
}

export function filterOf(q: FilterQuery): AuditFilter {
  if (q.from !== undefined && q.to !== undefined && q.from > q.to) throw securityError('invalid_range');
  return { actorId: q.actor, actorIp: q.actorIp, action: q.action, resourceType: q.resourceType, resourceId: q.resourceId, success: q.success, from: q.from, to: q.to };
}

/** The audit log for admins: list with filters, verify the chain, export it. */
export const auditRoutes: FastifyPluginAsync<{ audit: AuditService }> = async (base, { audit }) => {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const admin = { policy: { auth: 'user', role: 'admin', scope: 'audit:read' } } as const;

  app.get('/api/admin/audit', { schema: { querystring: AuditListQuery, response: { 200: AuditPage } }, config: admin }, (request) =>
    audit.list(filterOf(request.query), { limit: request.query.limit, cursor: request.query.cursor }),
  );

  app.get('/api/admin/audit/verify', { schema: { response: { 200: VerifyResultSchema } }, config: admin }, () => audit.verify());

  app.get('/api/admin/audit/export', { schema: { querystring: AuditExportQuery, response: { 200: FileBody } }, config: admin }, async (request, reply) => {
    const { format, ...filters } = request.query;
    const filter = filterOf(filters);
    reply
      .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8')
      .header('content-disposition', `attachment; filename="flotilla-audit.${format}"`);
    // A stream, one batch in memory at a time, whatever the size of the log.
    return reply.send(Readable.from(audit.export(format, filter)));
  });
};
