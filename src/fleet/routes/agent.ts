import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { fleetError } from '../errors.js';
import type { Fleet } from '../module.js';
import { EnrollBody, EnrollResponse, ReportBody, ReportResponse } from './schemas.js';

/** docs/api.md: a report body over 256 KiB is answered 413. */
export const REPORT_BODY_LIMIT = 256 * 1024;

/** The routes agents call: enrollment (with a token) and reports (with the API key). */
export const agentRoutes: FastifyPluginAsync<{ fleet: Fleet }> = async (base, { fleet }) => {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();

  app.post(
    '/api/agent/enroll',
    { schema: { body: EnrollBody, response: { 201: EnrollResponse } }, config: { policy: { auth: 'none' } } },
    async (request, reply) => {
      const enrolled = await fleet.enrollment.enroll(request.body, request.ip ?? null);
      request.log.info({ agentId: enrolled.agentId, clientIp: request.ip }, 'agent enrolled');
      reply.code(201);
      return enrolled;
    },
  );

  app.post(
    '/api/agent/report',
    { bodyLimit: REPORT_BODY_LIMIT, schema: { body: ReportBody, response: { 200: ReportResponse } }, config: { policy: { auth: 'agent' } } },
    async (request) => {
      if (!request.agent) throw fleetError('unauthorized');
      return fleet.ingest.ingest(request.agent.row, request.body, request.ip ?? null);
    },
  );
};
