import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AuditService } from '../audit/service.js';
import { SECURITY_EVENT_ACTIONS } from '../detection/rules.js';
import { filterOf } from './audit.js';
import { AuditPage, SecurityEventsQuery } from './schemas.js';

/** Recent security events (failed logins, lockouts, honey hits, blocks, alerts), newest first, from the audit chain. */
export const securityEventRoutes: FastifyPluginAsync<{ audit: AuditService }> = async (base, { audit }) => {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const admin = { policy: { auth: 'user', role: 'admin', scope: 'audit:read' } } as const;

  app.get('/api/admin/security/events', { schema: { querystring: SecurityEventsQuery, response: { 200: AuditPage } }, config: admin }, (request) => {
    const { action, from, to, limit, cursor } = request.query;
    // An action outside the list asks for no security events at all, not for any audit entry.
    const actions = action === undefined ? SECURITY_EVENT_ACTIONS : SECURITY_EVENT_ACTIONS.filter((a) => a === action);
    return audit.list({ ...filterOf({ from, to }), action: actions }, { limit, cursor });
  });
};
